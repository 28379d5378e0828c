"""Stage 4: retrieve the passages that answer a question.

Hybrid by default: Chroma vector search and BM25 each bring candidates, fused by weighted
reciprocal rank; then a date prior (questions asked "this week" favour that week's articles),
and diversification (at most a few passages per article, wire copies of one story once).
Metadata filters go into both searches, never applied after the top-k is cut.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal, Protocol

import numpy as np
from chromadb.api.models.Collection import Collection
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode, NodeWithScore
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.vector_stores.chroma.base import _to_chroma_filter

from rag.ingest.chunking import day_number
from rag.inputs import check_date_range
from rag.store.chroma import chroma_errors, vector_store
from rag.store.lexical import LexicalIndex

RetrievalMode = Literal["hybrid", "vector", "bm25"]
RRF_K = 60.0


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk: a verbatim span `text == article.text[start:end]` of a named article."""

    doc_id: str
    title: str
    source: str
    author: str
    published: str
    url: str
    text: str
    start: int
    end: int
    score: float
    chunk_id: str = ""
    similarity: float = 0.0  # the vector side's score (0 when only BM25 found it)

    def public(self) -> dict[str, object]:
        """The fields `rag search --json` prints."""
        data = asdict(self)
        data.pop("chunk_id")
        data.pop("similarity")
        return data


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    since: str | None = None  # ISO date, inclusive
    until: str | None = None
    # The date the question was asked: "this week" resolves against it, later news is excluded.
    as_of: str | None = None

    @classmethod
    def from_user(
        cls,
        sources: Sequence[str] | None,
        since: str | None,
        until: str | None,
        date_names: tuple[str, str] = ("--since", "--until"),
    ) -> Filters | None:
        """The user's outlet and date filters, checked; None when none is set."""
        since, until = check_date_range(since, until, date_names)
        if not (sources or since or until):
            return None
        return cls(sources=tuple(sources or ()), since=since, until=until)

    def hard_bounds(self) -> tuple[int | None, int | None]:
        """The user's date range, applied inside both searches."""
        return (
            day_number(self.since) if self.since else None,
            day_number(self.until) if self.until else None,
        )

    def published_by_then(self, passage: Passage) -> bool:
        """As of the question's date: news published later cannot be what it asks about.

        Applied to a doubled candidate pool rather than in Chroma's query: a `where` clause
        costs Chroma ~100 ms at 19k chunks, the pool costs nothing. Undated articles stay.
        """
        day = day_number(passage.published)
        return not self.as_of or day == 0 or day <= day_number(self.as_of)

    def to_llama(self) -> MetadataFilters | None:
        """Translated by llama-index into a Chroma `where`: applied in the store's query."""
        filters: list[MetadataFilter | MetadataFilters] = []
        if self.sources:
            filters.append(MetadataFilter(key="source", value=list(self.sources), operator=FilterOperator.IN))
        since, until = self.hard_bounds()
        if since is not None:
            filters.append(MetadataFilter(key="published_day", value=since, operator=FilterOperator.GTE))
        if until is not None:
            filters.append(MetadataFilter(key="published_day", value=until, operator=FilterOperator.LTE))
        return MetadataFilters(filters=filters) if filters else None


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


WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def date_window(question: str, as_of: str | None) -> tuple[date, date] | None:
    """The days a question's relative date means, counted back from the day it was asked."""
    if not as_of:
        return None
    try:
        asked = date.fromisoformat(as_of)
    except ValueError:
        return None
    text = question.lower()
    if "yesterday" in text:
        return asked - timedelta(days=1), asked - timedelta(days=1)
    if "today" in text or "tonight" in text:
        return asked - timedelta(days=1), asked
    if "last week" in text:
        return asked - timedelta(days=14), asked - timedelta(days=6)
    for index, name in enumerate(WEEKDAYS):
        if re.search(rf"\b(last|on|this past) {name}\b", text):
            back = (asked.weekday() - index) % 7 or 7
            day = asked - timedelta(days=back)
            return day - timedelta(days=1), day + timedelta(days=1)
    if "this month" in text or "last month" in text:
        return asked - timedelta(days=35), asked
    if "this year" in text:
        return asked - timedelta(days=365), asked
    # "this week", "recently", or nothing said: a news question is about the days before it.
    return asked - timedelta(days=8), asked


