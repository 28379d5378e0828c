"""The shared readers and writers: records (article, eval and briefing files) and Markdown escaping."""

from __future__ import annotations

import doctest

import pytest

from rag import records
from rag.records import Record, UnreadableRecords, read_records


def test_the_module_example_runs() -> None:
    assert doctest.testmod(records).failed == 0


def test_each_format_gives_records_with_the_line_they_start_on() -> None:
    jsonl = list(read_records('{"q": 1}\n\n[2\n"x"\n', ".jsonl"))
    assert [(r.line, r.value) for r in jsonl] == [(1, {"q": 1}), (3, None), (4, "x")]
    assert jsonl[1].problem and jsonl[1].problem.startswith("invalid JSON line")
    listed = list(
        read_records('{"questions": [\n  {"q": 1},\n\n  {"q": 2}\n]}', ".json", list_key="questions")
    )
    assert [(r.line, r.item, r.where) for r in listed] == [(2, 1, "item 1: "), (4, 2, "item 2: ")]
    assert [r.value for r in read_records('{"q": 1}', ".json")] == [{"q": 1}]  # one record
    rows = list(read_records('id,text\na,"two\nlines"\nb,x,extra\n\nc,z\n', ".csv"))
    assert [(r.line, r.last_line, r.value) for r in rows] == [
        (2, 3, {"id": "a", "text": "two\nlines"}),
        (4, 4, None),
        (6, 6, {"id": "c", "text": "z"}),
    ]
    assert rows[1].problem == "1 more field(s) than the header names"
    yaml_rows = list(read_records("questions:\n  - q: 1\n  - 2\n", ".yaml", list_key="questions"))
    assert [(r.line, r.value) for r in yaml_rows] == [(2, {"q": 1}), (3, 2)]
    assert list(read_records("", ".yaml")) == []


def test_a_csv_without_the_needed_column_is_one_problem_on_line_1() -> None:
    assert list(read_records("a,b\n1,2\n", ".csv", csv_columns=("text", "body"))) == [
        Record(None, 1, problem="CSV has no 'text' or 'body' column")
    ]


@pytest.mark.parametrize(
    ("text", "suffix", "message", "line"),
    [
        ('[{"a": 1},\n{"b": }]', ".json", "invalid JSON: Expecting value", 2),
        ("[" * 100_000, ".json", "invalid JSON", None),
        ("a: [1", ".yaml", "invalid YAML", 1),
    ],
)
def test_an_unreadable_file_is_one_error_with_its_line(
    text: str, suffix: str, message: str, line: int | None
) -> None:
    with pytest.raises(UnreadableRecords, match=message) as caught:
        list(read_records(text, suffix))
    assert caught.value.line == line


def test_the_markdown_examples_run() -> None:
    from rag import markdown

    assert doctest.testmod(markdown).failed == 0
