"""`rag index` killed with SIGKILL mid-embedding, then run again, ends with exactly the chunks
of a clean index (none missing, none twice), BM25 included; two runs at once are serialised."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from chromadb.api.models.Collection import Collection

from rag.service import RagService
from rag.settings import Settings
from rag.store import lexical

from .corpus_gen import stored_ids, stored_rows, write_corpus

ARTICLES = 45  # ~90 chunks: a few seconds of embedding
SMALL = 8  # articles for the two runs at once
WRITE_BATCH = 8  # chunks per write, so a kill lands between writes of one run


def cli_env(index_dir: Path) -> dict[str, str]:
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_EMBED_WRITE_BATCH": str(WRITE_BATCH)}
    env.pop("OPENAI_API_KEY", None)
    return env


def rag_index(corpus: Path, index_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "rag.apps.cli.main", "index", str(corpus)],
            env=cli_env(index_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def chunk_records(collection: Collection) -> list[tuple[str, str, int, int, str]]:
    """(chunk id, doc_id, start, end, article hash) of every stored chunk."""
    got = collection.get(include=["metadatas"])  # type: ignore[list-item]
    return sorted(
        (chunk_id, str(m["doc_id"]), int(m["start"]), int(m["end"]), str(m["doc_hash"]))  # type: ignore[arg-type]
        for chunk_id, m in zip(got["ids"], got["metadatas"] or [], strict=True)
    )


def assert_same_as_clean(collection: Collection, clean: list[tuple[str, str, int, int, str]]) -> None:
    records = chunk_records(collection)
    assert collection.count() == len(clean)
    assert records == clean  # same chunk ids, same spans: none missing, none extra
    spans = Counter((doc_id, start, end) for _, doc_id, start, end, _ in records)
    assert max(spans.values()) == 1, "a chunk stored twice"
    # The vector index holds every chunk too (not only the SQLite metadata).
    got = collection.get(ids=[records[0][0]], include=["embeddings"])  # type: ignore[list-item]
    hits = collection.query(query_embeddings=got["embeddings"], n_results=len(clean))  # type: ignore[arg-type]
    assert sorted(hits["ids"][0]) == sorted(record[0] for record in clean)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("generated") / "corpus", ARTICLES)


def clean_index(corpus: Path, index_dir: Path, articles: int) -> list[tuple[str, str, int, int, str]]:
    """The reference: the same corpus indexed once, undisturbed, in its own folder."""
    service = RagService(Settings(index_dir=index_dir, llm="extractive"))
    report = service.index([corpus], show_progress=False)
    assert report.added == articles and not report.problems
    records = chunk_records(service.collection())
    assert len(records) > articles  # some articles span several chunks (and several writes)
    return records


@pytest.fixture(scope="module")
def clean(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, int, int, str]]:
    return clean_index(corpus, tmp_path_factory.mktemp("clean") / "index", ARTICLES)


def test_kill_9_mid_embedding_then_index_again(
    corpus: Path, clean: list[tuple[str, str, int, int, str]], tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    doc_of = {chunk_id: doc_id for chunk_id, doc_id, *_ in clean}
    chunks_per_doc = Counter(doc_of.values())
    process = rag_index(corpus, index_dir, tmp_path / "killed.log")
    deadline = time.monotonic() + 600
    cut: set[str] = set()  # articles with some but not all of their chunks stored at the kill
    while process.poll() is None and time.monotonic() < deadline:
        if stored_rows(index_dir) >= 2 * WRITE_BATCH:
            # Frozen, the run is looked at: killed when an article straddles two writes.
            process.send_signal(signal.SIGSTOP)
            ids = stored_ids(index_dir) or set()
            stored_per_doc = Counter(doc_of[chunk_id] for chunk_id in ids if chunk_id in doc_of)
            cut = {doc for doc, count in stored_per_doc.items() if count < chunks_per_doc[doc]}
            if cut and len(ids) < len(clean):
                process.send_signal(signal.SIGKILL)
                break
            process.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    assert process.wait(timeout=60) == -signal.SIGKILL, (tmp_path / "killed.log").read_text()
    assert cut, "the kill should leave an article half stored"

    # The half-built collection opens, is searchable, and its BM25 side gets built from it.
    service = RagService(Settings(index_dir=index_dir, llm="extractive"))
    after_kill = service.collection().count()
    assert 0 < after_kill < len(clean), f"killed with {after_kill} of {len(clean)} chunks stored"
    assert service.search("news item number 3", k=3)
    state = json.loads((service.lexical_dir("seeds") / lexical.STATE_FILE).read_text())
    assert state["chunks"] == after_kill

    report = service.index([corpus], show_progress=False)  # `rag index` again
    assert report.added + report.updated + report.unchanged == ARTICLES and not report.problems
    assert report.chunks_embedded == len(clean) - after_kill  # only what the kill cost
    assert_same_as_clean(service.collection(), clean)

    # BM25 notices the collection changed and is rebuilt from it: every chunk, none twice.
    last = f"main news item number {ARTICLES - 1} this season"
    retriever = service.retriever()
    hits = retriever.with_config(replace(retriever.config, mode="bm25")).retrieve(last, 3)
    assert hits and hits[0].doc_id == f"story_{ARTICLES - 1:04d}.txt"
    state = json.loads((service.lexical_dir("seeds") / lexical.STATE_FILE).read_text())
    assert state["chunks"] == len(clean)


def test_two_index_runs_at_once_are_serialised(tmp_path: Path) -> None:
    """The test holds the lock while both start, so they surely meet; then lets them go."""
    import fcntl

    corpus = write_corpus(tmp_path / "corpus", SMALL)
    clean = clean_index(corpus, tmp_path / "clean", SMALL)
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    lock = os.open(index_dir / ".rag-index.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    runs = [rag_index(corpus, index_dir, log) for log in logs]
    try:
        deadline = time.monotonic() + 600
        waiting = "Another `rag index` is running on this index; waiting for it…"
        while not all(waiting in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(run.poll() is None for run in runs), [
                log.read_text() for log in logs
            ]
            time.sleep(0.1)
        time.sleep(1.0)
        assert stored_rows(index_dir) == 0, "a run wrote while another held the lock"
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    assert [run.wait(timeout=600) for run in runs] == [0, 0], [log.read_text() for log in logs]
    outputs = sorted(log.read_text() for log in logs)
    # One run indexed everything; the other waited for it, then found nothing left to do.
    added = [text for text in outputs if f"articles: {SMALL} added" in text]
    idle = [text for text in outputs if f"0 added, 0 updated, {SMALL} unchanged" in text]
    assert len(added) == 1 and len(idle) == 1, outputs
    assert "chunks: 0 embedded" in idle[0]
    service = RagService(Settings(index_dir=index_dir, llm="extractive"))
    assert_same_as_clean(service.collection(), clean)
