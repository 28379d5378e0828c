"""A run's folder and its state: which folder a run goes to, run.json, and what resumes.

A run started without `--out` resumes the newest unfinished run of the same question file with
the same settings (`find_resumable`), else gets a new timestamped folder; an `--out` folder may
hold only an earlier session of the same run (`--fresh` clears it). run.json records the
settings and the sessions; results.jsonl keeps the questions that are done, in the question
file's order, and drops failed ones to be asked again. One `rag eval` at a time writes to a
folder (`run_lock`).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.errors import UsageError
from rag.evaluation.results import ResultRecord
from rag.evaluation.run_dir import (
    REPORT_JSON,
    RESULTS,
    RUN_STATE,
    read_json,
    read_results,
    write_json,
    write_jsonl,
)


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    with (out / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"Another `rag eval` is writing to {out}: wait for it or use another --out."
            ) from None
        yield


# Settings a run may be resumed with changed: `--judge` judges the earlier answers too, and
# new judge prompts judge them again.
RESUMABLE_CHANGES = frozenset({"judge", "judge_prompts_sha256"})


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(
        key for key in set(old) | set(new) if key not in RESUMABLE_CHANGES and old.get(key) != new.get(key)
    )


def find_resumable(runs_dir: Path, questions_file: str, settings: Mapping[str, Any]) -> Path | None:
    """The newest unfinished run of the same question file with the same settings."""
    if not runs_dir.is_dir():
        return None
    for folder in sorted(runs_dir.iterdir(), reverse=True):
        state = read_json(folder / RUN_STATE)
        if (
            isinstance(state, dict)
            and not state.get("complete")
            and state.get("questions_file") == questions_file
            and isinstance(state.get("settings"), dict)
            and not changed_settings(state["settings"], settings)
        ):
            return folder
    return None


def new_run_dir(runs_dir: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = runs_dir / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = runs_dir / f"{stamp}-{suffix}"
    return folder


OUR_FILES = (RESULTS, RUN_STATE, REPORT_JSON, "report.md", "report.html")


def prepare_out(
    out: Path | None, runs_dir: Path, fresh: bool, questions_file: str, settings: Mapping[str, Any]
) -> Path:
    """The run folder (`out`, else one in `runs_dir`): a new one, or one holding an earlier
    session of the same run."""
    if out is None:
        found = None if fresh else find_resumable(runs_dir, questions_file, settings)
        out = found or new_run_dir(runs_dir)
    else:
        state = read_json(out / RUN_STATE)
        if fresh:
            pass  # cleared under the lock
        elif isinstance(state, dict) and state.get("questions_file") != questions_file:
            raise UsageError(
                f"{out} holds a run of another question file ({state.get('questions_file')}): "
                "add --fresh to start it over, or choose another --out."
            )
        elif isinstance(state, dict) and changed_settings(state.get("settings") or {}, settings):
            changed = changed_settings(state.get("settings") or {}, settings)
            raise UsageError(
                f"{out} holds a run with other settings ({', '.join(changed)}): "
                "add --fresh to start it over, or choose another --out."
            )
        elif out.exists() and not isinstance(state, dict) and (out / RESULTS).exists():
            raise UsageError(f"{out} holds results that are not a rag eval run: choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def clear_run(out: Path) -> None:
    """`--fresh`: the files of an earlier run in the folder go."""
    for name in OUR_FILES:
        (out / name).unlink(missing_ok=True)


class RunState:
    """run.json: the question file, the settings, whether every question is done, and one entry
    per session (when it started, how long it took, how many questions it asked)."""

    def __init__(self, out: Path, resuming: bool) -> None:
        self.path = out / RUN_STATE
        state = read_json(self.path) if resuming else None
        self.data: dict[str, Any] = state if isinstance(state, dict) else {}
        self.earlier_settings: dict[str, Any] = dict(self.data.get("settings") or {})

    def begin(self, questions_file: str, settings: dict[str, Any]) -> None:
        """A session starts: the run is unfinished until it ends."""
        self.data.update(
            {
                "questions_file": questions_file,
                "settings": settings,
                "complete": False,
                "sessions": self.data.get("sessions", []),
            }
        )
        write_json(self.path, self.data)

    def end(self, started_at: datetime, seconds: float, questions: int, complete: bool) -> None:
        self.data["sessions"].append(
            {"started": started_at.isoformat(timespec="seconds"), "seconds": seconds, "questions": questions}
        )
        self.data["complete"] = complete
        write_json(self.path, self.data)

    def started(self) -> str:
        """When the run began (its first session)."""
        return self.data["sessions"][0]["started"]

    def wall_seconds(self) -> float:
        return round(sum(session["seconds"] for session in self.data["sessions"]), 1)


def kept_records(out: Path, file_order: Sequence[str]) -> dict[str, ResultRecord]:
    """The done questions of earlier sessions, by id, rewritten in the file's order. Those beyond
    a smaller --limit are kept too; failed ones are dropped, to be asked again."""
    records = {
        record["id"]: record
        for record in read_results(out / RESULTS)
        if record["id"] in set(file_order) and not record.get("error")
    }
    write_in_file_order(out, records, file_order)
    return records


def write_in_file_order(out: Path, records: Mapping[str, ResultRecord], file_order: Sequence[str]) -> None:
    write_jsonl(out / RESULTS, [records[key] for key in file_order if key in records])
