"""Benchmarks that print figures: each compares configurations measured in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from rag.bench.stats import percentile_or_zero
from rag.evaluation.metrics.answers import StrictAnswerMatch
from rag.evaluation.metrics.retrieval import HitAtK, MeanReciprocalRank
from rag.evaluation.questions import Question, load_questions
from rag.retrieval.retriever import RetrievalConfig, Retriever
from rag.types import Filters, Passage

PLAIN = {"date_boost": 0.0, "per_article": 10_000, "duplicate_overlap": 2.0, "merge_neighbours": 0}


@dataclass(frozen=True)
class Variant:
    name: str
    config: RetrievalConfig
    dated: bool  # the question's date goes into the filters (as_of)


def retrieval_variants(shipped: RetrievalConfig) -> list[Variant]:
    return [
        Variant("bm25 only", replace(shipped, mode="bm25", **PLAIN), dated=False),  # type: ignore[arg-type]
        Variant("vector only", replace(shipped, mode="vector", **PLAIN), dated=False),  # type: ignore[arg-type]
        Variant("hybrid, no dates", replace(shipped, date_boost=0.0), dated=False),
        Variant("shipped, no merging", replace(shipped, merge_neighbours=0), dated=True),
        Variant("shipped", shipped, dated=True),
    ]


@dataclass
class Scores:
    hits: dict[int, list[float]] = field(default_factory=lambda: {1: [], 3: [], 5: [], 10: []})
    mrr: list[float] = field(default_factory=list)
    answer_in_top5: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    def add(self, question: Question, passages: Sequence[Passage], elapsed_ms: float) -> None:
        doc_ids = [passage.doc_id for passage in passages]
        self.latency_ms.append(elapsed_ms)
        if question.gold_doc_ids:
            for k, values in self.hits.items():
                value = HitAtK(k).compute(question.gold_doc_ids, doc_ids)
                if value is not None:
                    values.append(value)
            mrr = MeanReciprocalRank(10).compute(question.gold_doc_ids, doc_ids)
            if mrr is not None:
                self.mrr.append(mrr)
        if question.answers:
            top5 = " ".join(passage.text for passage in passages[:5])
            found = StrictAnswerMatch().compute(top5, question.answers)
            if found is not None:
                self.answer_in_top5.append(found)

    def row(self, name: str) -> list[str]:
        return [
            name,
            *(_mean(self.hits[k]) for k in (1, 3, 5, 10)),
            _mean(self.mrr),
            _mean(self.answer_in_top5),
            f"{percentile_or_zero(self.latency_ms, 50):.1f}",
            f"{percentile_or_zero(self.latency_ms, 95):.1f}",
        ]


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f}" if values else "–"


HEADER = ["retrieval", "hit@1", "hit@3", "hit@5", "hit@10", "MRR@10", "answer@5", "p50 ms", "p95 ms"]


def bench_retrieval(
    questions_file: Path, retriever: Retriever, limit: int | None = None, show_progress: bool = True
) -> tuple[list[list[str]], int]:
    """One pass per variant over the same questions (after one warm-up query each)."""
    questions = load_questions(questions_file).questions[:limit]
    rows = []
    for variant in retrieval_variants(retriever.config):
        variant_retriever = retriever.with_config(variant.config)
        variant_retriever.retrieve("warm-up query", 10)  # loads BM25 and the model's caches
        scores = Scores()
        for question in tqdm(questions, desc=variant.name, disable=not show_progress, leave=False):
            filters = Filters(as_of=question.date or None) if variant.dated else None
            started = time.perf_counter()
            passages = variant_retriever.retrieve(question.question, 10, filters)
            scores.add(question, passages, (time.perf_counter() - started) * 1000)
        rows.append(scores.row(variant.name))
    return rows, len(questions)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
