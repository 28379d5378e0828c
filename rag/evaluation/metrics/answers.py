"""Answer metrics: strict and LLM-judged answer matching, refusals, confident errors.

Strict matching finds a gold answer in the answer as whole words after normalisation
(`rag/evaluation/metrics/text.py`); the LLM judge is asked only when strict matching fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from llama_index.core.llms import ChatMessage

from rag.evaluation.metrics.base import mean
from rag.evaluation.metrics.text import answer_tokens, contains_words
from rag.evaluation.questions import Question
from rag.evaluation.results import ResultRecord, scored_answer


class StrictAnswerMatch:
    """1 when one gold answer occurs in the answer as whole words after normalisation
    (see `answer_tokens`): "ten" = "10", "Virginia" does not match "West Virginia"."""

    label = "strict"

    def compute(self, answer: str, gold_answers: Sequence[str]) -> float | None:
        golds = [tokens for tokens in map(answer_tokens, gold_answers) if tokens]
        if not golds:
            return None
        said = answer_tokens(answer)
        return 1.0 if any(contains_words(said, gold) for gold in golds) else 0.0

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(scored_answer(record), question.answers)


class RightDraftDropped:
    """1 when the model's draft held a gold answer and the final answer does not: attribution
    dropped the right sentence, or the answer was refused."""

    label = "right_draft_dropped"

    def compute(self, draft: str | None, answer: str, gold_answers: Sequence[str]) -> float | None:
        strict = StrictAnswerMatch()
        drafted = strict.compute(draft or "", gold_answers) if draft is not None else None
        if drafted is None:
            return None
        return 1.0 if drafted == 1.0 and strict.compute(answer, gold_answers) == 0.0 else 0.0

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(record.get("draft"), scored_answer(record), question.answers)


class WrongButCited:
    """1 when an answerable question got an answer, with citations, that strict matching finds
    wrong: confident errors. (Some are paraphrased right answers: read the report's list.)"""

    label = "wrong_but_cited"

    def compute(self, answer: str, refused: bool, error: bool, gold_answers: Sequence[str]) -> float | None:
        strict = StrictAnswerMatch().compute(answer, gold_answers)
        if strict is None:
            return None
        return 1.0 if not refused and not error and strict == 0.0 else 0.0

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(
            scored_answer(record), bool(record["refused"]), bool(record["error"]), question.answers
        )


class SupportedAnswer:
    """Among right answers: 1 when the cited quotes themselves hold the gold answer."""

    label = "supported"

    def compute(
        self, answer: str, citations: Sequence[Mapping[str, Any]], gold_answers: Sequence[str]
    ) -> float | None:
        strict = StrictAnswerMatch()
        if strict.compute(answer, gold_answers) != 1.0:
            return None
        return strict.compute(" ".join(str(c.get("quote", "")) for c in citations), gold_answers)

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(scored_answer(record), record["citations"], question.answers)


class Streams(Protocol):
    def stream(self, messages: list[ChatMessage]) -> Iterable[str]: ...


VERDICT = re.compile(r"\b(YES|NO)\b", re.IGNORECASE)


@dataclass
class JudgedAnswerMatch:
    """An LLM decides whether the answer means the gold answer ("European Union" for "Europe").

    `make_messages(question, gold, answer)` builds the prompt (prompts/judge*.txt). The judge
    is only asked when strict matching fails: a strict match counts as judged right too.
    """

    llm: Streams
    make_messages: Callable[[str, str, str], list[ChatMessage]]
    label: ClassVar[str] = "judged"

    def compute(self, question: str, answer: str, gold_answers: Sequence[str]) -> float | None:
        verdict = self.verdict(question, answer, gold_answers)
        return None if verdict is None else (1.0 if verdict else 0.0)

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(question.question, scored_answer(record), question.answers)

    def verdict(self, question: str, answer: str, gold_answers: Sequence[str]) -> bool | None:
        golds = [gold for gold in gold_answers if answer_tokens(gold)]
        if not golds:
            return None
        if StrictAnswerMatch().compute(answer, golds) == 1.0:
            return True
        if not answer_tokens(answer):
            return False
        reply = ""
        for delta in self.llm.stream(self.make_messages(question, " / ".join(golds), answer)):
            reply += delta
            if VERDICT.search(reply) or len(reply) > 200:
                break
        found = VERDICT.search(reply)
        return bool(found and found.group(1).upper() == "YES")


@dataclass(frozen=True)
class RefusalRates:
    """Two rates: unanswerable questions refused, and answerable questions answered (not
    refused). A question that failed with an error counts as neither refused nor answered."""

    label: ClassVar[str] = "refusal_correct"

    def compute(self, refused: bool, unanswerable: bool, error: bool = False) -> float:
        """Per question: 1 when the refusal decision was right."""
        if error:
            return 0.0
        return 1.0 if refused == unanswerable else 0.0

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(bool(record["refused"]), question.unanswerable, bool(record["error"]))

    def aggregate(self, outcomes: Iterable[tuple[bool, bool, bool]]) -> dict[str, float | None]:
        """`outcomes`: (refused, unanswerable, error) per question."""
        refused_when_unanswerable: list[float] = []
        answered_when_answerable: list[float] = []
        for refused, unanswerable, error in outcomes:
            if unanswerable:
                refused_when_unanswerable.append(1.0 if refused and not error else 0.0)
            else:
                answered_when_answerable.append(1.0 if not refused and not error else 0.0)
        return {
            "unanswerable_refused": mean(refused_when_unanswerable),
            "answerable_answered": mean(answered_when_answerable),
        }
