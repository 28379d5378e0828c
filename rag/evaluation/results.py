"""The per-question record of a `rag eval` run: one line of results.jsonl, typed.

A record is the JSON object itself (a TypedDict), so it is written and read back with the same
keys in the same order, and runs written by older versions (without `draft`, say) still load.
The runner builds and scores it (`rag/evaluation/evaluator.py`); the reports, `rag eval
compare` and the aggregation read it. `metrics` maps a metric's label to its score (None: the
metric does not apply to the question).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from rag.evaluation.questions import Gold, Question


class RetrievedPassage(TypedDict):
    """One of the passages retrieved for the question, best first (texts are not kept)."""

    doc_id: str
    score: float
    title: str
    start: int
    end: int


class LatencyMs(TypedDict, total=False):
    """Milliseconds: `retrieve` always; `first_token` (None for a refusal) and `total` when answered."""

    retrieve: float | None
    first_token: float | None
    total: float | None


class ResultRecord(TypedDict):
    id: str
    line: int | None
    question: str
    gold: Gold
    answer: str
    refused: bool
    citations: list[dict[str, Any]]  # as the answer's JSON gives them
    retrieved: list[RetrievedPassage]
    metrics: dict[str, float | None]
    latency_ms: LatencyMs
    error: str | None
    draft: NotRequired[str]  # what the model wrote before attribution (answered runs)
    best_similarity: NotRequired[float]  # the refusal threshold acts on it
    judge_error: NotRequired[str]


def new_record(question: Question) -> ResultRecord:
    """A question's record before it is asked: no answer, nothing retrieved, nothing scored."""
    return {
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


def scored_answer(record: ResultRecord) -> str:
    """The answer as the answer metrics see it: nothing, when it was refused."""
    return "" if record["refused"] else record["answer"]
