"""Evaluation metrics, one class per metric (in the manner of llama-index's evaluation metrics).

Each metric scores one question with `compute(...)`, returning a number in [0, 1], or None when
it does not apply (no gold article ids, no evidence, a refused answer has no citations to
check...). Overall figures are the means of the per-question scores that apply, so a question
without gold ids neither helps nor hurts retrieval scores.

Retrieval is judged at article level: a retrieved passage is a hit when its article's doc_id is
one of the question's `gold_doc_ids`; ranks are passage ranks (1 = best passage).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from llama_index.core.llms import ChatMessage

from rag.answering.attribution import MARKER, content_terms
from rag.bench.stats import percentile

# ---------------------------------------------------------------------------------------------
# Normalisation shared by the answer and evidence metrics
# ---------------------------------------------------------------------------------------------

UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_WORDS = {word: value for value, word in enumerate(UNITS)} | {
    word: 20 + 10 * index for index, word in enumerate(TENS)
}
ORDINALS = {
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th", "sixth": "6th",
    "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th", "eleventh": "11th",
    "twelfth": "12th",
}  # fmt: skip
ARTICLES = frozenset({"a", "an", "the"})
TAG = re.compile(r"<[^>]*>")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
ACRONYM = re.compile(r"\b(?:[^\W\d_]\.){2,}")
TOKEN = re.compile(r"\d+(?:\.\d+)*[^\W\d_]*|[^\W\d_]+")


def plain_text(text: str) -> str:
    """HTML tags dropped and entities decoded (RealTime QA's evidence carries links)."""
    return html.unescape(TAG.sub("", text))


def answer_tokens(text: str) -> list[str]:
    """Words for strict matching: case, accents, quotes, punctuation, thousands separators and
    number words normalised ("Ten" -> "10", "twenty-five" -> "25", "1,200" -> "1200", "&" ->
    "and", "%" -> "percent"); the articles a/an/the and `[n]` markers dropped."""
    text = MARKER.sub(" ", plain_text(text))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = THOUSANDS.sub("", text)
    text = ACRONYM.sub(lambda match: match.group().replace(".", ""), text)  # U.S. -> us
    text = text.replace("%", " percent ").replace("&", " and ")
    tokens: list[str] = []
    for word in TOKEN.findall(text):
        if word in ARTICLES:
            continue
        if word in ORDINALS:
            tokens.append(ORDINALS[word])
        elif word in NUMBER_WORDS:
            value = NUMBER_WORDS[word]
            # "twenty five" / "twenty-five" -> 25
            if tokens and 1 <= value <= 9 and tokens[-1].isdigit() and _is_round_tens(tokens[-1]):
                tokens[-1] = str(int(tokens[-1]) + value)
            else:
                tokens.append(str(value))
        else:
            tokens.append(word)
    return tokens


def _is_round_tens(token: str) -> bool:
    return token in {str(20 + 10 * index) for index in range(len(TENS))}


def contains_words(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Whether `needle` occurs in `haystack` as whole, consecutive words."""
    if not needle:
        return False
    size = len(needle)
    first = needle[0]
    return any(
        haystack[start] == first and list(haystack[start : start + size]) == list(needle)
        for start in range(len(haystack) - size + 1)
    )


def normalise_passage(text: str) -> str:
    """For verbatim look-ups: tags, quotes, case and whitespace normalised."""
    text = plain_text(text)
    text = re.sub(r"[“”„\"‘’‚'`´]", "", text)
    text = re.sub(r"[–—‐-]", "-", text)
    return " ".join(text.casefold().split())


# ---------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------


class RetrievalMetric:
    name: ClassVar[str]

    def compute(self, gold_doc_ids: Iterable[str], retrieved_doc_ids: Sequence[str]) -> float | None:
        raise NotImplementedError


@dataclass(frozen=True)
class HitAtK(RetrievalMetric):
    """1 when one of the first k retrieved passages comes from a gold article, else 0."""

    k: int

    @property
    def label(self) -> str:
        return f"hit@{self.k}"

    def compute(self, gold_doc_ids: Iterable[str], retrieved_doc_ids: Sequence[str]) -> float | None:
        gold = set(gold_doc_ids)
        if not gold:
            return None
        return 1.0 if any(doc_id in gold for doc_id in retrieved_doc_ids[: self.k]) else 0.0


@dataclass(frozen=True)
class MeanReciprocalRank(RetrievalMetric):
    """1/rank of the first passage from a gold article within the first k; 0 when none."""

    k: int = 10

    @property
    def label(self) -> str:
        return f"mrr@{self.k}"

    def compute(self, gold_doc_ids: Iterable[str], retrieved_doc_ids: Sequence[str]) -> float | None:
        gold = set(gold_doc_ids)
        if not gold:
            return None
        for rank, doc_id in enumerate(retrieved_doc_ids[: self.k], start=1):
            if doc_id in gold:
                return 1.0 / rank
        return 0.0


class EvidenceRecall:
    """1 when the evidence text occurs in one retrieved passage (tags, quotes, case and
    whitespace normalised), else 0; None when the question has no evidence."""

    label = "evidence_recall"

    def compute(self, evidence: str | None, passages: Sequence[str]) -> float | None:
        needle = normalise_passage(evidence or "")
        if not needle:
            return None
        return 1.0 if any(needle in normalise_passage(text) for text in passages) else 0.0


class EvidenceCoverage:
    """The share of the evidence's content words (stemmed, numbers normalised) found in the
    best single retrieved passage: 1.0 when the evidence is retrieved word for word.

    Graded, for evidence written in other words than the article (RealTime QA's evidence is
    the quiz's own summary of the article, so it never occurs verbatim).
    """

    label = "evidence_coverage"

    def compute(self, evidence: str | None, passages: Sequence[str]) -> float | None:
        terms = set(content_terms(plain_text(evidence or "")))
        if not terms:
            return None
        best = 0.0
        for text in passages:
            best = max(best, len(terms & set(content_terms(text))) / len(terms))
        return round(best, 4)


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------


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


class WrongButCited:
    """1 when an answerable question got an answer, with citations, that strict matching finds
    wrong: confident errors. (Some are paraphrased right answers: read the report's list.)"""

    label = "wrong_but_cited"

    def compute(self, answer: str, refused: bool, error: bool, gold_answers: Sequence[str]) -> float | None:
        strict = StrictAnswerMatch().compute(answer, gold_answers)
        if strict is None:
            return None
        return 1.0 if not refused and not error and strict == 0.0 else 0.0


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

    def compute(self, refused: bool, unanswerable: bool, error: bool = False) -> float:
        """Per question: 1 when the refusal decision was right."""
        if error:
            return 0.0
        return 1.0 if refused == unanswerable else 0.0

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


# ---------------------------------------------------------------------------------------------
# Citations
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Latency and aggregation
# ---------------------------------------------------------------------------------------------


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class LatencyPercentiles:
    """p50 and p95 of each timing, in milliseconds."""

    percentiles: tuple[int, ...] = (50, 95)

    def compute(self, values: Sequence[float]) -> dict[str, float | None]:
        return {f"p{q}": rounded(percentile(values, q)) for q in self.percentiles}


def mean(scores: Iterable[float | None]) -> float | None:
    """The mean of the scores that apply (None ignored), rounded; None when none applies."""
    present = [score for score in scores if score is not None]
    return round(sum(present) / len(present), 4) if present else None


HIT_KS = (1, 3, 5, 10)
RETRIEVAL_METRICS: tuple[HitAtK | MeanReciprocalRank, ...] = (
    *(HitAtK(k) for k in HIT_KS),
    MeanReciprocalRank(10),
)
RETRIEVAL_DEPTH = 10
LATENCIES = ("retrieve", "first_token", "total")


def aggregate(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """report.json's `metrics` from the per-question records of results.jsonl.

    Records of a `--retrieval-only` run have no answer metrics: then only retrieval and
    retrieval latency are reported.
    """

    def column(name: str, rows: Iterable[Mapping[str, Any]]) -> list[float | None]:
        return [row["metrics"].get(name) for row in rows]

    retrieval: dict[str, Any] = {
        metric.label: mean(column(metric.label, records)) for metric in RETRIEVAL_METRICS
    }
    retrieval["evidence_recall"] = mean(column("evidence_recall", records))
    retrieval["evidence_coverage"] = mean(column("evidence_coverage", records))
    retrieval["with_gold_ids"] = sum(1 for score in column("hit@1", records) if score is not None)
    metrics: dict[str, Any] = {"retrieval": retrieval}
    generated = [row for row in records if "strict" in row["metrics"]]
    if generated:
        answerable = [row for row in generated if not row["gold"]["unanswerable"]]
        metrics["answer"] = {
            "accuracy": {
                "strict": mean(column("strict", answerable)),
                "judged": mean(column("judged", answerable)),
            },
            "wrong_but_cited": mean(column(WrongButCited.label, answerable)),
            "right_drafts_dropped": mean(column(RightDraftDropped.label, answerable)),
            "supported": mean(column(SupportedAnswer.label, answerable)),
            "answerable": len(answerable),
        }
        metrics["refusal"] = RefusalRates().aggregate(
            (bool(row["refused"]), bool(row["gold"]["unanswerable"]), bool(row.get("error")))
            for row in generated
        ) | {"unanswerable": len(generated) - len(answerable)}
        metrics["citations"] = {
            "valid": mean(column("citations_valid", generated)),
            "precision": mean(column("citation_precision", generated)),
        }
    latency = LatencyPercentiles()
    metrics["latency_ms"] = {
        name: latency.compute(
            [
                float(row["latency_ms"][name])
                for row in records
                if row.get("latency_ms", {}).get(name) is not None and not row.get("error")
            ]
        )
        for name in LATENCIES
        if any(row.get("latency_ms", {}).get(name) is not None for row in records)
    }
    metrics["errors"] = sum(1 for row in records if row.get("error"))
    return metrics
