"""The pipeline's parts wired once from settings, and handed to the CLI and the web chat.

Heavy parts (Chroma client, embedding model, local LLM server) are built on first use and
reused for the life of the service object: the web app builds one, each CLI call builds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.answer import Answerer, Prompts
from rag.chunking import Chunker
from rag.embedding import make_embed_model, make_tokenizer
from rag.indexing import IndexReport, index_paths
from rag.llm import Generator, resolve_backend
from rag.retrieve import Filters, Passage, Retriever
from rag.settings import Settings
from rag.store import CollectionStats, collection_stats, connect, list_collections, open_collection


class RagService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._generators: dict[str, Generator] = {}

    @cached_property
    def client(self) -> ClientAPI:
        return connect(self.settings)

    @cached_property
    def embed_model(self) -> BaseEmbedding:
        return make_embed_model(self.settings)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(self.settings.chunk_size, self.settings.chunk_overlap, make_tokenizer(self.settings))

    @cached_property
    def prompts(self) -> Prompts:
        return Prompts.load(self.settings.prompts_dir)

    def collection(self, name: str | None = None, *, create: bool = False) -> Collection:
        return open_collection(self.client, name or self.settings.collection, create=create)

    def collections(self) -> list[str]:
        return list_collections(self.client)

    def stats(self, name: str | None = None) -> CollectionStats:
        return collection_stats(self.collection(name, create=True))

    def index(
        self, paths: Sequence[Path], collection: str | None = None, *, show_progress: bool = True
    ) -> IndexReport:
        lock_dir = None if self.settings.chroma_host else self.settings.index_dir
        return index_paths(
            paths,
            self.collection(collection, create=True),
            lambda: self.embed_model,
            self.chunker,
            lock_dir=lock_dir,
            show_progress=show_progress,
        )

    def retriever(self, collection: str | None = None) -> Retriever:
        return Retriever(self.collection(collection), self.embed_model)

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

    def answerer(self, collection: str | None = None, backend: str | None = None) -> Answerer:
        return Answerer(
            self.retriever(collection),
            self.generator(backend),
            self.prompts,
            self.settings.refusal_threshold,
            self.settings.evidence_sentences,
        )
