"""Stage 3b: the Chroma store, embedded under `index/` or a `chroma run` server when configured.

Chroma is the single source of truth for what is indexed: every chunk carries its article's
content hash and chunk count, so incremental indexing needs no second bookkeeping file that
could drift out of step with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import chromadb
import httpx
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.errors import StoreError, UsageError
from rag.inputs import check_collection_name
from rag.settings import Settings

PAGE = 5000


def connect(settings: Settings) -> ClientAPI:
    """An embedded PersistentClient under index_dir, or an HttpClient when RAG_CHROMA_HOST is set."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
            client.heartbeat()
        except Exception as err:  # chromadb raises bare exceptions for connection failures
            raise StoreError(
                f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                f"({type(err).__name__}). Start it (`chroma run --path DIR --port "
                f"{settings.chroma_port}`) or unset RAG_CHROMA_HOST to use the local index."
            ) from err
        return client
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)


# What a Chroma server that stopped answering raises from inside chromadb's HTTP client.
CONNECTION_ERRORS = (httpx.TransportError, ConnectionError)


@contextmanager
def chroma_errors() -> Iterator[None]:
    """A Chroma server that went away mid-use becomes a StoreError that says what to do.

    Nothing needs rebuilding when it comes back: the next request connects again.
    """
    try:
        yield
    except CONNECTION_ERRORS as err:
        raise StoreError(lost_server_message(err)) from err


def lost_server_message(err: Exception) -> str:
    try:
        url = httpx.URL(str(err.request.url)) if isinstance(err, httpx.RequestError) else None
    except RuntimeError:  # an httpx error raised before its request was set
        url = None
    where = f" at {url.host}:{url.port}" if url is not None else ""
    return (
        f"The Chroma server{where} does not answer ({type(err).__name__}). Start it again "
        "(`chroma run --path DIR --port PORT`, same folder): this app reconnects by itself. "
        "Or unset RAG_CHROMA_HOST to use the local index."
    )


def open_collection(client: ClientAPI, name: str, *, create: bool = True) -> Collection:
    """The collection, created with cosine distance and *no* embedding function.

    Chroma's default embedding function would download a model; we always pass vectors.
    """
    check_collection_name(name)
    if not create:
        try:
            return client.get_collection(name, embedding_function=None)  # type: ignore[arg-type]
        except CONNECTION_ERRORS as err:
            raise StoreError(lost_server_message(err)) from err
        except Exception as err:
            raise UsageError(
                f"No collection named {name!r}. Index one first: rag index PATH --collection {name}"
            ) from err
    return client.get_or_create_collection(
        name,
        embedding_function=None,  # type: ignore[arg-type]
        configuration={"hnsw": {"space": "cosine"}},
    )


def list_collections(client: ClientAPI) -> list[str]:
    return sorted(collection.name for collection in client.list_collections())


def vector_store(collection: Collection) -> ChromaVectorStore:
    return ChromaVectorStore(chroma_collection=collection)


@dataclass
class StoredArticle:
    """What the store holds of one article: enough to tell whether it is complete and current."""

    origin: str
    hashes: Counter[str] = field(default_factory=Counter)
    expected_chunks: int = 0
    chunk_ids: list[str] = field(default_factory=list)

    def is_current(self, content_hash: str) -> bool:
        # Complete only when every chunk is of this version and none is missing (a run killed
        # half-way leaves a mix, which the next run repairs).
        return self.hashes == Counter({content_hash: self.expected_chunks})


@dataclass(frozen=True)
class StoredChunk:
    id: str
    metadata: Mapping[str, Any]  # empty unless asked for
    text: str = ""  # empty unless asked for


def stored_chunks(collection: Collection, metadata: bool = True, text: bool = False) -> Iterator[StoredChunk]:
    """Every chunk of the collection, read PAGE at a time (one `get` of 19k chunks is slow)."""
    include: list[Any] = (["metadatas"] if metadata else []) + (["documents"] if text else [])
    offset = 0
    while True:
        page = collection.get(include=include, limit=PAGE, offset=offset)
        ids = page["ids"]
        metas = page["metadatas"] if metadata else None
        texts = page["documents"] if text else None
        for position, chunk_id in enumerate(ids):
            yield StoredChunk(
                chunk_id,
                metas[position] if metas else {},
                texts[position] if texts else "",
            )
        if len(ids) < PAGE:
            return
        offset += PAGE


def stored_articles(collection: Collection) -> dict[str, StoredArticle]:
    """doc_id -> what is stored for it, from the chunks' metadata."""
    articles: dict[str, StoredArticle] = {}
    for chunk in stored_chunks(collection):
        meta = chunk.metadata
        doc_id = str(meta.get("doc_id", ""))
        entry = articles.setdefault(doc_id, StoredArticle(origin=str(meta.get("origin", ""))))
        entry.hashes[str(meta.get("doc_hash", ""))] += 1
        entry.expected_chunks = int(meta.get("n_chunks", 0) or 0)
        entry.chunk_ids.append(chunk.id)
    return articles


@dataclass
class Facets:
    """What a collection holds, as the web chat's header and filters show it."""

    articles: int = 0
    chunks: int = 0
    sources: list[str] = field(default_factory=list)
    first: str = ""
    last: str = ""


def collection_facets(collection: Collection) -> Facets:
    """Counts, outlets and the date range, read from the chunks' metadata."""
    docs: set[str] = set()
    sources: set[str] = set()
    dates: set[str] = set()
    for chunk in stored_chunks(collection):
        docs.add(str(chunk.metadata.get("doc_id", "")))
        if chunk.metadata.get("source"):
            sources.add(str(chunk.metadata["source"]))
        if chunk.metadata.get("published"):
            dates.add(str(chunk.metadata["published"]))
    ordered = sorted(dates)
    return Facets(
        len(docs),
        collection.count(),
        sorted(sources),
        ordered[0] if ordered else "",
        ordered[-1] if ordered else "",
    )


def delete_chunks(collection: Collection, chunk_ids: Iterable[str]) -> None:
    ids = list(chunk_ids)
    for start in range(0, len(ids), PAGE):
        collection.delete(ids=ids[start : start + PAGE])


@dataclass(frozen=True)
class CollectionStats:
    name: str
    articles: int
    chunks: int


def collection_stats(collection: Collection) -> CollectionStats:
    stored = stored_articles(collection)
    return CollectionStats(collection.name, len(stored), collection.count())
