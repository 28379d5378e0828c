"""`rag eval`: a question set run through the pipeline, question by question, then reported.

`run_eval` loads the questions (`rag/evaluation/questions.py`), finds the run folder and what an
earlier session of the run did (`rag/evaluation/run_state.py`), and has `Evaluation`
(`rag/evaluation/evaluator.py`) answer each remaining question (or only retrieve, with
`--retrieval-only`) and score it. Each record is appended to `results.jsonl` as soon as it is
done, so a run that is interrupted resumes where it stopped. A question that fails is recorded
with its error and counts as wrong; it never stops the run (and is retried on resume).
At the end `report.json`, `report.md` and `report.html` are written (`rag/evaluation/report.py`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.errors import UsageError
from rag.evaluation.evaluator import EvalOptions, Evaluation
from rag.evaluation.metrics.aggregate import aggregate
from rag.evaluation.metrics.base import mean
from rag.evaluation.questions import Question, QuestionSet, load_questions
from rag.evaluation.report import write_reports
from rag.evaluation.results import ResultRecord
from rag.evaluation.run_dir import REPORT_JSON, RESULTS, write_json
from rag.evaluation.run_state import (
    RunState,
    clear_run,
    kept_records,
    prepare_out,
    run_lock,
    write_in_file_order,
)
from rag.settings import PROJECT_ROOT, Settings
from rag.types import LoadProblem

Progress = Callable[[Question, ResultRecord, str], None]


@dataclass
class EvalOutcome:
    out: Path
    report: dict[str, Any]
    problems: list[LoadProblem]
    resumed: int  # questions taken from an earlier, interrupted session


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
        out = prepare_out(options.out, options.runs_dir, options.fresh, questions_file, run_settings)
        with run_lock(out):
            if options.fresh:
                clear_run(out)
            state = RunState(out, resuming=(out / RESULTS).exists())
            if state.earlier_settings.get("judge"):
                evaluation.judging = True  # a judged run stays judged
                run_settings["judge"] = True
            if evaluation.judging and evaluation.backend in ("extractive", "retrieval-only"):
                raise UsageError("--judge needs an LLM to judge with: use --llm auto, local or openai.")
            return _run_in(out, state, evaluation, question_set, questions, run_settings, log)


def _run_in(
    out: Path,
    state: RunState,
    evaluation: Evaluation,
    question_set: QuestionSet,
    questions: list[Question],
    run_settings: dict[str, Any],
    log: Callable[[str], None],
) -> EvalOutcome:
    started_at = datetime.now().astimezone()
    started = time.perf_counter()
    state.begin(str(question_set.path.resolve()), run_settings)
    file_order = [question.id for question in question_set.questions]
    records = kept_records(out, file_order)
    done = {question.id: records[question.id] for question in questions if question.id in records}
    if done:
        log(f"resuming {out}: {len(done)} of {len(questions)} questions done (--fresh to start over)")
    todo = [question for question in questions if question.id not in done]
    by_id = {question.id: question for question in questions}
    rejudge = state.earlier_settings.get("judge_prompts_sha256") != run_settings["judge_prompts_sha256"]
    rescore_done(evaluation, list(done.values()), by_id, rejudge)
    judge_done(evaluation, list(done.values()), by_id, log)
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
    write_in_file_order(out, records, file_order)
    seconds = round(time.perf_counter() - started, 1)
    state.end(started_at, seconds, len(todo), complete=all(key in records for key in file_order))
    report = {
        "count": len(ordered),
        "metrics": aggregate(ordered),
        "settings": run_settings,
        "corpus": evaluation.corpus_info(),
        "model": evaluation.model_info(),
        "code": code_version(),
        "questions_file": str(question_set.path),
        "problems": [str(problem) for problem in question_set.problems],
        "date": state.started(),
        "wall_seconds": state.wall_seconds(),
        "seconds_per_question": round(seconds / len(todo), 2) if todo else None,
    }
    write_json(out / REPORT_JSON, report)

    write_reports(out, report, ordered)
    return EvalOutcome(out, report, question_set.problems, resumed=len(done))


def rescore_done(
    evaluation: Evaluation, done: Sequence[ResultRecord], by_id: Mapping[str, Question], rejudge: bool
) -> None:
    """Earlier sessions' records scored again (their question may have changed, or a metric)."""
    for record in done:
        evaluation.rescore(record, by_id[record["id"]])
        if rejudge and record["metrics"].get("strict") == 0.0:
            record["metrics"]["judged"] = None  # the judge changed: its verdicts are asked again


def judge_done(
    evaluation: Evaluation,
    done: Sequence[ResultRecord],
    by_id: Mapping[str, Question],
    log: Callable[[str], None],
) -> None:
    """The judge's verdicts on earlier answers that have none (`--judge` on an unjudged run)."""
    unjudged = [record for record in done if evaluation.needs_judging(record)]
    if unjudged:
        log(f"judging {len(unjudged)} earlier answer(s)")
        with progress_bar(len(unjudged), 0, evaluation.options.progress, log) as judged:
            for record in unjudged:
                evaluation.judge_record(record, by_id[record["id"]])
                judged(by_id[record["id"]], record, running_score(unjudged))


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


def running_score(records: Sequence[ResultRecord]) -> str:
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
def progress_bar(total: int, done: int, enabled: bool, log: Callable[[str], None]) -> Iterator[Progress]:
    """A tqdm bar with the running score on a terminal; a line every 10 questions otherwise."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, initial=done, unit="q", desc="eval", file=sys.stderr) as bar:

            def update(question: Question, record: ResultRecord, score: str) -> None:
                bar.set_postfix_str(score, refresh=False)
                bar.update(1)

            yield update
        return
    count = done
    started = time.perf_counter()

    def line(question: Question, record: ResultRecord, score: str) -> None:
        nonlocal count
        count += 1
        if enabled and (count % 10 == 0 or count == total):
            log(f"[{count}/{total}] {score} ({time.perf_counter() - started:.0f} s)")

    yield line
