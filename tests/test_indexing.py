"""Incremental, idempotent indexing against a real embedded Chroma and the real embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.service import RagService
from rag.store.chroma import stored_articles

from .conftest import make_settings


def test_second_index_embeds_nothing(tmp_path: Path, corpus: Path) -> None:
    service = RagService(make_settings(tmp_path))
    first = service.index([corpus], show_progress=False)
    assert (first.added, first.updated, first.unchanged, first.removed) == (5, 0, 0, 0)
    assert first.chunks_embedded == first.chunks_total > 5
    second = service.index([corpus], show_progress=False)
    assert (second.added, second.updated, second.unchanged, second.removed) == (0, 0, 5, 0)
    assert second.chunks_embedded == 0 and second.chunks_deleted == 0
    assert second.chunks_total == first.chunks_total
    # A fresh process (new client on the same folder) sees the same: nothing to embed.
    third = RagService(make_settings(tmp_path)).index([corpus], show_progress=False)
    assert third.chunks_embedded == 0 and third.chunks_total == first.chunks_total


def test_edit_replaces_and_removal_deletes(tmp_path: Path, corpus: Path) -> None:
    service = RagService(make_settings(tmp_path))
    service.index([corpus], show_progress=False)
    collection = service.collection()
    before = stored_articles(collection)

    volcano = corpus / "volcano.md"
    volcano.write_text(volcano.read_text().replace("1,200 residents", "1,300 residents"))
    (corpus / "harvest.html").unlink()
    report = service.index([corpus], show_progress=False)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 3, 1)

    after = stored_articles(collection)
    assert "harvest.html" not in after
    assert set(after["volcano.md"].chunk_ids).isdisjoint(before["volcano.md"].chunk_ids)
    texts = collection.get(where={"doc_id": "volcano.md"}, include=["documents"])["documents"]
    assert texts and any("1,300 residents" in text for text in texts)
    assert not any("1,200 residents" in text for text in texts)
    assert collection.count() == sum(len(entry.chunk_ids) for entry in after.values())


def test_a_run_cut_short_is_completed_by_the_next(tmp_path: Path, corpus: Path) -> None:
    service = RagService(make_settings(tmp_path))
    full = service.index([corpus], show_progress=False).chunks_total
    collection = service.collection()
    # As if killed half-way: some chunks of the seed article never reached the store.
    seed_chunks = stored_articles(collection)["000_fdd942f0bee30b84.txt"].chunk_ids
    collection.delete(ids=seed_chunks[: len(seed_chunks) // 2])
    report = service.index([corpus], show_progress=False)
    assert report.updated == 1
    assert report.chunks_total == full
    assert sorted(stored_articles(collection)["000_fdd942f0bee30b84.txt"].chunk_ids) == sorted(seed_chunks)


def test_records_removed_from_a_jsonl_file_go_away(tmp_path: Path, corpus: Path) -> None:
    service = RagService(make_settings(tmp_path))
    service.index([corpus], show_progress=False)
    records = corpus / "records.jsonl"
    records.write_text(records.read_text().split("\n")[0] + "\n")
    report = service.index([corpus], show_progress=False)
    assert report.removed == 1
    assert "chess-002" not in stored_articles(service.collection())


def test_indexing_one_folder_leaves_other_folders_alone(tmp_path: Path, corpus: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text("By Paper\n\nA story about lighthouses on the coast.")
    service = RagService(make_settings(tmp_path))
    service.index([corpus], show_progress=False)
    report = service.index([other], show_progress=False)
    assert (report.added, report.removed) == (1, 0)
    assert len(stored_articles(service.collection())) == 6


def test_every_reader_of_the_store_pages_through_all_chunks(
    seeded_service: RagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One page iterator serves the index, the BM25 build and the web chat's facets: with pages
    of 3 chunks, each still sees every chunk once."""
    from rag.store import chroma as store

    collection = seeded_service.collection()
    whole = collection.get(include=["metadatas", "documents"])  # type: ignore[list-item]
    monkeypatch.setattr(store, "PAGE", 3)
    chunks = list(store.stored_chunks(collection, text=True))
    assert len(whole["ids"]) > 3 and [chunk.id for chunk in chunks] == whole["ids"]
    assert [chunk.text for chunk in chunks] == whole["documents"]
    assert [dict(chunk.metadata) for chunk in chunks] == whole["metadatas"]
    assert [chunk.metadata for chunk in store.stored_chunks(collection, metadata=False)] == [{}] * len(chunks)
    facets = store.collection_facets(collection)
    assert facets.chunks == len(chunks)
    assert (
        facets.articles
        == len(stored_articles(collection))
        == len({m["doc_id"] for m in whole["metadatas"] or []})
    )
    assert facets.first <= facets.last and facets.sources
