"""Bad corpus input: each bad file gets one warning naming it (and its line), the rest indexes,
and `rag index` exits 1 ("partial"). Plus a property test: arbitrary bytes never crash a loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.ingest.chunking import Chunker
from rag.ingest.loaders import LoadResult, load_corpus, load_file
from rag.ingest.parsing import MAX_ARTICLE_BYTES
from rag.service import RagService
from rag.settings import Settings
from rag.store.chroma import stored_articles
from rag.store.embedding import make_tokenizer
from rag.types import Article, LoadProblem

from .conftest import make_settings

RUSSIAN = "Министр заявил, что в Гяндже 11 октября погибли десять мирных жителей."
LATIN = "Les habitants de Zürich ont manifesté devant le café de la gare."
GOOD = "By Test Paper\n\nA good article about the rivers of the valley, and the bridges over them."


def build_bad_corpus(folder: Path) -> dict[str, int]:
    """Good files beside every kind of bad input; returns bad file -> warnings expected for it."""
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    (folder / "good.md").write_text("---\ntitle: Harbour\n---\nThe harbour reopened after the storm.\n")
    (folder / "good.html").write_text(
        "<html><body><article><p>Trains ran late on Monday.</p></article></body></html>"
    )
    (folder / "good.jsonl").write_text(
        '{"id": "good-1", "text": "Wheat prices rose in May."}\n{"id": "good-2", "text": "Rain fell."}\n'
    )
    (folder / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text("  \n\n\t\n")
    (folder / "russian.txt").write_bytes(RUSSIAN.encode("cp1251"))  # read, with a note
    (folder / "latin1.txt").write_bytes(LATIN.encode("latin-1"))  # read, with a note
    with (folder / "huge.txt").open("wb") as handle:  # a 50 MB "article"
        line = b"All work and no play makes Jack a dull boy. " * 100 + b"\n"
        for _ in range(50 * 2**20 // len(line) + 1):
            handle.write(line)
    (folder / "lines.jsonl").write_text(
        "\n".join(
            [
                '{"id": "line-1", "text": "The first line is fine."}',
                "{broken json",
                "[" * 100_000,  # nesting too deep for the JSON parser
                "1" * 5000,  # an integer too long to convert
                '"a string, not an object"',
                '{"id": "line-6", "title": "no text"}',
                '{"id": "line-7", "text": "The last line is fine too."}',
            ]
        )
        + "\n"
    )
    (folder / "notext.csv").write_text("id,title\n1,A title but no text column\n")
    (folder / "zz_dupes.jsonl").write_text('{"id": "good-1", "text": "Another article claiming good-1."}\n')
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "items.json").write_text(
        json.dumps([{"text": "First item."}, {"text": "Second item."}, {"title": "no text"}])
    )
    (folder / "surrogate.jsonl").write_text('{"id": "sur-1", "text": "Broken \\ud800 escape here."}\n')
    (folder / "empty.jsonl").write_text("\n\n")
    (folder / "nothing.json").write_text("[]")
    (folder / "loop_a.txt").symlink_to(folder / "loop_b.txt")
    (folder / "loop_b.txt").symlink_to(folder / "loop_a.txt")
    (folder / "cycle").symlink_to(folder)  # a folder linking to itself
    (folder / "dangling.md").symlink_to(folder / "gone.md")
    os.mkfifo(folder / "pipe.txt")  # reading it would wait forever
    return {
        "binary.txt": 1,
        "empty.txt": 1,
        "blank.md": 1,
        "russian.txt": 1,
        "latin1.txt": 1,
        "huge.txt": 1,
        "lines.jsonl": 5,
        "notext.csv": 1,
        "zz_dupes.jsonl": 1,
        "deep.json": 1,
        "items.json": 1,
        "empty.jsonl": 1,
        "nothing.json": 1,
        "loop_a.txt": 1,
        "loop_b.txt": 1,
        "cycle": 1,
        "dangling.md": 1,
        "pipe.txt": 1,
    }


EXPECTED_IDS = {
    "good.txt", "good.md", "good.html", "good-1", "good-2", "russian.txt", "latin1.txt",
    "line-1", "line-7", "items.json#item1", "items.json#item2", "sur-1",
}  # fmt: skip


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("bad") / "corpus"
    return folder, build_bad_corpus(folder)


def load_with_deadline(paths: list[Path], seconds: float = 60.0) -> LoadResult:
    """load_corpus in a thread: a loader stuck on a pipe fails the test instead of hanging it."""
    box: list[LoadResult] = []
    worker = threading.Thread(target=lambda: box.append(load_corpus(paths)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"load_corpus did not return within {seconds:.0f} s"
    return box[0]


def warnings_by_file(problems: list[LoadProblem]) -> Counter[str]:
    return Counter(Path(problem.path).name for problem in problems)


def test_each_bad_file_gets_its_warnings_and_the_rest_loads(bad_corpus: tuple[Path, dict[str, int]]) -> None:
    folder, expected = bad_corpus
    result = load_with_deadline([folder])
    assert {article.doc_id for article in result.articles} == EXPECTED_IDS
    assert warnings_by_file(result.problems) == Counter(expected)
    messages = {Path(p.path).name + (f":{p.line}" if p.line else ""): p.message for p in result.problems}
    assert "binary" in messages["binary.txt"]
    assert "empty" in messages["empty.txt"] and "empty" in messages["blank.md"]
    assert "Windows-1251" in messages["russian.txt"] and "Windows-1252" in messages["latin1.txt"]
    assert "50.0 MB, over the 2.0 MB limit for one article" in messages["huge.txt"]
    assert {f"lines.jsonl:{n}" for n in (2, 3, 4, 5, 6)} <= set(messages)
    assert "no 'text' or 'body' column" in messages["notext.csv:1"]
    assert "duplicate doc_id 'good-1'" in messages["zz_dupes.jsonl"]
    assert "invalid JSON" in messages["deep.json"]
    assert messages["items.json"].startswith("item 3: record has no text")
    assert "empty file" in messages["empty.jsonl"] and "no records" in messages["nothing.json"]
    assert "cannot read" in messages["loop_a.txt"] and "cannot read" in messages["dangling.md"]
    assert "symbolic link loop" in messages["cycle"]
    assert "not a regular file" in messages["pipe.txt"]
    by_id = {article.doc_id: article for article in result.articles}
    assert by_id["russian.txt"].text == RUSSIAN and by_id["latin1.txt"].text == LATIN
    assert by_id["sur-1"].text == "Broken \ufffd escape here."
    for article in result.articles:  # everything that loads can be stored as UTF-8
        assert article.text.strip() and article.content_hash


def test_rag_index_warns_per_file_indexes_the_rest_and_exits_partial(
    bad_corpus: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    folder, expected = bad_corpus
    result = CliRunner().invoke(
        app, ["index", str(folder), "--quiet"], env={"RAG_INDEX_DIR": str(tmp_path / "index")}
    )
    assert result.exit_code == 1, result.output  # partial
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == sum(expected.values())
    for name in expected:
        assert any(name in line for line in warnings), name
    assert f"articles: {len(EXPECTED_IDS)} added" in result.stdout
    assert f"partial: {sum(expected.values())} problem(s) above; the rest is indexed." in result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.output
    stored = stored_articles(RagService(Settings(index_dir=tmp_path / "index")).collection())
    assert set(stored) == EXPECTED_IDS


def test_unreadable_files_and_folders_are_reported(tmp_path: Path) -> None:
    """chmod 000 means nothing to root, so as root the loader runs as `nobody` in a subprocess."""
    folder = Path(tempfile.mkdtemp(prefix="rag-perm-"))  # under /tmp: `nobody` may enter it
    try:
        folder.chmod(0o755)
        (folder / "good.txt").write_text(GOOD)
        (folder / "secret.txt").write_text("By Paper\n\nA secret.")
        (folder / "locked").mkdir()
        (folder / "locked" / "inside.txt").write_text("By Paper\n\nInside a locked folder.")
        (folder / "secret.txt").chmod(0o000)
        (folder / "locked").chmod(0o000)
        # Python itself lives under /root here, out of `nobody`'s reach: the child imports what
        # it needs as root, then drops to `nobody` before it reads the corpus.
        script = (
            "import json, os, sys; import encodings.utf_8_sig; from rag.ingest.loaders import load_corpus\n"
            "if os.geteuid() == 0: os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "r = load_corpus([sys.argv[1]])\n"
            "print(json.dumps([[a.doc_id for a in r.articles], [str(p) for p in r.problems]]))"
        )
        run = subprocess.run(
            [sys.executable, "-c", script, str(folder)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        ids, problems = json.loads(run.stdout)
        assert ids == ["good.txt"]
        assert len(problems) == 2
        assert any("secret.txt: cannot read: Permission denied" in p for p in problems)
        assert any("locked: cannot read folder: Permission denied" in p for p in problems)
    finally:
        (folder / "locked").chmod(0o755)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_a_doc_id_indexed_from_another_file_is_not_overwritten(tmp_path: Path) -> None:
    """Two folders each with note.txt: the second index run must not replace the first's article."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "note.txt").write_text("By Paper\n\nThe lighthouse on the northern cape was repainted red.")
    (second / "note.txt").write_text("By Paper\n\nA different story about apple orchards in the south.")
    service = RagService(make_settings(tmp_path, llm="extractive"))
    assert service.index([first], show_progress=False).added == 1
    report = service.index([second], show_progress=False)
    assert (report.added, report.updated) == (0, 0)
    assert [str(problem) for problem in report.problems] == [
        f"{second / 'note.txt'}: duplicate doc_id 'note.txt' (already indexed from {first / 'note.txt'}); "
        "skipped"
    ]
    texts = service.collection().get(where={"doc_id": "note.txt"}, include=["documents"])["documents"]
    assert texts and all("lighthouse" in text for text in texts)
    again = service.index([first], show_progress=False)  # no flip-flop either
    assert (again.unchanged, again.updated, again.problems) == (1, 0, [])


