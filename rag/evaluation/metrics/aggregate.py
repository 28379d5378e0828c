"""Aggregation: report.json's `metrics`, the means of the per-question scores of a run.

Latencies are summed up as percentiles (p50, p95) over the questions that did not fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rag.bench.stats import percentile
from rag.evaluation.metrics.answers import RefusalRates, RightDraftDropped, SupportedAnswer, WrongButCited
from rag.evaluation.metrics.base import mean
from rag.evaluation.metrics.retrieval import RETRIEVAL_METRICS


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class LatencyPercentiles:
    """p50 and p95 of each timing, in milliseconds."""

    percentiles: tuple[int, ...] = (50, 95)

    def compute(self, values: Sequence[float]) -> dict[str, float | None]:
        return {f"p{q}": rounded(percentile(values, q)) for q in self.percentiles}


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
