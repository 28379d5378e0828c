"""Records from JSONL, JSON, CSV and YAML text, each with the line it starts on.

One reader for the three kinds of file users hand the tool (articles, evaluation questions,
briefing questions), so that a bad line is reported the same way, with the same line number,
whichever command reads it. What a record must hold is the caller's business.

>>> [(r.line, r.value) for r in read_records('{"a": 1}\\n\\nnot json\\n', ".jsonl")]
[(1, {'a': 1}), (3, None)]
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

RECORD_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json", ".csv", ".yaml", ".yml"})
MAX_FIELD_CHARS = 64 * 1024 * 1024  # a CSV cell may hold a whole article


@dataclass(frozen=True)
class Record:
    value: Any  # a parsed record (usually a dict); None when `problem` says why it is unreadable
    line: int | None = None  # the line it starts on, when known
    item: int | None = None  # its place (1-based) in a JSON list (whose items may share a line)
    problem: str | None = None
    end_line: int | None = None  # a CSV record's last line (quoted cells span lines); else `line`

    @property
    def last_line(self) -> int | None:
        return self.end_line or self.line

    @property
    def where(self) -> str:
        """`item 3: ` for an item of a JSON list (one line may hold them all), else nothing."""
        return f"item {self.item}: " if self.item else ""


class UnreadableRecords(ValueError):
    """The whole text cannot be read (a JSON or YAML syntax error, or the wrong shape)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def read_records(
    text: str, suffix: str, list_key: str | None = None, csv_columns: Sequence[str] = ()
) -> Iterator[Record]:
    """The records of `text` in the format `suffix` names.

    A JSON or YAML document is a list of records, one record, or (with `list_key`) an object
    whose `list_key` holds the list. `csv_columns`: a CSV must have one of these columns.
    Raises UnreadableRecords when nothing in the text can be read.
    """
    if suffix in {".jsonl", ".ndjson"}:
        yield from _jsonl(text)
    elif suffix == ".json":
        yield from _json(text, list_key)
    elif suffix == ".csv":
        yield from _csv(text, csv_columns)
    elif suffix in {".yaml", ".yml"}:
        yield from _yaml(text, list_key)
    else:
        raise UnreadableRecords(f"unsupported record format {suffix!r}")


def _short(err: BaseException) -> str:
    """A 5,000-digit number or nesting 100,000 deep: the error's first words, not its dump."""
    return str(err).split(":")[0][:80] or type(err).__name__


def _jsonl(text: str) -> Iterator[Record]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield Record(json.loads(line), number)
        except json.JSONDecodeError as err:
            yield Record(None, number, problem=f"invalid JSON line: {err.msg}")
        except (ValueError, RecursionError) as err:
            yield Record(None, number, problem=f"invalid JSON line: {_short(err)}")


def _json(text: str, list_key: str | None) -> Iterator[Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UnreadableRecords(f"invalid JSON: {err.msg}", err.lineno) from None
    except (ValueError, RecursionError) as err:
        raise UnreadableRecords(f"invalid JSON: {_short(err)}") from None
    if list_key and isinstance(data, dict) and isinstance(data.get(list_key), list):
        data = data[list_key]
    if not isinstance(data, list):
        yield Record(data, 1 if isinstance(data, dict) else None)
        return
    wrapped = text.lstrip().startswith("{")
    starts = _json_item_lines(text, len(data), text.find(f'"{list_key}"') if wrapped else 0)
    for index, item in enumerate(data):
        yield Record(item, starts[index] if index < len(starts) else None, index + 1)


def _json_item_lines(text: str, count: int, after: int) -> list[int]:
    """The lines where a JSON list's items start, found by decoding them one by one."""
    decoder = json.JSONDecoder()
    position, lines = text.find("[", max(after, 0)), list[int]()
    while position >= 0 and len(lines) < count:
        position += 1
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            break
        lines.append(text.count("\n", 0, position) + 1)
        try:
            _, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            break
        position -= 1
    return lines


def _csv(text: str, columns: Sequence[str]) -> Iterator[Record]:
    csv.field_size_limit(MAX_FIELD_CHARS)
    read: list[tuple[int, str]] = []  # the lines the reader took for the row it returns next

    def lines() -> Iterator[str]:
        for number, line in enumerate(io.StringIO(text), start=1):
            read.append((number, line))
            yield line

    reader = csv.DictReader(lines())
    try:
        header = {(name or "").strip().lower() for name in reader.fieldnames or []}
    except csv.Error as err:
        yield Record(None, 1, problem=f"invalid CSV header: {err}")
        return
    if columns and not header & {column.lower() for column in columns}:
        named = " or ".join(repr(column) for column in columns)
        yield Record(None, 1, problem=f"CSV has no {named} column")
        return
    while True:
        read.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield Record(None, reader.line_num, problem=f"invalid CSV: {err}")
            return
        # The reader skips blank lines before a row: the row starts on the first line with text.
        start = next((number for number, line in read if line.strip()), reader.line_num)
        if None in row:
            extra = row[None]
            yield Record(None, start, problem=f"{len(extra)} more field(s) than the header names")
        elif any(value is not None and value.strip() for value in row.values()):
            clean = {key.strip(): value for key, value in row.items() if key and value is not None}
            yield Record(clean, start, end_line=reader.line_num)


def _yaml(text: str, list_key: str | None) -> Iterator[Record]:
    try:
        data = yaml.safe_load(text)
        node: Any = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or err
        raise UnreadableRecords(f"invalid YAML: {problem}", mark.line + 1 if mark else None) from None
    except (ValueError, RecursionError) as err:
        raise UnreadableRecords(f"invalid YAML: {_short(err) if str(err) else 'nested too deeply'}") from None
    if list_key and isinstance(data, dict) and isinstance(data.get(list_key), list):
        data = data[list_key]
        node = next(value for key, value in node.value if getattr(key, "value", None) == list_key)
    if data is None:
        return  # an empty document
    if not isinstance(data, list):
        yield Record(data, node.start_mark.line + 1)
        return
    nodes = list(node.value)
    for index, item in enumerate(data):
        yield Record(item, nodes[index].start_mark.line + 1 if index < len(nodes) else None)
