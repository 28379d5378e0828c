"""Stage 4: retrieve the passages that answer a question (vector search over Chroma)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from chromadb.api.models.Collection import Collection
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode, NodeWithScore
from llama_index.core.vector_stores import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from rag.chunking import day_number
from rag.store import vector_store


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

    def public(self) -> dict[str, object]:
        """The fields `rag search --json` prints."""
        data = asdict(self)
        data.pop("chunk_id")
        return data


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    since: str | None = None  # ISO date, inclusive
    until: str | None = None

    def to_llama(self) -> MetadataFilters | None:
        """Translated by llama-index into a Chroma `where`: applied in the store's query."""
        filters: list[MetadataFilter | MetadataFilters] = []
        if self.sources:
            filters.append(MetadataFilter(key="source", value=list(self.sources), operator=FilterOperator.IN))
        if self.since:
            filters.append(
                MetadataFilter(key="published_day", value=day_number(self.since), operator=FilterOperator.GTE)
            )
        if self.until:
            filters.append(
                MetadataFilter(key="published_day", value=day_number(self.until), operator=FilterOperator.LTE)
            )
        return MetadataFilters(filters=filters) if filters else None


class Retriever:
    def __init__(self, collection: Collection, embed_model: BaseEmbedding) -> None:
        self._index = VectorStoreIndex.from_vector_store(vector_store(collection), embed_model=embed_model)
        self.collection = collection

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]:
        retriever = self._index.as_retriever(
            similarity_top_k=k, filters=filters.to_llama() if filters else None
        )
        return [to_passage(hit) for hit in retriever.retrieve(question)]


def to_passage(hit: NodeWithScore) -> Passage:
    meta = hit.node.metadata
    return Passage(
        doc_id=str(meta.get("doc_id", hit.node.ref_doc_id or "")),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        author=str(meta.get("author", "")),
        published=str(meta.get("published", "")),
        url=str(meta.get("url", "")),
        text=hit.node.get_content(MetadataMode.NONE),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=round(float(hit.score or 0.0), 4),
        chunk_id=hit.node.node_id,
    )
