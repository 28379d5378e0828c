"""Scripted evaluation: load a question set, run it through the pipeline, score, resume, compare.

`run_eval` answers each question (or only retrieves, with `--retrieval-only`), scores it with
the metrics of `rag/evaluation/metrics.py`, and appends one line to `results.jsonl` as soon as it is
done, so a run that is interrupted resumes where it stopped. A question that fails is recorded
with its error and counts as wrong; it never stops the run (and is retried on resume).
At the end `report.json`, `report.md` and `report.html` are written (`rag/evaluation/report.py`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate

from rag.answering.answerer import Answerer
from rag.answering.attribution import strip_markers
from rag.answering.llm import Generator, make_messages, resolve_backend
from rag.errors import UsageError
from rag.evaluation.metrics import (
    RETRIEVAL_DEPTH,
    RETRIEVAL_METRICS,
    CitationPrecision,
    CitationValidity,
    EvidenceCoverage,
    EvidenceRecall,
    JudgedAnswerMatch,
    RefusalRates,
    RightDraftDropped,
    StoredText,
    StrictAnswerMatch,
    SupportedAnswer,
    WrongButCited,
    aggregate,
    mean,
)
from rag.evaluation.report import write_reports
from rag.evaluation.run_dir import (
    REPORT_JSON,
    RESULTS,
    RUN_STATE,
    read_json,
    read_results,
    write_json,
    write_jsonl,
)
from rag.ingest.parsing import normalise_date
from rag.inputs import existing_questions_file
from rag.records import RECORD_SUFFIXES, UnreadableRecords, read_records
from rag.retrieval.retriever import Retriever
from rag.service import RagService
from rag.settings import PROJECT_ROOT, Settings
from rag.store.embedding import embedding_model_name
from rag.types import Answer, Filters, LoadProblem, Passage

QUESTION_SUFFIXES = RECORD_SUFFIXES

# Field names, first match wins (RealTime QA's names included).
ID_FIELDS = ("id", "question_id", "qid")
QUESTION_FIELDS = ("question", "query")
ANSWER_FIELDS = ("answers", "answer", "answer_text")
GOLD_FIELDS = ("gold_doc_ids", "doc_ids")
DATE_FIELDS = ("question_date", "date")


# ---------------------------------------------------------------------------------------------
# Question sets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()
    evidence: str = ""
    unanswerable: bool = False
    choices: tuple[str, ...] = ()
    date: str = ""  # ISO; retrieval is limited to articles published on or before it
    line: int | None = None

    def gold(self) -> dict[str, Any]:
        return {
            "answers": list(self.answers),
            "doc_ids": list(self.gold_doc_ids),
            "evidence": self.evidence,
            "unanswerable": self.unanswerable,
            "choices": list(self.choices),
            "date": self.date,
        }


@dataclass
class QuestionSet:
    path: Path
    questions: list[Question] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


class BadRecord(ValueError):
    pass


def load_questions(path: Path) -> QuestionSet:
    """Questions from JSONL, JSON (a list), CSV or YAML; bad records become problems with their
    line number and are skipped."""
    existing_questions_file(path)
    suffix = path.suffix.lower()
    if suffix not in QUESTION_SUFFIXES:
        raise UsageError(
            f"{path}: unsupported question file type {suffix!r}: use .jsonl, .json, .csv or .yaml"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason})") from err
    result = QuestionSet(path)
    seen: dict[str, int | None] = {}
    try:
        for record in read_records(text, suffix, list_key="questions"):
            line = record.line
            try:
                if record.problem:
                    raise BadRecord(record.problem)
                question = parse_question(record.value, line)
            except BadRecord as err:
                result.problems.append(LoadProblem(str(path), f"{record.where}{err}", line))
                continue
            if question.id in seen:
                result.problems.append(
                    LoadProblem(
                        str(path),
                        f"duplicate id {question.id!r} (first on line {seen[question.id]}); skipped",
                        line,
                    )
                )
                continue
            seen[question.id] = line
            result.questions.append(question)
    except UnreadableRecords as err:  # the whole file is unreadable (a JSON or YAML syntax error)
        raise UsageError(str(LoadProblem(str(path), str(err), err.line))) from None
    return result


def parse_question(record: Any, line: int | None) -> Question:
    if not isinstance(record, dict):
        raise BadRecord(f"expected an object with a 'question', got {type(record).__name__}")
    question = _first(record, QUESTION_FIELDS)
    if not isinstance(question, str) or not question.strip():
        raise BadRecord("no 'question' text")
    question = " ".join(question.split())
    choices = _string_list(record.get("choices"), "choices")
    answers = _string_list(_first(record, ANSWER_FIELDS), "answers")
    for index in _index_list(record.get("answer_idx")):
        if not 0 <= index < len(choices):
            raise BadRecord(f"answer_idx {index} is not one of the {len(choices)} choices")
        if choices[index] not in answers:
            answers.append(choices[index])
    flag = _boolean(record.get("unanswerable"))
    if flag is False and not answers:
        raise BadRecord("'unanswerable' is false but no answers are given")
    raw_id = _first(record, ID_FIELDS)
    identifier = str(raw_id).strip() if raw_id not in (None, "") else ""
    date_value = _first(record, DATE_FIELDS)
    return Question(
        id=identifier or "q-" + hashlib.sha1(question.encode("utf-8", "replace")).hexdigest()[:10],
        question=question,
        answers=tuple(answers),
        gold_doc_ids=tuple(_string_list(_first(record, GOLD_FIELDS), "gold_doc_ids")),
        evidence=" ".join(_string_list(record.get("evidence"), "evidence")),
        unanswerable=bool(flag) or not answers,
        choices=tuple(choices),
        date=normalise_date(str(date_value)) if date_value else "",
        line=line,
    )


def _first(record: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def _string_list(value: Any, name: str) -> list[str]:
    """A list of strings from a list, a scalar, or (CSV) a JSON list or `a | b` text."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = [text]
        else:
            value = [part.strip() for part in text.split("|")] if "|" in text else [text]
    if isinstance(value, bool) or not isinstance(value, str | int | float | list):
        raise BadRecord(f"'{name}' must be text or a list of text")
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, bool) or not isinstance(item, str | int | float) for item in items):
        raise BadRecord(f"'{name}' must be text or a list of text")
    return [str(item).strip() for item in items if str(item).strip()]


