"""Search over the real store: rank order, metadata, filters applied in the query."""

from __future__ import annotations

from pathlib import Path

from rag.service import RagService
from rag.types import Filters

from .conftest import GANJA_QUESTION, make_settings


def test_search_finds_the_ganja_passage(seeded_service: RagService) -> None:
    passages = seeded_service.search(GANJA_QUESTION, k=3)
    assert len(passages) == 3
    assert passages[0].score >= passages[1].score >= passages[2].score
    top = passages[0]
    assert "killing ten civilians" in top.text
    assert top.source == "Azernews" and top.author == "Ayya Lmahamad"


def test_passage_offsets_are_verbatim(seeded_service: RagService) -> None:
    from rag.ingest.loaders import load_corpus

    from .conftest import SEEDS

    (article,) = load_corpus([SEEDS]).articles
    for passage in seeded_service.search("missile attack", k=4):
        assert article.text[passage.start : passage.end] == passage.text


def test_filters_by_outlet_and_date(tmp_path: Path, corpus: Path) -> None:
    service = RagService(make_settings(tmp_path))
    service.index([corpus], show_progress=False)
    question = "What happened this year?"
    only_gazette = service.search(question, k=10, filters=Filters(sources=("Harbour Gazette",)))
    assert only_gazette and {p.source for p in only_gazette} == {"Harbour Gazette"}
    summer = service.search(question, k=10, filters=Filters(since="2022-07-01", until="2022-08-31"))
    assert {p.doc_id for p in summer} == {"volcano.md", "chess-002"}