class PassageSource(Protocol):
    """What the answerer needs of a retriever (rag eval wraps one to record what it found)."""

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]: ...


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

    def with_mode(self, mode: RetrievalMode) -> Retriever:
        return self.with_config(replace(self.config, mode=mode))

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
        retriever = self._index.as_retriever(similarity_top_k=k, filters=filters.to_llama())
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
        llama_filters = filters.to_llama()
        result = self.collection.query(
            query_embeddings=np.asarray([embedding], dtype=np.float32),
            n_results=k,
            where=_to_chroma_filter(llama_filters) if llama_filters else None,
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


def fuse(ranked_lists: list[tuple[float, list[Passage]]]) -> list[Passage]:
    """Weighted reciprocal-rank fusion; a passage keeps its best vector similarity.

    (llama-index's QueryFusionRetriever has RRF too, but without weights, and it wants an LLM.)
    """
    scores: dict[str, float] = {}
    best: dict[str, Passage] = {}
    for weight, passages in ranked_lists:
        for rank, passage in enumerate(passages):
            scores[passage.chunk_id] = scores.get(passage.chunk_id, 0.0) + weight / (RRF_K + rank + 1)
            known = best.get(passage.chunk_id)
            if known is None or passage.similarity > known.similarity:
                best[passage.chunk_id] = passage
    if len(ranked_lists) == 1:
        return ranked_lists[0][1]
    ordered = sorted(scores, key=lambda chunk_id: scores[chunk_id], reverse=True)
    return [replace(best[chunk_id], score=round(scores[chunk_id], 6)) for chunk_id in ordered]


def boost_window(passages: list[Passage], window: tuple[date, date], boost: float) -> list[Passage]:
    first, last = window[0].toordinal(), window[1].toordinal()

    def boosted(passage: Passage) -> Passage:
        inside = first <= day_number(passage.published) <= last
        return replace(passage, score=round(passage.score * (1 + boost), 6)) if inside else passage

    return sorted((boosted(p) for p in passages), key=lambda p: p.score, reverse=True)


@dataclass
class _Seen:
    per_article: dict[str, int] = field(default_factory=dict)
    shingles: list[frozenset[str]] = field(default_factory=list)


def diversify(passages: list[Passage], k: int, per_article: int, max_overlap: float) -> list[Passage]:
    """Top k with at most `per_article` passages of one article, and no wire copies.

    When too few other articles qualify (a one-article corpus), the article's further
    passages fill the remaining places, in rank order.
    """
    seen = _Seen()
    chosen: list[Passage] = []
    held_back: list[Passage] = []
    for passage in passages:
        marks = shingles(passage.text)
        if any(overlap(marks, other) >= max_overlap for other in seen.shingles):
            continue  # the same story, already chosen from another outlet or chunk
        if seen.per_article.get(passage.doc_id, 0) >= per_article:
            held_back.append(passage)
            continue
        chosen.append(passage)
        seen.per_article[passage.doc_id] = seen.per_article.get(passage.doc_id, 0) + 1
        seen.shingles.append(marks)
        if len(chosen) == k:
            return chosen
    order = {passage.chunk_id: rank for rank, passage in enumerate(passages)}
    chosen += held_back[: k - len(chosen)]
    return sorted(chosen, key=lambda passage: order[passage.chunk_id])


def merge_neighbours(chosen: list[Passage], candidates: list[Passage], limit: int) -> list[Passage]:
    """Each chosen passage grown by up to `limit` unchosen candidates of its article that overlap
    or touch its span (chunks overlap by design), so the text stays `article.text[start:end]`."""
    if limit <= 0:
        return chosen
    taken = {passage.chunk_id for passage in chosen}
    merged = []
    for passage in chosen:
        pool = [c for c in candidates if c.doc_id == passage.doc_id and c.chunk_id not in taken]
        added = 0
        grew = True
        while grew and added < limit:
            grew = False
            for other in pool:
                joined = join_spans(passage, other)
                if other.chunk_id not in taken and joined is not None:
                    passage, added, grew = joined, added + 1, True
                    taken.add(other.chunk_id)
                    break
        merged.append(passage)
    return merged


def join_spans(passage: Passage, other: Passage) -> Passage | None:
    """The union of two spans of one article when they overlap or touch; None otherwise."""
    if other.start > passage.end or other.end < passage.start:
        return None
    if other.start < passage.start:
        text = other.text[: passage.start - other.start] + passage.text
        start = other.start
    else:
        text, start = passage.text, passage.start
    end = start + len(text)
    if other.end > end:
        text += other.text[end - other.start :]
        end = other.end
    return replace(passage, text=text, start=start, end=end)


def shingles(text: str, size: int = 5) -> frozenset[str]:
    words = re.findall(r"\w+", text.lower())
    return frozenset(" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1)))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


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