def _index_list(value: Any) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else _string_list(value, "answer_idx")
    try:
        return [int(item) for item in items]
    except (TypeError, ValueError):
        raise BadRecord("'answer_idx' must be choice numbers (0-based)") from None


def _boolean(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "y"}:
        return True
    if text in {"false", "no", "0", "n"}:
        return False
    raise BadRecord(f"'unanswerable' must be true or false, not {value!r}")


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


@dataclass
class EvalOptions:
    questions_file: Path
    collection: str | None = None
    out: Path | None = None
    k: int | None = None
    llm: str | None = None
    limit: int | None = None
    fresh: bool = False
    judge: bool = False
    retrieval_only: bool = False
    use_dates: bool = True
    progress: bool = True
    runs_dir: Path = Path("runs")
    filters: Filters | None = None  # outlets and a date range, for every question of the run


@dataclass
class EvalOutcome:
    out: Path
    report: dict[str, Any]
    problems: list[LoadProblem]
    resumed: int  # questions taken from an earlier, interrupted session


class RecordingRetriever:
    """Retrieves `depth` passages (10, for hit@10), keeps them, hands the answerer its top k.

    So one retrieval serves both the retrieval metrics and the answer (a PassageSource).
    """

    def __init__(self, inner: Retriever, depth: int) -> None:
        self.inner = inner
        self.depth = depth
        self.last: list[Passage] = []

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]:
        self.last = self.inner.retrieve(question, max(k, self.depth), filters)
        return self.last[:k]


