"""The files of a `rag eval` run folder, written atomically and read forgivingly."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from rag.evaluation.results import ResultRecord

RESULTS = "results.jsonl"  # one record a question, appended as the run goes
RUN_STATE = "run.json"  # what the run was started with: a resumed run must match it
REPORT_JSON = "report.json"


def read_results(path: Path) -> list[ResultRecord]:
    """The records of a results.jsonl; a torn last line (a kill mid-write) is ignored. Records
    of older versions load as they are (without the keys those did not write)."""
    if not path.exists():
        return []
    records: list[ResultRecord] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(cast(ResultRecord, record))  # as written: other keys are not checked
    return records


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    partial = path.with_suffix(".tmp")
    with partial.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    partial.replace(path)


def write_json(path: Path, data: Any) -> None:
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
