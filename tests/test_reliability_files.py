"""Eval question files and briefing question files: bad lines are reported with their line
numbers and the rest loads; hostile files (deep nesting, huge numbers, broken escapes,
arbitrary bytes) never crash the loader."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.briefings.questions import load_briefing_questions
from rag.errors import UsageError
from rag.evaluation.questions import load_questions
from rag.types import LoadProblem

BAD_JSONL = "\n".join(
    [
        '{"id": "a", "question": "How many civilians were killed in Ganja?", "answers": ["10"]}',
        "{not json",
        '{"id": "b", "answers": ["no question"]}',
        "",
        '["a list, not an object"]',
        '{"id": "c", "question": "Who won the World Cup?", "unanswerable": "maybe"}',
        '{"id": "d", "question": "What erupted on Ruapehu?", "answers": ["the volcano"]}',
    ]
)
BAD_CSV = 'id,question,answers\na,"First?",1\nb,,2\nc,"Third?",3,extra\nd,"Fourth?",4\n'
BAD_YAML = "- question: First?\n  answers: [1]\n- 42\n- answers: [3]\n- question: Fourth?\n  answers: [4]\n"


def lines_of(problems: list[LoadProblem]) -> list[int | None]:
    return [problem.line for problem in problems]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_eval_question_files_report_bad_lines_by_number(tmp_path: Path) -> None:
    jsonl = load_questions(write(tmp_path, "q.jsonl", BAD_JSONL))
    assert [q.id for q in jsonl.questions] == ["a", "d"]
    assert lines_of(jsonl.problems) == [2, 3, 5, 6]
    assert all(str(problem).startswith(f"{tmp_path / 'q.jsonl'}:") for problem in jsonl.problems)
    csv = load_questions(write(tmp_path, "q.csv", BAD_CSV))
    assert [q.id for q in csv.questions] == ["a", "d"] and lines_of(csv.problems) == [3, 4]
    yaml = load_questions(write(tmp_path, "q.yaml", BAD_YAML))
    assert [q.question for q in yaml.questions] == ["First?", "Fourth?"]
    assert lines_of(yaml.problems) == [3, 4]


def test_briefing_question_files_report_bad_lines_by_number(tmp_path: Path) -> None:
    jsonl = load_briefing_questions(write(tmp_path, "q.jsonl", BAD_JSONL))
    # A briefing needs only the question: records without one, or not records, are the bad lines.
    assert len(jsonl.questions) == 3 and lines_of(jsonl.problems) == [2, 3, 5]
    csv = load_briefing_questions(write(tmp_path, "q.csv", BAD_CSV))
    # One record reader for both: a row with more cells than the header (its columns may have
    # shifted) is a bad line for a briefing too, not a question read from the wrong cell.
    assert csv.questions == ["First?", "Fourth?"] and lines_of(csv.problems) == [3, 4]
    yaml = load_briefing_questions(write(tmp_path, "q.yaml", BAD_YAML))
    assert yaml.questions == ["First?", "Fourth?"] and lines_of(yaml.problems) == [3, 4]
    text = load_briefing_questions(
        write(tmp_path, "q.txt", "# comment\nFirst question?\n\n?!\n" + "x" * 3000)
    )
    assert text.questions == ["First question?"] and lines_of(text.problems) == [4, 5]


HOSTILE = [
    ("deep.json", "[" * 100_000),
    ("deep.jsonl", "[" * 100_000),
    ("bigint.jsonl", "1" * 5000),
    ("deep.yaml", "[" * 100_000),
    ("surrogate.jsonl", '{"question": "Why \\ud800?", "answers": ["x"]}'),
]


@pytest.mark.parametrize(("name", "text"), HOSTILE)
def test_briefing_loader_survives_hostile_files(tmp_path: Path, name: str, text: str) -> None:
    loaded = load_briefing_questions(write(tmp_path, name, text))
    for question in loaded.questions:
        question.encode("utf-8")
    assert loaded.questions or loaded.problems


@pytest.mark.parametrize(("name", "text"), HOSTILE)
def test_eval_loader_survives_hostile_files(tmp_path: Path, name: str, text: str) -> None:
    try:
        loaded = load_questions(write(tmp_path, name, text))
    except UsageError:
        return  # a whole-file error with a clear message is fine
    assert loaded.questions or loaded.problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.one_of(
        st.binary(max_size=2000), st.text(max_size=1500).map(lambda t: t.encode("utf-8", "replace"))
    ),
    suffix=st.sampled_from([".txt", ".jsonl", ".json", ".csv", ".yaml"]),
)
@example(raw=b"[" * 100_000, suffix=".json")
@example(raw=b"- [" * 2000, suffix=".yaml")
@example(raw=b'{"questions": [{"question": 5}]}', suffix=".json")
def test_briefing_loader_never_crashes_on_arbitrary_bytes(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"questions{suffix}"
        path.write_bytes(raw)
        loaded = load_briefing_questions(path)
        assert all(problem.path == str(path) for problem in loaded.problems)
        assert loaded.questions or loaded.problems