class ChromaTexts:
    """The stored chunks of an article, read from Chroma once: for checking quotes."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._cache: dict[str, list[StoredText]] = {}

    def __call__(self, doc_id: str) -> list[StoredText]:
        if doc_id not in self._cache:
            found = self.collection.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])  # type: ignore[list-item]
            self._cache[doc_id] = [
                StoredText(int(meta.get("start", 0) or 0), int(meta.get("end", 0) or 0), text)  # type: ignore[arg-type]
                for text, meta in zip(found["documents"] or [], found["metadatas"] or [], strict=False)
            ]
        return self._cache[doc_id]


@dataclass(frozen=True)
class JudgePrompts:
    system: str
    user: PromptTemplate

    @classmethod
    def load(cls, directory: Path) -> JudgePrompts:
        return cls(
            system=(directory / "judge_system.txt").read_text(encoding="utf-8").strip(),
            user=PromptTemplate((directory / "judge.txt").read_text(encoding="utf-8")),
        )

    def messages(self, question: str, gold: str, answer: str) -> list[ChatMessage]:
        user = self.user.format(question=question, gold=gold, answer=strip_markers(answer).strip())
        return make_messages(self.system, user)


class Evaluation:
    """One run: the service, the scorers, and the per-question loop."""

    def __init__(self, settings: Settings, options: EvalOptions) -> None:
        self.settings = settings
        self.options = options
        self.service = RagService(settings)
        self.k = options.k or settings.top_k
        self.depth = max(self.k, RETRIEVAL_DEPTH)
        self.backend = "retrieval-only" if options.retrieval_only else resolve_backend(settings)
        if options.judge and self.backend in ("extractive", "retrieval-only"):
            raise UsageError("--judge needs an LLM to judge with: use --llm auto, local or openai.")
        self.collection = self.service.collection(settings.collection)
        self.retriever = RecordingRetriever(self.service.retriever(settings.collection), self.depth)
        self.texts = ChromaTexts(self.collection)
        self.judging = options.judge  # also on when resuming a judged run
        self._answerer: Answerer | None = None
        self._judge: JudgedAnswerMatch | None = None

    # -- the parts that start slowly (the local model) are built on first use --------------
    def answerer(self) -> Answerer:
        if self._answerer is None:
            self._answerer = self.service.answerer(backend=self.backend, retriever=self.retriever)
        return self._answerer

    def judge(self) -> JudgedAnswerMatch:
        if self._judge is None:
            generator = self.service.generator(self.backend)
            assert isinstance(generator, Generator)
            prompts = JudgePrompts.load(self.settings.prompts_dir)
            self._judge = JudgedAnswerMatch(generator, prompts.messages)
        return self._judge

    def run_settings(self) -> dict[str, Any]:
        """What makes two runs comparable; a resumed run must match it."""
        s = self.settings
        return {
            "collection": s.collection,
            "retrieval_mode": s.retrieval_mode,
            "k": self.k,
            "retrieval_depth": self.depth,
            "llm": self.backend,
            "local_model": s.local_model if self.backend == "local" else None,
            "judge": self.judging,
            "retrieval_only": self.options.retrieval_only,
            "use_question_dates": self.options.use_dates,
            # As JSON gives it back (lists, not tuples), so a resumed run compares equal.
            "filters": json.loads(json.dumps(asdict(self.options.filters))) if self.options.filters else None,
            "refusal_threshold": s.refusal_threshold,
            "reader": s.reader,
            "evidence_sentences": s.evidence_sentences,
            "reader_tokens": s.reader_tokens,
            "reader_passages": s.reader_passages,
            "chunk_size": s.chunk_size,
            "chunk_overlap": s.chunk_overlap,
            "embedding": embedding_model_name(s),
            "temperature": s.temperature,
            "max_answer_tokens": s.max_answer_tokens,
            "prompts_sha256": prompts_digest(s.prompts_dir),
            "judge_prompts_sha256": prompts_digest(s.prompts_dir, judge=True),
        }

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"embedding": embedding_model_name(self.settings), "backend": self.backend}
        if self._answerer is not None:
            info["llm"] = self._answerer.info.label()
        elif self.backend == "local":
            from rag.answering.local_model import BUNDLED_MODELS

            info["llm"] = f"local: {BUNDLED_MODELS[self.settings.local_model].name}"
        if self.judging:
            info["judge"] = info.get("llm")
        return info

    def corpus_info(self) -> dict[str, Any]:
        stats = self.service.stats(self.settings.collection)
        store = (
            f"chroma://{self.settings.chroma_host}:{self.settings.chroma_port}"
            if self.settings.chroma_host
            else str(self.settings.index_dir)
        )
        return {"collection": stats.name, "articles": stats.articles, "chunks": stats.chunks, "store": store}

    # -- one question ----------------------------------------------------------------------
    def evaluate(self, question: Question) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": question.id,
            "line": question.line,
            "question": question.question,
            "gold": question.gold(),
            "answer": "",
            "refused": False,
            "citations": [],
            "retrieved": [],
            "metrics": {},
            "latency_ms": {},
            "error": None,
        }
        asked_on = question.date if self.options.use_dates and question.date else None
        filters = question_filters(asked_on, self.options.filters)
        self.retriever.last = []
        try:
            if self.options.retrieval_only:
                started = time.perf_counter()
                self.retriever.retrieve(question.question, self.depth, filters)
                record["latency_ms"] = {"retrieve": round((time.perf_counter() - started) * 1000, 1)}
            else:
                answer = self.answerer().ask(question.question, k=self.k, filters=filters)
                self._take_answer(record, answer)
        except Exception as err:  # recorded, never fatal: the run goes on
            record["error"] = f"{type(err).__name__}: {err}"
        record["retrieved"] = [
            {
                "doc_id": passage.doc_id,
                "score": passage.score,
                "title": passage.title,
                "start": passage.start,
                "end": passage.end,
            }
            for passage in self.retriever.last[: self.depth]
        ]
        self._score(record, question, [passage.text for passage in self.retriever.last[: self.k]])
        return record

    def _take_answer(self, record: dict[str, Any], answer: Answer) -> None:
        payload = answer.to_json()
        record["answer"] = answer.answer
        record["draft"] = answer.draft
        # The refusal threshold acts on this: kept so that it can be chosen from a run's records.
        record["best_similarity"] = max((p.similarity for p in answer.passages), default=0.0)
        record["refused"] = answer.refused
        record["citations"] = payload["citations"]
        record["error"] = answer.error
        # Time to first token is what a reader waits for an answer: refusals do not count.
        record["latency_ms"] = {
            "retrieve": answer.timings.get("retrieve_ms"),
            "first_token": None if answer.refused else answer.timings.get("first_token_ms"),
            "total": answer.timings.get("total_ms"),
        }

    def _score(self, record: dict[str, Any], question: Question, top_k_texts: list[str] | None) -> None:
        """Scores a record. With `top_k_texts` None it re-scores a stored record: everything
        but the evidence metrics (the passage texts are not stored) and LLM verdicts is
        computed again from what the record holds, so a fixed metric applies to earlier runs."""
        retrieved_ids = [item["doc_id"] for item in record["retrieved"]]
        metrics: dict[str, Any] = dict(record.get("metrics") or {})
        metrics.update(
            {
                metric.label: metric.compute(question.gold_doc_ids, retrieved_ids)
                for metric in RETRIEVAL_METRICS
            }
        )
        if top_k_texts is not None:
            metrics["evidence_recall"] = EvidenceRecall().compute(question.evidence, top_k_texts)
            metrics["evidence_coverage"] = EvidenceCoverage().compute(question.evidence, top_k_texts)
        if not self.options.retrieval_only:
            said = "" if record["refused"] else record["answer"]
            strict = StrictAnswerMatch().compute(said, question.answers)
            if strict == 1.0 and metrics.get("judged") is not None:
                metrics["judged"] = 1.0  # a strict match is judged right too
            elif strict != metrics.get("strict"):
                metrics["judged"] = None  # to be judged again
            metrics["strict"] = strict
            metrics.setdefault("judged", None)
            metrics["refusal_correct"] = RefusalRates().compute(
                bool(record["refused"]), question.unanswerable, bool(record["error"])
            )
            metrics["citations_valid"] = CitationValidity(self.texts).compute(
                said, record["citations"], bool(record["refused"])
            )
            metrics["citation_precision"] = CitationPrecision().compute(
                record["citations"], question.gold_doc_ids, question.evidence
            )
            metrics[WrongButCited.label] = WrongButCited().compute(
                said, bool(record["refused"]), bool(record["error"]), question.answers
            )
            metrics[RightDraftDropped.label] = RightDraftDropped().compute(
                record.get("draft"), said, question.answers
            )
            metrics[SupportedAnswer.label] = SupportedAnswer().compute(
                said, record["citations"], question.answers
            )
        record["metrics"] = metrics
        if self.judging and top_k_texts is not None:
            self.judge_record(record, question)

    def rescore(self, record: dict[str, Any], question: Question) -> None:
        record["gold"] = question.gold()
        self._score(record, question, None)

    def needs_judging(self, record: Mapping[str, Any]) -> bool:
        metrics = record["metrics"]
        return (
            self.judging
            and "strict" in metrics
            and metrics.get("judged") is None
            and bool(record["gold"]["answers"])
        )

    def judge_record(self, record: dict[str, Any], question: Question) -> None:
        """The LLM's verdict on an answer strict matching missed (see JudgedAnswerMatch)."""
        if question.unanswerable:
            return
        said = "" if record["refused"] else record["answer"]
        record.pop("judge_error", None)
        try:
            record["metrics"]["judged"] = self.judge().compute(question.question, said, question.answers)
        except Exception as err:  # the judge failing must not lose the answer
            record["judge_error"] = f"{type(err).__name__}: {err}"


