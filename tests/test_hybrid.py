"""Hybrid retrieval: BM25 persisted beside the index and kept in step, fusion, dates, diversity."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from rag.retrieval.ranking import date_window, diversify, fuse
from rag.service import RagService
from rag.store import lexical
from rag.types import Filters, Passage

from .conftest import make_settings


def passage(chunk_id: str, doc_id: str, text: str = "x", similarity: float = 0.0) -> Passage:
    return Passage(doc_id, "", "", "", "", "", text, 0, len(text), similarity, chunk_id, similarity)


def test_rrf_rewards_agreement() -> None:
    vector = [passage("a", "1", similarity=0.9), passage("b", "2", similarity=0.8)]
    bm25 = [passage("b", "2"), passage("c", "3")]
    fused = fuse([(1.0, vector), (1.0, bm25)])
    assert [p.chunk_id for p in fused] == ["b", "a", "c"]
    assert fused[0].similarity == 0.8  # the vector score survives fusion


def test_diversify_caps_articles_and_drops_wire_copies() -> None:
    story = "The central bank raised interest rates by half a point on Wednesday to fight inflation."
    ranked = [
        passage("a1", "A", "first part of article A about something else entirely here"),
        passage("a2", "A", "second part of article A about yet another matter"),
        passage("a3", "A", "third part of article A, one too many"),
        passage("b1", "B", story),
        passage("c1", "C", "Wire copy: " + story),
        passage("d1", "D", "A different story about football."),
    ]
    chosen = diversify(ranked, 4, per_article=2, max_overlap=0.6)
    assert [p.chunk_id for p in chosen] == ["a1", "a2", "b1", "d1"]
    # Places left over are filled with the article's further passages, in rank order.
    assert [p.chunk_id for p in diversify(ranked, 5, 1, 0.6)] == ["a1", "a2", "a3", "b1", "d1"]


def test_date_window_resolves_relative_dates() -> None:
    asked = "2022-06-16"  # a Thursday
    assert date_window("What happened this week?", asked) == (date(2022, 6, 8), date(2022, 6, 16))
    assert date_window("What happened yesterday?", asked) == (date(2022, 6, 15), date(2022, 6, 15))
    assert date_window("Who resigned last Tuesday?", asked) == (date(2022, 6, 13), date(2022, 6, 15))
    assert date_window("What happened this week?", None) is None


def test_bm25_is_persisted_and_follows_the_index(tmp_path: Path, corpus: Path) -> None:
    settings = make_settings(tmp_path)
    service = RagService(settings)
    service.index([corpus], show_progress=False)
    hits = service.search("Saskatchewan wheat harvest tonnes", k=3)
    assert hits[0].doc_id == "harvest.html"
    folder = service.lexical_dir("seeds")
    state = (folder / lexical.STATE_FILE).read_text()
    # A new process loads the saved BM25 instead of rebuilding it.
    again = RagService(settings)
    again.search("wheat", k=1)
    assert (folder / lexical.STATE_FILE).read_text() == state
    # Removing an article changes the chunk ids: the BM25 side is rebuilt without it.
    (corpus / "harvest.html").unlink()
    again.index([corpus], show_progress=False)
    assert all(p.doc_id != "harvest.html" for p in again.search("Saskatchewan wheat harvest", k=5))
    assert (folder / lexical.STATE_FILE).read_text() != state


def test_bm25_only_mode_and_filters_reach_both_sides(tmp_path: Path, corpus: Path) -> None:
    service = RagService(make_settings(tmp_path))
    service.index([corpus], show_progress=False)
    retriever = service.retriever()
    bm25 = retriever.with_config(replace(retriever.config, mode="bm25")).retrieve("Danube bridge Vidin", 3)
    assert bm25[0].doc_id == "bridge-001" and bm25[0].similarity == 0.0
    only_baltic = retriever.retrieve("Danube bridge Vidin", 5, Filters(sources=("Baltic Daily",)))
    assert {p.doc_id for p in only_baltic} == {"chess-002"}
    before_june = retriever.retrieve("Danube bridge", 5, Filters(as_of="2022-06-01"))
    assert {p.doc_id for p in before_june} <= {"bridge-001", "000_fdd942f0bee30b84.txt"}


# --- the fast paths give what llama-index's own retrievers give --------------------------------

FAST_PATH_QUESTIONS = [
    "How many civilians were killed in the attack on Ganja?",
    "When did the new bridge over the Danube open?",
    "volcano eruption ash",
    "harbour festival visitors",
]


def test_vector_and_bm25_from_memory_equal_the_llama_index_paths(tmp_path: Path, corpus: Path) -> None:
    """Chroma asked for ids only, chunks read from the BM25 side; BM25 rows instead of nodes."""
    from llama_index.core.schema import QueryBundle
    from llama_index.retrievers.bm25 import BM25Retriever

    from rag.retrieval.retriever import to_passage

    service = RagService(make_settings(tmp_path, llm="extractive"))
    service.index([corpus], show_progress=False)
    retriever = service.retriever()
    index = retriever._lexical() if retriever._lexical else None
    assert index is not None
    filter_sets = [
        Filters(),
        Filters(sources=("River News",)),
        Filters(since="2022-06-01", until="2022-12-31"),
    ]
    for question in FAST_PATH_QUESTIONS:
        for filters in filter_sets:
            plain = retriever._vector(question, 8, filters)
            fast = retriever._vector_from_memory(question, 8, filters, index)
            assert fast == plain and plain, (question, filters)

            since, until = filters.hard_bounds()
            mask = index.mask(filters.sources, since, until)
            bm25 = BM25Retriever(
                existing_bm25=index.retriever.bm25,
                similarity_top_k=8,
                corpus_weight_mask=mask.astype(int).tolist() if mask is not None else None,
            )
            bm25.corpus = index.retriever.corpus
            expected = [
                to_passage(hit) for hit in bm25.retrieve(QueryBundle(question)) if (hit.score or 0) > 0
            ]
            assert retriever._bm25(index, question, 8, filters) == expected, (question, filters)


def test_overlapping_candidates_of_a_chosen_article_are_merged_verbatim() -> None:
    from rag.retrieval.ranking import merge_neighbours

    article = "One. Two three four. Five six. Seven eight nine. Ten."

    def span(chunk_id: str, start: int, end: int, doc_id: str = "A") -> Passage:
        return Passage(doc_id, "", "", "", "", "", article[start:end], start, end, 0.5, chunk_id, 0.5)

    chosen = [span("a2", 5, 30), span("b1", 0, 10, doc_id="B")]
    candidates = [
        chosen[0],
        span("a3", 25, 49),  # overlaps a2's end
        span("a1", 0, 8),  # overlaps a2's start
        span("a5", 50, 54),  # a gap before it: never joined
        chosen[1],
    ]
    merged = merge_neighbours(chosen, candidates, limit=2)
    grown = merged[0]
    assert (grown.start, grown.end, grown.chunk_id) == (0, 49, "a2")
    assert grown.text == article[0:49]  # still the article's own characters
    assert merged[1] == chosen[1]  # nothing of B's to merge
    assert merge_neighbours(chosen, candidates, limit=1)[0].text == article[5:49]
    assert merge_neighbours(chosen, candidates, limit=0) == chosen
