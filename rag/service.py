"""The pipeline's parts wired once from settings, and handed to the CLI and the web chat.

Heavy parts (Chroma client, embedding model, local LLM server) are built on first use and
reused for the life of the service object: the web app builds one, each CLI call builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.answering.answerer import Answerer
from rag.answering.llm import ChatStreamer, Generator, resolve_backend
from rag.answering.prompts import Prompts
from rag.answering.reader import ReaderConfig
from rag.errors import UsageError
from rag.ingest.chunking import Chunker
from rag.ingest.feeds import (
    FeedBook,
    FeedRecord,
    FeedReport,
    Removal,
    book_lock,
    book_path,
    gather,
    remember,
    remove_feed,
)
from rag.ingest.fetch import FetchPolicy
from rag.ingest.indexing import IndexReport, index_lock, index_paths
from rag.ingest.loaders import LoadResult
from rag.retrieval.retriever import RetrievalConfig, Retriever
from rag.settings import Settings
from rag.store import lexical
from rag.store.chroma import (
    CollectionStats,
    chroma_errors,
    collection_stats,
    connect,
    list_collections,
    open_collection,
    stored_articles,
)
from rag.store.embedding import embedding_identity, make_embed_model, make_tokenizer
from rag.store.provenance import BuildSpec, IndexGuard, check_query
from rag.types import Filters, Passage, PassageSource


class RagService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._generators: dict[str, Generator] = {}
        self._retrievers: dict[str, Retriever] = {}

    def __enter__(self) -> RagService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop what this service started (the local model server): on every exit path, so the
        process ends promptly and leaves nothing listening."""
        generators, self._generators = list(self._generators.values()), {}
        for generator in generators:
            generator.close()

    @cached_property
    def client(self) -> ClientAPI:
        return connect(self.settings)

    @cached_property
    def embed_model(self) -> BaseEmbedding:
        return make_embed_model(self.settings)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(self.settings.chunk_size, self.settings.chunk_overlap, make_tokenizer(self.settings))

    def build_spec(self) -> BuildSpec:
        """How these settings make vectors: checked against what each collection recorded."""
        s = self.settings
        return BuildSpec(embedding_identity(s), s.chunk_size, s.chunk_overlap)

    @property
    def embed_concurrency(self) -> int:
        """Batches in flight while indexing: only a server gains from more than one."""
        return self.settings.embed_concurrency if self.settings.embedding != "local" else 0

    @cached_property
    def prompts(self) -> Prompts:
        return Prompts.load(self.settings.prompts_dir)

    def collection(self, name: str | None = None, *, create: bool = False) -> Collection:
        with chroma_errors():
            return open_collection(self.client, name or self.settings.collection, create=create)

    def collections(self) -> list[str]:
        with chroma_errors():
            return list_collections(self.client)

    def stats(self, name: str | None = None) -> CollectionStats:
        with chroma_errors():
            return collection_stats(self.collection(name, create=True))

    def index(
        self,
        paths: Sequence[Path],
        collection: str | None = None,
        *,
        urls: Sequence[str] = (),
        web: bool = False,
        show_progress: bool = True,
    ) -> IndexReport:
        """Index files and folders, and URLs (feeds or article pages) fetched once."""
        if urls:
            return self.fetch_and_index(
                urls, collection, paths=paths, web=web, show_progress=show_progress
            ).index
        return self._index(paths, collection, None, show_progress)

    def _index(
        self, paths: Sequence[Path], collection: str | None, fetched: LoadResult | None, show_progress: bool
    ) -> IndexReport:
        name = collection or self.settings.collection
        self._retrievers.pop(name, None)  # its BM25 side is rebuilt on next use
        if self.settings.embedding == "openai-compatible":
            _ = self.embed_model  # no network yet: a missing URL or model stops before any work
        # The lock covers opening the store too: two first runs on a new index would otherwise
        # race to create Chroma's tables.
        with self._writing():  # a cut run is completed by the next one
            chroma = self.collection(name, create=True)
            guard = IndexGuard(chroma, self.build_spec(), lambda: self.embed_model)
            guard.check()  # another model or chunking than the collection's stops here
            return index_paths(
                paths,
                chroma,
                lambda: self.embed_model,
                self.chunker,
                show_progress=show_progress,
                write_batch=self.settings.embed_write_batch,
                fetched=fetched,
                concurrency=self.embed_concurrency,
                check_vectors=guard.check_vectors,
            )

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time on an embedded index (a Chroma server orders its own writes),
        and Chroma's failures as StoreErrors."""
        lock_dir = None if self.settings.chroma_host else self.settings.index_dir
        with chroma_errors(), index_lock(lock_dir):
            yield

    # --- the web: article URLs and followed feeds -------------------------------------------

    def fetch_policy(self, *, web: bool) -> FetchPolicy:
        """How requests are made; the web chat fetches nothing unless RAG_ALLOW_FETCH=1."""
        if web and not self.settings.allow_fetch:
            raise UsageError(
                "Fetching URLs is off in the web chat: start it with RAG_ALLOW_FETCH=1 "
                "(or index the URL with `rag index URL`)."
            )
        return FetchPolicy.from_settings(self.settings, web=web)

    def feed_book(self, collection: str | None = None) -> FeedBook:
        return FeedBook.load(book_path(self.settings.index_dir, collection or self.settings.collection))

    def fetch_and_index(
        self,
        urls: Sequence[str],
        collection: str | None = None,
        *,
        paths: Sequence[Path] = (),
        web: bool = False,
        follow: bool = False,
        feed_only: bool = False,
        show_progress: bool = True,
    ) -> FeedReport:
        """Fetch the URLs (feeds: their entries too), then index them in the usual incremental
        plan; validators and followed feeds are saved only once their articles are stored."""
        policy = self.fetch_policy(web=web)
        urls = [url.strip() for url in urls]
        name = collection or self.settings.collection
        path = book_path(self.settings.index_dir, name)
        with book_lock(path):
            book = FeedBook.load(path)
            with chroma_errors():
                stored_ids = set(stored_articles(self.collection(name, create=True)))
            gathered = gather(
                urls,
                book,
                policy,
                stored_ids,
                max_entries=self.settings.feed_max_entries,
                feed_only=feed_only,
                show_progress=show_progress,
            )
            report = self._index(paths, name, gathered.load_result(), show_progress)
            report.unchanged += gathered.not_modified  # answered 304: unchanged, nothing fetched
            remember(book, gathered, follow=follow)
            book.save()
        return FeedReport(report, gathered.feeds, gathered.feeds_not_modified, gathered.articles)

    def add_feed(self, url: str, collection: str | None = None, *, show_progress: bool = True) -> FeedReport:
        """Follow a feed and index its articles now."""
        return self.fetch_and_index(
            [url], collection, follow=True, feed_only=True, show_progress=show_progress
        )

    def refresh_feeds(self, collection: str | None = None, *, show_progress: bool = True) -> FeedReport:
        """Fetch every followed feed (conditional GET) and index what is new or changed."""
        feeds = self.followed_feeds(collection)
        if not feeds:
            name = collection or self.settings.collection
            raise UsageError(f"Collection {name!r} follows no feeds: add one with `rag feeds add URL`.")
        return self.fetch_and_index(list(feeds), collection, feed_only=True, show_progress=show_progress)

    def followed_feeds(self, collection: str | None = None) -> dict[str, FeedRecord]:
        return self.feed_book(collection).feeds

    def remove_feed(self, url: str, collection: str | None = None) -> Removal:
        """Stop following a feed; its articles (those no other followed feed brought) are deleted."""
        name = collection or self.settings.collection
        path = book_path(self.settings.index_dir, name)
        self._retrievers.pop(name, None)
        with book_lock(path), self._writing():
            return remove_feed(FeedBook.load(path), url.strip(), self.collection(name, create=True))

    def retriever(self, collection: str | None = None) -> Retriever:
        name = collection or self.settings.collection
        if name not in self._retrievers:
            chroma = self.collection(name)
            check_query(chroma, self.build_spec())  # never compare vectors of two models
            folder = self.lexical_dir(name)
            self._retrievers[name] = Retriever(
                chroma,
                self.embed_model,
                lexical=cache_once(lambda: lexical.load_or_build(chroma, folder)),
                config=RetrievalConfig(mode=self.settings.retrieval_mode),
            )
        return self._retrievers[name]

    def lexical_dir(self, collection: str) -> Path:
        """BM25 files live beside the embedded index; per server when the store is remote."""
        where = (
            "local"
            if not self.settings.chroma_host
            else f"{self.settings.chroma_host}_{self.settings.chroma_port}"
        )
        return self.settings.index_dir / "bm25" / where / collection

    def search(
        self,
        query: str,
        k: int | None = None,
        collection: str | None = None,
        filters: Filters | None = None,
    ) -> list[Passage]:
        return self.retriever(collection).retrieve(query, k or self.settings.top_k, filters)

    def generator(self, backend: str | None = None) -> Generator | None:
        """The generator for a backend (None for extractive), started once and reused."""
        chosen = resolve_backend(
            self.settings if backend is None else self.settings.model_copy(update={"llm": backend})
        )
        if chosen == "extractive":
            return None
        if chosen not in self._generators:
            self._generators[chosen] = Generator(self.settings.model_copy(update={"llm": chosen}))
        return self._generators[chosen]

    def answerer(
        self,
        collection: str | None = None,
        backend: str | None = None,
        retriever: PassageSource | None = None,
        streamer: ChatStreamer | None = None,
    ) -> Answerer:
        """`retriever`, `streamer`: wrappers of this service's own (rag eval records what was
        retrieved; rag bench llm counts what the model streams)."""
        return Answerer(
            retriever or self.retriever(collection),
            streamer or self.generator(backend),
            self.prompts,
            self.settings.refusal_threshold,
            ReaderConfig.from_settings(self.settings),
            self.retriever(collection).term_rarity,
        )


T = TypeVar("T")


def cache_once(build: Callable[[], T]) -> Callable[[], T]:
    """Build on first call, then return the same object (the BM25 index loads in ~0.1-1 s)."""
    box: list[T] = []

    def get() -> T:
        if not box:
            box.append(build())
        return box[0]

    return get