def question_filters(asked_on: str | None, run_filters: Filters | None = None) -> Filters | None:
    """The run's filters (outlets, date range), and retrieval as of the day the question was
    asked: no news published after it, and the date prior ("this week" = the days before it)."""
    if asked_on is None:
        return run_filters
    return replace(run_filters or Filters(), as_of=asked_on)


def code_version() -> dict[str, Any]:
    """The git commit the code was run from, and whether rag/ or prompts/ had local changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "rag", "prompts")),
        }
    except (OSError, subprocess.SubprocessError):
        return {}


JUDGE_PROMPTS = ("judge.txt", "judge_system.txt")


def prompts_digest(directory: Path, judge: bool = False) -> str:
    """A digest of the answer prompts (or, with `judge`, of the judge's)."""
    digest = hashlib.sha256()
    for file in sorted(directory.glob("*.txt")):
        if (file.name in JUDGE_PROMPTS) == judge:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Run folders: state, resume, lock
# ---------------------------------------------------------------------------------------------


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    with (out / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"Another `rag eval` is writing to {out}: wait for it or use another --out."
            ) from None
        yield


# Settings a run may be resumed with changed: `--judge` judges the earlier answers too, and
# new judge prompts judge them again.
RESUMABLE_CHANGES = frozenset({"judge", "judge_prompts_sha256"})


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(
        key for key in set(old) | set(new) if key not in RESUMABLE_CHANGES and old.get(key) != new.get(key)
    )


def find_resumable(runs_dir: Path, questions_file: str, settings: Mapping[str, Any]) -> Path | None:
    """The newest unfinished run of the same question file with the same settings."""
    if not runs_dir.is_dir():
        return None
    for folder in sorted(runs_dir.iterdir(), reverse=True):
        state = read_json(folder / RUN_STATE)
        if (
            isinstance(state, dict)
            and not state.get("complete")
            and state.get("questions_file") == questions_file
            and isinstance(state.get("settings"), dict)
            and not changed_settings(state["settings"], settings)
        ):
            return folder
    return None


def new_run_dir(runs_dir: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = runs_dir / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = runs_dir / f"{stamp}-{suffix}"
    return folder


OUR_FILES = (RESULTS, RUN_STATE, REPORT_JSON, "report.md", "report.html")


def prepare_out(options: EvalOptions, questions_file: str, settings: Mapping[str, Any]) -> Path:
    """The run folder: a new one, or one holding an earlier session of the same run."""
    if options.out is None:
        found = None if options.fresh else find_resumable(options.runs_dir, questions_file, settings)
        out = found or new_run_dir(options.runs_dir)
    else:
        out = options.out
        state = read_json(out / RUN_STATE)
        if options.fresh:
            pass  # cleared under the lock
        elif isinstance(state, dict) and state.get("questions_file") != questions_file:
            raise UsageError(
                f"{out} holds a run of another question file ({state.get('questions_file')}): "
                "add --fresh to start it over, or choose another --out."
            )
        elif isinstance(state, dict) and changed_settings(state.get("settings") or {}, settings):
            changed = changed_settings(state.get("settings") or {}, settings)
            raise UsageError(
                f"{out} holds a run with other settings ({', '.join(changed)}): "
                "add --fresh to start it over, or choose another --out."
            )
        elif out.exists() and not isinstance(state, dict) and (out / RESULTS).exists():
            raise UsageError(f"{out} holds results that are not a rag eval run: choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def run_eval(
    settings: Settings, options: EvalOptions, log: Callable[[str], None] = lambda text: None
) -> EvalOutcome:
    question_set = load_questions(options.questions_file)
    for problem in question_set.problems:
        log(f"warning: {problem}; skipped")
    questions = question_set.questions
    if options.limit is not None:
        questions = questions[: options.limit]
    if not questions:
        raise UsageError(f"{options.questions_file}: no usable questions.")
    evaluation = Evaluation(settings, options)
    with evaluation.service:  # the local model stops on every way out
        if evaluation.collection.count() == 0:
            raise UsageError(
                f"The collection {settings.collection!r} is empty: index articles first "
                f"(rag index PATH --collection {settings.collection})."
            )
        run_settings = evaluation.run_settings()
        questions_file = str(options.questions_file.resolve())
        out = prepare_out(options, questions_file, run_settings)
        with run_lock(out):
            if options.fresh:
                for name in OUR_FILES:
                    (out / name).unlink(missing_ok=True)
            resuming = (out / RESULTS).exists()
            earlier = read_json(out / RUN_STATE) if resuming else None
            if isinstance(earlier, dict) and (earlier.get("settings") or {}).get("judge"):
                evaluation.judging = True  # a judged run stays judged
                run_settings["judge"] = True
            if evaluation.judging and evaluation.backend in ("extractive", "retrieval-only"):
                raise UsageError("--judge needs an LLM to judge with: use --llm auto, local or openai.")
            return _run_in(out, resuming, evaluation, question_set, questions, run_settings, log)


def _run_in(
    out: Path,
    resuming: bool,
    evaluation: Evaluation,
    question_set: QuestionSet,
    questions: list[Question],
    run_settings: dict[str, Any],
    log: Callable[[str], None],
) -> EvalOutcome:
    started_at = datetime.now().astimezone()
    started = time.perf_counter()
    state = read_json(out / RUN_STATE) if resuming else None
    state = state if isinstance(state, dict) else {}
    earlier_settings = dict(state.get("settings") or {})
    state.update(
        {
            "questions_file": str(question_set.path.resolve()),
            "settings": run_settings,
            "complete": False,
            "sessions": state.get("sessions", []),
        }
    )
    write_json(out / RUN_STATE, state)
    file_order = [question.id for question in question_set.questions]
    # Done questions are kept (also those beyond a smaller --limit); failed ones are tried again.
    records = {
        record["id"]: record
        for record in read_results(out / RESULTS)
        if record["id"] in set(file_order) and not record.get("error")
    }
    write_jsonl(out / RESULTS, [records[key] for key in file_order if key in records])
    done = {question.id: records[question.id] for question in questions if question.id in records}
    if done:
        log(f"resuming {out}: {len(done)} of {len(questions)} questions done (--fresh to start over)")
    todo = [question for question in questions if question.id not in done]
    by_id = {question.id: question for question in questions}
    rejudge = earlier_settings.get("judge_prompts_sha256") != run_settings["judge_prompts_sha256"]
    for record in done.values():
        evaluation.rescore(record, by_id[record["id"]])
        if rejudge and record["metrics"].get("strict") == 0.0:
            record["metrics"]["judged"] = None  # the judge changed: its verdicts are asked again
    unjudged = [record for record in done.values() if evaluation.needs_judging(record)]
    if unjudged:
        log(f"judging {len(unjudged)} earlier answer(s)")
        with progress_bar(len(unjudged), 0, evaluation.options.progress, log) as judged:
            for record in unjudged:
                evaluation.judge_record(record, by_id[record["id"]])
                judged(by_id[record["id"]], record, running_score(unjudged))
    with (
        (out / RESULTS).open("a", encoding="utf-8") as results,
        progress_bar(len(questions), len(done), evaluation.options.progress, log) as progress,
    ):
        for question in todo:
            record = evaluation.evaluate(question)
            results.write(json.dumps(record, ensure_ascii=False) + "\n")
            results.flush()
            os.fsync(results.fileno())
            records[question.id] = record
            progress(question, record, running_score([records[q.id] for q in questions if q.id in records]))
    ordered = [records[question.id] for question in questions]
    write_jsonl(out / RESULTS, [records[key] for key in file_order if key in records])
    seconds = round(time.perf_counter() - started, 1)
    state["sessions"].append(
        {"started": started_at.isoformat(timespec="seconds"), "seconds": seconds, "questions": len(todo)}
    )
    state["complete"] = all(key in records for key in file_order)
    write_json(out / RUN_STATE, state)
    report = {
        "count": len(ordered),
        "metrics": aggregate(ordered),
        "settings": run_settings,
        "corpus": evaluation.corpus_info(),
        "model": evaluation.model_info(),
        "code": code_version(),
        "questions_file": str(question_set.path),
        "problems": [str(problem) for problem in question_set.problems],
        "date": state["sessions"][0]["started"],  # when the run began (its first session)
        "wall_seconds": round(sum(session["seconds"] for session in state["sessions"]), 1),
        "seconds_per_question": round(seconds / len(todo), 2) if todo else None,
    }
    write_json(out / REPORT_JSON, report)

    write_reports(out, report, ordered)
    return EvalOutcome(out, report, question_set.problems, resumed=len(done))


def running_score(records: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    hit = mean(record["metrics"].get("hit@5") for record in records)
    if hit is not None:
        parts.append(f"hit@5 {hit:.2f}")
    answerable = [record for record in records if not record["gold"]["unanswerable"]]
    strict = mean(record["metrics"].get("strict") for record in answerable)
    if strict is not None:
        parts.append(f"acc {strict:.2f}")
    judged = mean(record["metrics"].get("judged") for record in answerable)
    if judged is not None:
        parts.append(f"judged {judged:.2f}")
    errors = sum(1 for record in records if record.get("error"))
    if errors:
        parts.append(f"errors {errors}")
    return " ".join(parts)


@contextmanager
def progress_bar(
    total: int, done: int, enabled: bool, log: Callable[[str], None]
) -> Iterator[Callable[[Question, Mapping[str, Any], str], None]]:
    """A tqdm bar with the running score on a terminal; a line every 10 questions otherwise."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, initial=done, unit="q", desc="eval", file=sys.stderr) as bar:

            def update(question: Question, record: Mapping[str, Any], score: str) -> None:
                bar.set_postfix_str(score, refresh=False)
                bar.update(1)

            yield update
        return
    count = done
    started = time.perf_counter()

    def line(question: Question, record: Mapping[str, Any], score: str) -> None:
        nonlocal count
        count += 1
        if enabled and (count % 10 == 0 or count == total):
            log(f"[{count}/{total}] {score} ({time.perf_counter() - started:.0f} s)")

    yield line
