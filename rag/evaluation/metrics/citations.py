"""Citation metrics: whether an answer's citations are valid, and how many cite gold articles.

A citation is valid when its quote is verbatim in its article at its offsets; the article's text
is pieced together from its stored chunks (`StoredText`), which a `TextLookup` gives by doc_id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rag.answering.attribution import MARKER
from rag.evaluation.metrics.text import normalise_passage
from rag.evaluation.questions import Question
from rag.evaluation.results import ResultRecord, scored_answer


@dataclass(frozen=True)
class StoredText:
    """A stretch of an article as stored: `text == article.text[start:end]`."""

    start: int
    end: int
    text: str


TextLookup = Callable[[str], Sequence[StoredText]]


def cited_numbers(answer: str) -> list[int]:
    return [int(number) for number in MARKER.findall(answer)]


@dataclass
class CitationValidity:
    """1 when every `[n]` in the answer resolves to a citation, the answer cites at least one
    passage, and every quote is verbatim in its article at its offsets; else 0. None for an
    answer with no claims (refusals, errors)."""

    lookup: TextLookup
    label: ClassVar[str] = "citations_valid"

    def compute(self, answer: str, citations: Sequence[Mapping[str, Any]], refused: bool) -> float | None:
        markers = cited_numbers(answer)
        if refused or (not answer.strip() and not citations):
            return None
        if not markers or not citations:
            return 0.0
        numbers = {int(citation["n"]) for citation in citations}
        if any(number not in numbers for number in markers):
            return 0.0
        return 1.0 if all(self.verbatim(citation) for citation in citations) else 0.0

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(scored_answer(record), record["citations"], bool(record["refused"]))

    def verbatim(self, citation: Mapping[str, Any]) -> bool:
        """The quote equals the article's text at its offsets (pieced together from the
        stored chunks, which are verbatim slices of the article)."""
        quote, start, end = str(citation["quote"]), int(citation["start"]), int(citation["end"])
        if not quote or start < 0 or end - start != len(quote):
            return False
        return article_slice(self.lookup(str(citation["doc_id"])), start, end) == quote


def article_slice(stored: Sequence[StoredText], start: int, end: int) -> str | None:
    """article.text[start:end] from the stored pieces that cover it; None where there is a gap."""
    chars: dict[int, str] = {}
    for piece in stored:
        for position in range(max(start, piece.start), min(end, piece.end)):
            chars.setdefault(position, piece.text[position - piece.start])
    if len(chars) != end - start:
        return None
    return "".join(chars[position] for position in range(start, end))


class CitationPrecision:
    """The share of cited passages that come from a gold article; without gold ids, those
    whose quote lies in the evidence (or holds it). None when nothing is cited or there is
    nothing to judge against."""

    label = "citation_precision"

    def compute(
        self, citations: Sequence[Mapping[str, Any]], gold_doc_ids: Iterable[str], evidence: str | None
    ) -> float | None:
        if not citations:
            return None
        gold = set(gold_doc_ids)
        needle = normalise_passage(evidence or "")
        if not gold and not needle:
            return None
        good = 0
        for citation in citations:
            if gold:
                good += str(citation["doc_id"]) in gold
            else:
                quote = normalise_passage(str(citation["quote"]))
                good += bool(quote) and (quote in needle or needle in quote)
        return good / len(citations)

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(record["citations"], question.gold_doc_ids, question.evidence)
