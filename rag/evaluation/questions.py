"""Question sets for `rag eval` and `rag bench retrieval`: the Question type and its loader.

`load_questions` reads JSONL, JSON (a list), CSV or YAML through `rag/records.py`, takes each
field from the first of its accepted names (RealTime QA's included), and turns a bad record into
a problem with its line number instead of stopping. `Question.gold()` is what a question's record
in results.jsonl keeps of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from rag.errors import UsageError
from rag.ingest.parsing import normalise_date
from rag.inputs import existing_questions_file
from rag.records import RECORD_SUFFIXES, UnreadableRecords, read_records
from rag.types import LoadProblem

QUESTION_SUFFIXES = RECORD_SUFFIXES

# Field names, first match wins (RealTime QA's names included).
ID_FIELDS = ("id", "question_id", "qid")
QUESTION_FIELDS = ("question", "query")
ANSWER_FIELDS = ("answers", "answer", "answer_text")
GOLD_FIELDS = ("gold_doc_ids", "doc_ids")
DATE_FIELDS = ("question_date", "date")


class Gold(TypedDict):
    """A question's gold, as its record in results.jsonl keeps it."""

    answers: list[str]
    doc_ids: list[str]
    evidence: str
    unanswerable: bool
    choices: list[str]
    date: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()
    evidence: str = ""
    unanswerable: bool = False
    choices: tuple[str, ...] = ()
    date: str = ""  # ISO; retrieval is limited to articles published on or before it
    line: int | None = None

    def gold(self) -> Gold:
        return {
            "answers": list(self.answers),
            "doc_ids": list(self.gold_doc_ids),
            "evidence": self.evidence,
            "unanswerable": self.unanswerable,
            "choices": list(self.choices),
            "date": self.date,
        }


@dataclass
class QuestionSet:
    path: Path
    questions: list[Question] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


class BadRecord(ValueError):
    pass


def load_questions(path: Path) -> QuestionSet:
    """Questions from JSONL, JSON (a list), CSV or YAML; bad records become problems with their
    line number and are skipped."""
    existing_questions_file(path)
    suffix = path.suffix.lower()
    if suffix not in QUESTION_SUFFIXES:
        raise UsageError(
            f"{path}: unsupported question file type {suffix!r}: use .jsonl, .json, .csv or .yaml"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text ({err.reason})") from err
    result = QuestionSet(path)
    seen: dict[str, int | None] = {}
    try:
        for record in read_records(text, suffix, list_key="questions"):
            line = record.line
            try:
                if record.problem:
                    raise BadRecord(record.problem)
                question = parse_question(record.value, line)
            except BadRecord as err:
                result.problems.append(LoadProblem(str(path), f"{record.where}{err}", line))
                continue
            if question.id in seen:
                result.problems.append(
                    LoadProblem(
                        str(path),
                        f"duplicate id {question.id!r} (first on line {seen[question.id]}); skipped",
                        line,
                    )
                )
                continue
            seen[question.id] = line
            result.questions.append(question)
    except UnreadableRecords as err:  # the whole file is unreadable (a JSON or YAML syntax error)
        raise UsageError(str(LoadProblem(str(path), str(err), err.line))) from None
    return result


def parse_question(record: Any, line: int | None) -> Question:
    if not isinstance(record, dict):
        raise BadRecord(f"expected an object with a 'question', got {type(record).__name__}")
    question = _first(record, QUESTION_FIELDS)
    if not isinstance(question, str) or not question.strip():
        raise BadRecord("no 'question' text")
    question = " ".join(question.split())
    choices = _string_list(record.get("choices"), "choices")
    answers = _string_list(_first(record, ANSWER_FIELDS), "answers")
    for index in _index_list(record.get("answer_idx")):
        if not 0 <= index < len(choices):
            raise BadRecord(f"answer_idx {index} is not one of the {len(choices)} choices")
        if choices[index] not in answers:
            answers.append(choices[index])
    flag = _boolean(record.get("unanswerable"))
    if flag is False and not answers:
        raise BadRecord("'unanswerable' is false but no answers are given")
    raw_id = _first(record, ID_FIELDS)
    identifier = str(raw_id).strip() if raw_id not in (None, "") else ""
    date_value = _first(record, DATE_FIELDS)
    return Question(
        id=identifier or "q-" + hashlib.sha1(question.encode("utf-8", "replace")).hexdigest()[:10],
        question=question,
        answers=tuple(answers),
        gold_doc_ids=tuple(_string_list(_first(record, GOLD_FIELDS), "gold_doc_ids")),
        evidence=" ".join(_string_list(record.get("evidence"), "evidence")),
        unanswerable=bool(flag) or not answers,
        choices=tuple(choices),
        date=normalise_date(str(date_value)) if date_value else "",
        line=line,
    )


def _first(record: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def _string_list(value: Any, name: str) -> list[str]:
    """A list of strings from a list, a scalar, or (CSV) a JSON list or `a | b` text."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = [text]
        else:
            value = [part.strip() for part in text.split("|")] if "|" in text else [text]
    if isinstance(value, bool) or not isinstance(value, str | int | float | list):
        raise BadRecord(f"'{name}' must be text or a list of text")
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, bool) or not isinstance(item, str | int | float) for item in items):
        raise BadRecord(f"'{name}' must be text or a list of text")
    return [str(item).strip() for item in items if str(item).strip()]


def _index_list(value: Any) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else _string_list(value, "answer_idx")
    try:
        return [int(item) for item in items]
    except (TypeError, ValueError):
        raise BadRecord("'answer_idx' must be choice numbers (0-based)") from None


def _boolean(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "y"}:
        return True
    if text in {"false", "no", "0", "n"}:
        return False
    raise BadRecord(f"'unanswerable' must be true or false, not {value!r}")
