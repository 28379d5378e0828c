"""Loaders: every format the corpus may come in, and the bad input a real corpus holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest.loaders import decode_text, load_corpus
from rag.ingest.parsing import normalise_date

from .conftest import BENCHMARKS, DATA, SEED_FILE, SEEDS


def test_seed_text_file_by_lines_become_outlet_and_author() -> None:
    result = load_corpus([SEEDS])
    assert result.problems == []
    (article,) = result.articles
    assert article.doc_id == "000_fdd942f0bee30b84.txt"
    assert article.source == "Azernews"
    assert article.author == "Ayya Lmahamad"
    assert article.title.startswith("Azerbaijani Armed force act within the right of self-defense")
    assert article.text.startswith("Azerbaijani Armed force")
    assert "By Azernews" not in article.text
    assert "killing ten civilians" in article.text
    # The body is the file's text, verbatim, after the by-lines.
    assert article.text in SEED_FILE.read_text(encoding="utf-8")


def test_markdown_front_matter_and_heading() -> None:
    (article,) = load_corpus([DATA / "articles" / "volcano.md"]).articles
    assert article.doc_id == "volcano.md"
    assert article.title == "Volcano on Ruapehu erupts, villages evacuated"
    assert (article.source, article.author, article.published) == (
        "Harbour Gazette",
        "Mira Tane",
        "2022-07-14",
    )
    assert article.url == "https://example.org/ruapehu-eruption"
    assert article.text.startswith("The Ruapehu volcano erupted")


def test_html_keeps_text_only() -> None:
    (article,) = load_corpus([DATA / "articles" / "harvest.html"]).articles
    assert article.title == "Record wheat harvest in Saskatchewan"
    assert article.source == "Prairie Post"
    assert article.published == "2022-09-02"
    assert "15.2 million tonnes" in article.text
    assert "alert" not in article.text and "Home | World" not in article.text


def test_jsonl_records_map_field_aliases() -> None:
    articles = load_corpus([DATA / "articles" / "records.jsonl"]).articles
    bridge, chess = articles
    assert bridge.doc_id == "bridge-001"
    assert bridge.author == "Ana Petrova, Ivo Marinov"
    assert bridge.published == "2022-05-30"
    assert chess.text.startswith("A 15-year-old")  # `body` alias
    assert chess.source == "Baltic Daily"  # `outlet` alias


def test_json_list_and_csv(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps([{"id": "j1", "title": "T", "text": "Body one.", "published_at": "2021-01-02"}])
    )
    (tmp_path / "b.csv").write_text(
        'doc_id,title,body,outlet,date\nc1,Title,"Body, with comma.",Paper,2020-03-04\n'
    )
    articles = {a.doc_id: a for a in load_corpus([tmp_path]).articles}
    assert articles["j1"].published == "2021-01-02"
    assert articles["c1"].text == "Body, with comma."
    assert articles["c1"].source == "Paper"


def test_bad_inputs_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("By Paper\n\nA good article about rivers.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (tmp_path / "latin.txt").write_bytes("Caf\xe9 owners in Z\xfcrich protest.".encode("latin-1"))
    (tmp_path / "lines.jsonl").write_text(
        '{"id": "ok", "text": "Fine."}\n{broken\n{"id": "ok", "text": "dup"}\n'
    )
    (tmp_path / "notext.csv").write_text("id,title\n1,x\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    result = load_corpus([tmp_path])
    ids = {a.doc_id for a in result.articles}
    assert ids == {"good.txt", "latin.txt", "ok"}
    latin = next(a for a in result.articles if a.doc_id == "latin.txt")
    assert "Café owners in Zürich" in latin.text
    messages = [str(problem) for problem in result.problems]
    assert any("empty.txt" in m and "no article text" in m for m in messages)
    assert any("binary.txt" in m and "binary" in m for m in messages)
    assert any("lines.jsonl:2" in m and "invalid JSON" in m for m in messages)
    assert any("lines.jsonl" in m and "duplicate doc_id 'ok'" in m for m in messages)
    assert any("notext.csv" in m and "no 'text' or 'body' column" in m for m in messages)
    assert any("image.png" in m and "unsupported" in m for m in messages)
    assert any("latin.txt" in m and "not UTF-8" in m for m in messages)


def test_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    result = load_corpus([tmp_path / "nope"])
    assert result.articles == []
    assert "no such file" in str(result.problems[0])


def test_decode_text_prefers_utf8() -> None:
    assert decode_text("Zürich".encode()) == ("Zürich", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2022/06/03", "2022-06-03"),
        ("2022-06-03T10:00:00Z", "2022-06-03"),
        ("June 3, 2022", "2022-06-03"),
        ("yesterday", ""),
        ("", ""),
    ],
)
def test_normalise_date(raw: str, expected: str) -> None:
    assert normalise_date(raw) == expected


@pytest.mark.skipif(not (BENCHMARKS / "realtimeqa").exists(), reason="needs ../shared/benchmarks")
def test_reads_the_realtimeqa_articles_as_they_are() -> None:
    result = load_corpus([BENCHMARKS / "realtimeqa" / "articles.jsonl"])
    assert len(result.articles) == 1668
    assert result.problems == []
    first = result.articles[0]
    assert first.doc_id.startswith("rtqa-") and first.url.startswith("http") and first.published
