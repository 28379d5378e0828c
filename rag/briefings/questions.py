"""The questions of `rag brief`: from its arguments, from questions files, or from standard input.

One question per line in .txt (blank lines and `#` comments skipped); JSONL / JSON / CSV / YAML
records with a `question` field. A bad line is reported as a problem with its line number and
the rest load. rag/evaluation/runner.py has its own loader for now; the two may be merged.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rag.errors import UsageError
from rag.ingest.loaders import decode_text
from rag.inputs import check_question
from rag.records import RECORD_SUFFIXES, Record, UnreadableRecords, read_records
from rag.types import LoadProblem

TEXT_QUESTION_SUFFIXES = {".txt", ".text", ""}
QUESTION_FILE_SUFFIXES = TEXT_QUESTION_SUFFIXES | {".jsonl", ".ndjson", ".json", ".csv", ".yaml", ".yml"}
MAX_QUESTIONS_FILE_BYTES = 8 * 1024 * 1024


@dataclass
class QuestionsFile:
    questions: list[str] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


def load_briefing_questions(path: Path) -> QuestionsFile:
    """Questions from a file: one a line (.txt; blank lines and `#` comments skipped), or records
    with a `question` field (JSONL, JSON, CSV, YAML; plain strings also accepted in lists).

    Bad lines are reported as problems with their line numbers (JSON: item numbers); the rest load.
    """
    result = QuestionsFile()
    name = str(path)
    try:
        if path.stat().st_size > MAX_QUESTIONS_FILE_BYTES:
            result.problems.append(LoadProblem(name, "larger than 8 MB; not read"))
            return result
        text, note = decode_text(path.read_bytes())
    except OSError as err:
        result.problems.append(LoadProblem(name, f"cannot read: {err.strerror or err}"))
        return result
    if note:
        result.problems.append(LoadProblem(name, note))
    parsed = parse_questions(text, path.suffix.lower(), name)
    result.questions, result.problems = parsed.questions, result.problems + parsed.problems
    return result


def parse_questions(text: str, suffix: str, name: str) -> QuestionsFile:
    """Questions from a file's text; `suffix` picks the format (anything unknown: one a line)."""
    result = QuestionsFile()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if suffix in RECORD_SUFFIXES:
        try:
            records = list(read_records(text, suffix, list_key="questions", csv_columns=("question",)))
        except UnreadableRecords as err:
            records = [Record(None, err.line, problem=str(err))]
    else:  # one question a line
        records = [
            Record(line, number)
            for number, line in enumerate(text.split("\n"), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    for record in records:
        if record.problem:
            result.problems.append(LoadProblem(name, f"{record.where}{record.problem}", record.line))
            continue
        question = _question_of(record.value)
        if question is None:
            result.problems.append(
                LoadProblem(name, f"{record.where}no 'question' field; skipped", record.line)
            )
            continue
        try:
            result.questions.append(check_question(question))
        except UsageError as err:
            result.problems.append(LoadProblem(name, f"{record.where}{err}; skipped", record.line))
    if not result.questions and not result.problems:
        result.problems.append(LoadProblem(name, "no questions in the file"))
    return result


def _question_of(record: Any) -> str | None:
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        for key, value in record.items():
            if str(key).strip().lower() == "question" and isinstance(value, str | int | float):
                return str(value)
    return None


def questions_from_args(args: Sequence[str], stdin: IO[str] | None = None) -> QuestionsFile:
    """`rag brief` arguments: each is a questions file when it names one (`-`: standard input),
    else a question."""
    result = QuestionsFile()
    for arg in args:
        path = Path(arg)
        if arg == "-" or path.is_file():
            if arg == "-":
                loaded = parse_questions((stdin or sys.stdin).read(), ".txt", "<stdin>")
            else:
                loaded = load_briefing_questions(path)
            result.questions += loaded.questions
            result.problems += loaded.problems
        elif path.is_dir():
            raise UsageError(f"{arg} is a folder, not a questions file.")
        elif " " not in arg.strip() and path.suffix.lower() in QUESTION_FILE_SUFFIXES - {""}:
            raise UsageError(f"No such questions file: {arg}")
        else:
            result.questions.append(check_question(arg))
    return result
