"""`rag eval compare RUN_A RUN_B`: metric deltas and the questions that flipped between two runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import UsageError
from rag.evaluation.results import ResultRecord
from rag.evaluation.run_dir import REPORT_JSON, RESULTS, read_json, read_results


@dataclass
class Flip:
    id: str
    question: str
    measure: str
    before: float
    after: float
    answer_a: str
    answer_b: str


@dataclass
class Comparison:
    a: Path
    b: Path
    rows: list[tuple[str, float | None, float | None]]
    flips: list[Flip]
    common: int
    only_a: int
    only_b: int
    settings_changed: dict[str, tuple[Any, Any]]


FLIP_MEASURES = ("hit@5", "strict", "judged", "refusal_correct")


def load_run(folder: Path) -> tuple[dict[str, Any], list[ResultRecord]]:
    report = read_json(folder / REPORT_JSON)
    if not isinstance(report, dict):
        raise UsageError(f"{folder} holds no report.json: is it a finished `rag eval` run folder?")
    return report, read_results(folder / RESULTS)


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float | None]:
    flat: dict[str, float | None] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            flat[name] = value
    return flat


def compare_runs(a: Path, b: Path) -> Comparison:
    report_a, results_a = load_run(a)
    report_b, results_b = load_run(b)
    flat_a, flat_b = flatten(report_a.get("metrics", {})), flatten(report_b.get("metrics", {}))
    names = list(flat_a) + [name for name in flat_b if name not in flat_a]
    rows = [(name, flat_a.get(name), flat_b.get(name)) for name in names]
    by_id_b = {record["id"]: record for record in results_b}
    flips = []
    common = 0
    for record_a in results_a:
        record_b = by_id_b.get(record_a["id"])
        if record_b is None:
            continue
        common += 1
        for measure in FLIP_MEASURES:
            before, after = record_a["metrics"].get(measure), record_b["metrics"].get(measure)
            if before is None or after is None or (before >= 0.5) == (after >= 0.5):
                continue
            flips.append(
                Flip(
                    record_a["id"],
                    record_a["question"],
                    measure,
                    before,
                    after,
                    str(record_a.get("answer", "")),
                    str(record_b.get("answer", "")),
                )
            )
    ids_a = {record["id"] for record in results_a}
    settings_a, settings_b = report_a.get("settings", {}), report_b.get("settings", {})
    changed = {
        key: (settings_a.get(key), settings_b.get(key))
        for key in sorted(set(settings_a) | set(settings_b))
        if settings_a.get(key) != settings_b.get(key)
    }
    for key in ("corpus", "model", "code"):
        if report_a.get(key) != report_b.get(key):
            changed[key] = (report_a.get(key), report_b.get(key))
    return Comparison(
        a,
        b,
        rows,
        flips,
        common,
        only_a=len(ids_a - set(by_id_b)),
        only_b=len(set(by_id_b) - ids_a),
        settings_changed=changed,
    )
