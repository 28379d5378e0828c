"""Retrieval metrics: hit@k and MRR over the retrieved articles, evidence recall and coverage.

Retrieval is judged at article level: a retrieved passage is a hit when its article's doc_id is
one of the question's `gold_doc_ids`; ranks are passage ranks (1 = best passage). The evidence
metrics look at the texts of the top-k passages, which results.jsonl does not keep: they are
scored when the question is asked, not again on resume.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.answering.attribution import content_terms
from rag.evaluation.metrics.text import normalise_passage, plain_text
from rag.evaluation.questions import Question
from rag.evaluation.results import ResultRecord


class RetrievalMetric:
    """A metric of the ranked doc_ids retrieved, against the question's gold article ids."""

    def compute(self, gold_doc_ids: Iterable[str], retrieved_doc_ids: Sequence[str]) -> float | None:
        raise NotImplementedError

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(question.gold_doc_ids, [item["doc_id"] for item in record["retrieved"]])


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

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(question.evidence, passages)


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

    def score(self, question: Question, record: ResultRecord, passages: Sequence[str]) -> float | None:
        return self.compute(question.evidence, passages)


HIT_KS = (1, 3, 5, 10)
RETRIEVAL_METRICS: tuple[HitAtK | MeanReciprocalRank, ...] = (
    *(HitAtK(k) for k in HIT_KS),
    MeanReciprocalRank(10),
)
# Scored from the texts of the top-k passages, which results.jsonl does not keep.
EVIDENCE_METRICS: tuple[EvidenceRecall | EvidenceCoverage, ...] = (EvidenceRecall(), EvidenceCoverage())
RETRIEVAL_DEPTH = 10
