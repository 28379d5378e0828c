"""Stage 4: retrieve the passages that answer a question.

Hybrid by default: Chroma vector search and BM25 each bring candidates, fused by weighted
reciprocal rank; then a date prior (questions asked "this week" favour that week's articles),
and diversification (at most a few passages per article, wire copies of one story once).
Metadata filters go into both searches, never applied after the top-k is cut.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from chromadb.api.models.Collection import Collection
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode, NodeWithScore
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.vector_stores.chroma.base import _to_chroma_filter

from rag.retrieval.ranking import boost_window, date_window, diversify, fuse, merge_neighbours
from rag.store.chroma import chroma_errors, vector_store
from rag.store.lexical import LexicalIndex
from rag.types import Filters, Passage

RetrievalMode = Literal["hybrid", "vector", "bm25"]


@dataclass(frozen=True)
class RetrievalConfig:
    mode: RetrievalMode = "hybrid"
    candidates: int = 40  # from each side, before fusion
    vector_weight: float = 1.0
    # Measured on the RealTime QA dev questions (docs/benchmarks.md): BM25 ranks news better
    # than MiniLM alone, one passage per article finds more gold articles in the top 5 than
    # two, and a x2 date prior lifts MRR by ~0.15; round values, not fitted to the decimal.
    bm25_weight: float = 1.5
    per_article: int = 1  # passages of one article while other articles are left to show
    date_boost: float = 1.0  # fused score x (1 + boost) inside the question's date window
    duplicate_overlap: float = 0.6  # share of word 5-grams in common above which two passages are one story
    # Further candidates of a chosen article that overlap its passage are merged into it (at
    # most this many): one longer verbatim span instead of a passage that stops mid-story.
    merge_neighbours: int = 2


class Retriever:
    def __init__(
        self,
        collection: Collection,
        embed_model: BaseEmbedding,
        lexical: Callable[[], LexicalIndex | None] | None = None,
        config: RetrievalConfig | None = None,
    ) -> None:
        self._index = VectorStoreIndex.from_vector_store(vector_store(collection), embed_model=embed_model)
        self._lexical = lexical
        self.collection = collection
        self.config = config or RetrievalConfig()

    def with_config(self, config: RetrievalConfig) -> Retriever:
        """The same index and BM25 side, searched another way (for benchmarks and tests)."""
        clone = Retriever.__new__(Retriever)
        clone.__dict__.update(self.__dict__)
        clone.config = config
        return clone

    def term_rarity(self, terms: Iterable[str]) -> dict[str, float]:
        """How rare each stemmed term is in the collection (BM25's IDF); empty without BM25."""
        lexical = self._lexical() if self._lexical else None
        return lexical.rarity(terms) if lexical is not None else {}

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]:
        with chroma_errors():  # a Chroma server gone away: a StoreError, not httpx's exception
            return self._retrieve(question, k, filters)

    def _retrieve(self, question: str, k: int, filters: Filters | None) -> list[Passage]:
        filters = filters or Filters()
        config = self.config
        lexical = self._lexical() if self._lexical and config.mode != "vector" else None
        pool = max(config.candidates, 3 * k) * (2 if filters.as_of else 1)
        ranked_lists: list[tuple[float, list[Passage]]] = []
        if config.mode != "bm25" or lexical is None:
            vector = (
                self._vector_from_memory(question, pool, filters, lexical)
                if lexical is not None
                else self._vector(question, pool, filters)
            )
            ranked_lists.append((config.vector_weight, vector))
        if lexical is not None:
            ranked_lists.append((config.bm25_weight, self._bm25(lexical, question, pool, filters)))
        fused = [passage for passage in fuse(ranked_lists) if filters.published_by_then(passage)]
        window = date_window(question, filters.as_of)
        if window:
            fused = boost_window(fused, window, config.date_boost)
        chosen = diversify(fused, k, config.per_article, config.duplicate_overlap)
        return merge_neighbours(chosen, fused, config.merge_neighbours)

    def _vector(self, question: str, k: int, filters: Filters) -> list[Passage]:
        retriever = self._index.as_retriever(similarity_top_k=k, filters=llama_filters(filters))
        passages = [to_passage(hit) for hit in retriever.retrieve(question)]
        return [replace(p, similarity=p.score) for p in passages]

    def _vector_from_memory(
        self, question: str, k: int, filters: Filters, lexical: LexicalIndex
    ) -> list[Passage]:
        """The same search as `_vector`, with the chunks read from the BM25 side's copy in memory.

        Chroma's HNSW search takes ~1 ms at 45k chunks, reading the hits' documents and
        metadata from its SQLite ~5-10 ms more: so only ids and distances are asked for.
        The BM25 side holds the very same chunks (rebuilt whenever the chunk ids change);
        a chunk it does not know sends the query down the plain path.
        """
        embedding = self._index._embed_model.get_query_embedding(question)
        where = llama_filters(filters)
        result = self.collection.query(
            query_embeddings=np.asarray([embedding], dtype=np.float32),
            n_results=k,
            where=_to_chroma_filter(where) if where else None,
            include=["distances"],  # type: ignore[list-item]
        )
        distances = (result["distances"] or [[]])[0]
        passages = []
        for chunk_id, distance in zip(result["ids"][0], distances, strict=True):
            row = lexical.row_of(chunk_id)
            if row is None:
                return self._vector(question, k, filters)
            score = round(math.exp(-distance), 4)  # llama-index's ChromaVectorStore score
            passages.append(row_passage(lexical.row(row), score, similarity=score))
        return passages

    def _bm25(self, lexical: LexicalIndex, question: str, k: int, filters: Filters) -> list[Passage]:
        since, until = filters.hard_bounds()
        mask = lexical.mask(filters.sources, since, until)
        return [
            row_passage(lexical.row(row), round(score, 4)) for row, score in lexical.search(question, k, mask)
        ]


