"""What every evaluation metric shares (in the manner of llama-index's evaluation metrics).

Each metric scores one question. `compute(...)` takes the plain values the metric looks at (gold
ids and retrieved ids, an answer and the gold answers...) and returns a number in [0, 1], or None
when it does not apply (no gold article ids, no evidence, a refused answer has no citations to
check...). `score(question, record, passages)` is the one signature the runner calls every
metric through: it picks those values out of the question, its record in results.jsonl and the
texts of the top-k retrieved passages, and stores the result under the metric's `label`.

Overall figures are the means of the per-question scores that apply, so a question without gold
ids neither helps nor hurts retrieval scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from rag.evaluation.questions import Question
from rag.evaluation.results import ResultRecord


class Metric(Protocol):
    @property
    def label(self) -> str:
        """The key of its score in a record's `metrics`."""
        ...

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        """The question's score; `passages` are the texts of the top-k retrieved passages."""
        ...


def mean(scores: Iterable[float | None]) -> float | None:
    """The mean of the scores that apply (None ignored), rounded; None when none applies."""
    present = [score for score in scores if score is not None]
    return round(sum(present) / len(present), 4) if present else None
