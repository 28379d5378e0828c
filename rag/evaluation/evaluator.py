"""One question at a time: asked (or only retrieved), recorded, scored and judged.

`Evaluation` holds what a run asks with: the service, a retriever that keeps what it found (one
retrieval serves the retrieval metrics and the answer), and the answerer and LLM judge, built on
first use. `evaluate` turns a Question into its record for results.jsonl and scores it through
each metric's `score(question, record, passages)`; `rescore` scores a stored record again, so a
fixed metric applies to an earlier run's answers. A question that fails is recorded with its
error and counts as wrong.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

from chromadb.api.models.Collection import Collection
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate

from rag.answering.answerer import Answerer
from rag.answering.attribution import strip_markers
from rag.answering.llm import Generator, make_messages, resolve_backend
from rag.errors import UsageError
from rag.evaluation.metrics.answers import (
    JudgedAnswerMatch,
    RefusalRates,
    RightDraftDropped,
    StrictAnswerMatch,
    SupportedAnswer,
    WrongButCited,
)
from rag.evaluation.metrics.base import Metric
from rag.evaluation.metrics.citations import CitationPrecision, CitationValidity, StoredText
from rag.evaluation.metrics.retrieval import EVIDENCE_METRICS, RETRIEVAL_DEPTH, RETRIEVAL_METRICS
from rag.evaluation.questions import Question
from rag.evaluation.results import ResultRecord, new_record
from rag.retrieval.retriever import Retriever
from rag.service import RagService
from rag.settings import Settings
from rag.store.embedding import embedding_model_name
from rag.types import Answer, Filters, Passage


@dataclass
class EvalOptions:
    """What `rag eval run` was asked for."""

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
    """One run: the service, the scorers, and the work on each question."""

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
        # Scored after strict matching (and the judged verdict that depends on it), in this order.
        self.answer_metrics: tuple[Metric, ...] = (
            RefusalRates(),
            CitationValidity(self.texts),
            CitationPrecision(),
            WrongButCited(),
            RightDraftDropped(),
            SupportedAnswer(),
        )

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
    def evaluate(self, question: Question) -> ResultRecord:
        record = new_record(question)
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

    def _take_answer(self, record: ResultRecord, answer: Answer) -> None:
        payload = answer.to_json()
        record["answer"] = answer.answer
        record["draft"] = answer.draft
        # The refusal threshold acts on this: kept so that it can be chosen from a run's records.
        record["best_similarity"] = max((p.similarity for p in answer.passages), default=0.0)
        record["refused"] = answer.refused
        record["citations"] = cast(list[dict[str, Any]], payload["citations"])
        record["error"] = answer.error
        # Time to first token is what a reader waits for an answer: refusals do not count.
        record["latency_ms"] = {
            "retrieve": answer.timings.get("retrieve_ms"),
            "first_token": None if answer.refused else answer.timings.get("first_token_ms"),
            "total": answer.timings.get("total_ms"),
        }

    def _score(self, record: ResultRecord, question: Question, top_k_texts: list[str] | None) -> None:
        """Scores a record. With `top_k_texts` None it re-scores a stored record: everything
        but the evidence metrics (the passage texts are not stored) and LLM verdicts is
        computed again from what the record holds, so a fixed metric applies to earlier runs."""
        passages = top_k_texts or []  # only the evidence metrics read them
        metrics = dict(record.get("metrics") or {})
        evidence = EVIDENCE_METRICS if top_k_texts is not None else ()
        retrieval: tuple[Metric, ...] = (*RETRIEVAL_METRICS, *evidence)
        for metric in retrieval:
            metrics[metric.label] = metric.score(question, record, passages)
        if not self.options.retrieval_only:
            strict = StrictAnswerMatch().score(question, record, passages)
            if strict == 1.0 and metrics.get("judged") is not None:
                metrics["judged"] = 1.0  # a strict match is judged right too
            elif strict != metrics.get("strict"):
                metrics["judged"] = None  # to be judged again
            metrics["strict"] = strict
            metrics.setdefault("judged", None)
            for metric in self.answer_metrics:
                metrics[metric.label] = metric.score(question, record, passages)
        record["metrics"] = metrics
        if self.judging and top_k_texts is not None:
            self.judge_record(record, question)

    def rescore(self, record: ResultRecord, question: Question) -> None:
        record["gold"] = question.gold()
        self._score(record, question, None)

    def needs_judging(self, record: ResultRecord) -> bool:
        metrics = record["metrics"]
        return (
            self.judging
            and "strict" in metrics
            and metrics.get("judged") is None
            and bool(record["gold"]["answers"])
        )

    def judge_record(self, record: ResultRecord, question: Question) -> None:
        """The LLM's verdict on an answer strict matching missed (see JudgedAnswerMatch)."""
        if question.unanswerable:
            return
        record.pop("judge_error", None)
        try:
            record["metrics"]["judged"] = self.judge().score(question, record, [])
        except Exception as err:  # the judge failing must not lose the answer
            record["judge_error"] = f"{type(err).__name__}: {err}"


def question_filters(asked_on: str | None, run_filters: Filters | None = None) -> Filters | None:
    """The run's filters (outlets, date range), and retrieval as of the day the question was
    asked: no news published after it, and the date prior ("this week" = the days before it)."""
    if asked_on is None:
        return run_filters
    return replace(run_filters or Filters(), as_of=asked_on)


JUDGE_PROMPTS = ("judge.txt", "judge_system.txt")


def prompts_digest(directory: Path, judge: bool = False) -> str:
    """A digest of the answer prompts (or, with `judge`, of the judge's)."""
    digest = hashlib.sha256()
    for file in sorted(directory.glob("*.txt")):
        if (file.name in JUDGE_PROMPTS) == judge:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