def row_passage(row: Mapping[str, Any], score: float, similarity: float = 0.0) -> Passage:
    """A passage from a stored chunk's node dict, as `to_passage` makes it from the node.

    The flat metadata is read as it is; only the text comes out of the node's JSON (a
    pydantic node per hit costs ~60 us, this ~10 us).
    """
    text = json.loads(row["_node_content"]).get("text", "")
    doc_id = str(row.get("ref_doc_id", ""))
    return passage_of(row, text, str(row.get("node_id", "")), doc_id, score, similarity)


def to_passage(hit: NodeWithScore) -> Passage:
    text = hit.node.get_content(MetadataMode.NONE)
    score = round(float(hit.score or 0.0), 4)
    return passage_of(hit.node.metadata, text, hit.node.node_id, hit.node.ref_doc_id or "", score)


def passage_of(
    meta: Mapping[str, Any], text: str, chunk_id: str, ref_doc_id: str, score: float, similarity: float = 0.0
) -> Passage:
    """A chunk's metadata (as rag/ingest/chunking.py stores it) and its text, as a Passage."""
    return Passage(
        doc_id=str(meta.get("doc_id", ref_doc_id)),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        author=str(meta.get("author", "")),
        published=str(meta.get("published", "")),
        url=str(meta.get("url", "")),
        text=text,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=score,
        chunk_id=chunk_id,
        similarity=similarity,
    )


def llama_filters(filters: Filters) -> MetadataFilters | None:
    """Translated by llama-index into a Chroma `where`: applied in the store's query."""
    where: list[MetadataFilter | MetadataFilters] = []
    if filters.sources:
        where.append(MetadataFilter(key="source", value=list(filters.sources), operator=FilterOperator.IN))
    since, until = filters.hard_bounds()
    if since is not None:
        where.append(MetadataFilter(key="published_day", value=since, operator=FilterOperator.GTE))
    if until is not None:
        where.append(MetadataFilter(key="published_day", value=until, operator=FilterOperator.LTE))
    return MetadataFilters(filters=where) if where else None