# --- property: arbitrary bytes ----------------------------------------------------------------

SUFFIXES = [".txt", ".md", ".html", ".json", ".jsonl", ".csv"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
record = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(st.text(max_size=60), json_values)
        for key in ("id", "doc_id", "text", "body", "title", "source", "author", "date", "url")
    },
)
corpus_bytes = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=2000).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.text(alphabet=st.characters(max_codepoint=0x4FF), max_size=500).map(
        lambda text: text.encode("cp1251", "replace")
    ),
    st.lists(record, max_size=5).map(lambda items: json.dumps(items).encode()),
    st.lists(st.one_of(record.map(json.dumps), st.text(max_size=30)), max_size=6).map(
        lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")
    ),
    st.lists(st.lists(st.text(max_size=20), max_size=4), max_size=5).map(
        lambda rows: "\n".join(",".join(row) for row in [["id", "text", "title"], *rows]).encode(
            "utf-8", "surrogatepass"
        )
    ),
)


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    settings = Settings()
    return Chunker(settings.chunk_size, settings.chunk_overlap, make_tokenizer(settings))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=corpus_bytes, suffix=st.sampled_from(SUFFIXES))
@example(raw=b"[" * 50_000, suffix=".json")
@example(raw=b"1" * 5000, suffix=".jsonl")
@example(raw=b'{"text": "\\udc80 lone"}', suffix=".jsonl")
@example(raw=b'[{"text": "a"}, {"text": "b"}]', suffix=".json")
@example(raw=b"text\n" + b'"' * 10 + b"\x00", suffix=".csv")
@example(raw=b"<" * 3000, suffix=".html")
@example(raw="Привет, мир. Это статья.".encode("cp1251"), suffix=".txt")
def test_loaders_never_crash_on_arbitrary_bytes(raw: bytes, suffix: str, chunker: Chunker) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / f"input{suffix}"
        file.write_bytes(raw)
        items = list(load_file(file, Path(folder)))  # must not raise
        articles = [item for item in items if isinstance(item, Article)]
        problems = [item for item in items if isinstance(item, LoadProblem)]
        assert len(articles) + len(problems) == len(items)
        assert all(problem.path == str(file) for problem in problems)
        if not articles:
            assert problems, "a file that gives no article must say why"
        for article in articles:
            fields = (article.doc_id, article.text, article.title, article.source, article.author)
            for value in (*fields, article.published, article.url):
                value.encode("utf-8")  # storable: no lone surrogates
            assert article.doc_id and article.text.strip() and len(article.text) <= MAX_ARTICLE_BYTES
            nodes = chunker.split(article)
            assert nodes, "an article with text must give at least one chunk"
            for node in nodes:  # and every chunk is a verbatim slice
                start, end = int(node.metadata["start"]), int(node.metadata["end"])
                assert article.text[start:end] == node.get_content()
