"""Chunks are verbatim spans of their article, sized for the embedding model, with stable ids."""

from __future__ import annotations

import itertools

from rag.ingest.chunking import Chunker, locate_spans
from rag.ingest.loaders import load_corpus
from rag.settings import Settings
from rag.store.embedding import make_tokenizer
from rag.types import Article

from .conftest import DATA, SEEDS


def make_chunker(size: int = 200, overlap: int = 30) -> Chunker:
    return Chunker(size, overlap, make_tokenizer(Settings()))


def test_chunks_are_verbatim_and_fit_the_model() -> None:
    chunker = make_chunker()
    articles = load_corpus([SEEDS, DATA / "articles"]).articles
    assert len(articles) == 5
    for article in articles:
        nodes = chunker.split(article)
        assert nodes
        for node in nodes:
            start, end = node.start_char_idx, node.end_char_idx
            assert start is not None and end is not None
            assert article.text[start:end] == node.text
            assert node.metadata["start"] == start and node.metadata["end"] == end
            assert len(chunker.tokenizer(node.text)) <= 200
        # Together the chunks cover the whole article.
        assert nodes[0].start_char_idx == 0
        assert nodes[-1].end_char_idx == len(article.text)


def test_seed_splits_into_ordered_chunks_without_gaps() -> None:
    (article,) = load_corpus([SEEDS]).articles
    nodes = make_chunker().split(article)
    assert len(nodes) >= 3
    for a, b in itertools.pairwise(nodes):
        assert a.start_char_idx < b.start_char_idx  # type: ignore[operator]
        # Either they overlap or only white space lies between them.
        assert article.text[a.end_char_idx : b.start_char_idx].strip() == ""


def test_ids_are_stable_and_follow_content() -> None:
    article = Article(doc_id="x", text="One sentence here. " * 60, title="T")
    chunker = make_chunker(64, 8)
    first = [node.id_ for node in chunker.split(article)]
    assert first == [node.id_ for node in chunker.split(article)]
    edited = Article(doc_id="x", text=article.text + "A new ending.", title="T")
    assert [node.id_ for node in chunker.split(edited)] != first
    retitled = Article(doc_id="x", text=article.text, title="Other")
    assert set(node.id_ for node in chunker.split(retitled)).isdisjoint(first)


def test_embedded_text_carries_title_outlet_date_but_quote_does_not() -> None:
    (article,) = load_corpus([DATA / "articles" / "volcano.md"]).articles
    node = make_chunker().split(article)[0]
    embedded = node.get_content("embed")  # type: ignore[arg-type]
    assert embedded.startswith("Volcano on Ruapehu erupts, villages evacuated · Harbour Gazette · 2022-07-14")
    assert "origin" not in embedded and "doc_hash" not in embedded
    assert node.text.startswith("The Ruapehu volcano")


def test_locate_spans_in_order_with_repeats() -> None:
    text = "abc abc abc"
    assert locate_spans(text, ["abc", "abc", "abc"]) == [(0, 3), (4, 7), (8, 11)]
