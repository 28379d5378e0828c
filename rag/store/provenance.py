"""Collections that know how they were built: embedding model, vector size and chunking.

Recorded in the Chroma collection's metadata when its first vectors are written. Indexing with
another model or other chunk settings, or asking with another model, stops with one line
naming both and what to do, so vectors of two models are never mixed or compared.

A collection from before this record (chunks but no metadata) is adopted on its first index:
one stored chunk is embedded again with the configured model, and when that reproduces its
stored vector (cosine >= ADOPT_COSINE) the current settings are recorded; otherwise it stops
as for any other mismatch. Its chunk settings cannot be read back from the chunks: the
configured ones are recorded. Asking a collection with no record checks nothing (as before).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from chromadb.api.models.Collection import Collection
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from rag.errors import CollectionMismatchError
from rag.store.embedding import embedding_setting_for

PREFIX = "rag_"
ADOPT_COSINE = 0.99  # same model: >= 0.9999 in fp32, >= 0.999 under bf16; another model: far below


@dataclass(frozen=True)
class BuildSpec:
    """How a collection's vectors are made: what it records and what the settings ask for."""

    embedding_model: str
    chunk_size: int
    chunk_overlap: int
    embedding_dim: int | None = None

    def describe(self) -> str:
        dims = f", {self.embedding_dim} dims" if self.embedding_dim else ""
        return (
            f"{self.embedding_model}{dims}, chunk_size {self.chunk_size}, chunk_overlap {self.chunk_overlap}"
        )

    def as_metadata(self) -> dict[str, str | int]:
        meta: dict[str, str | int] = {
            f"{PREFIX}embedding_model": self.embedding_model,
            f"{PREFIX}chunk_size": self.chunk_size,
            f"{PREFIX}chunk_overlap": self.chunk_overlap,
        }
        if self.embedding_dim:
            meta[f"{PREFIX}embedding_dim"] = self.embedding_dim
        return meta


def recorded(collection: Collection) -> BuildSpec | None:
    meta = collection.metadata or {}
    model = meta.get(f"{PREFIX}embedding_model")
    if not model:
        return None
    dim = meta.get(f"{PREFIX}embedding_dim")
    return BuildSpec(
        embedding_model=str(model),
        chunk_size=int(meta.get(f"{PREFIX}chunk_size", 0)),  # type: ignore[arg-type]
        chunk_overlap=int(meta.get(f"{PREFIX}chunk_overlap", 0)),  # type: ignore[arg-type]
        embedding_dim=int(dim) if dim else None,  # type: ignore[arg-type]
    )


def record(collection: Collection, spec: BuildSpec) -> None:
    """Merge the spec into the collection's metadata (Chroma's modify replaces it whole)."""
    collection.modify(metadata={**(collection.metadata or {}), **spec.as_metadata()})


def mismatch(
    collection: Collection, built: BuildSpec, wanted: BuildSpec, what: str
) -> CollectionMismatchError:
    if built.embedding_model != wanted.embedding_model:
        fix = embedding_setting_for(built.embedding_model)
    else:
        fix = f"RAG_CHUNK_SIZE={built.chunk_size} RAG_CHUNK_OVERLAP={built.chunk_overlap}"
    return CollectionMismatchError(
        f"Collection {collection.name!r} was built with {built.describe()}; {what} "
        f"{wanted.describe()}: re-index into a new collection (--collection NAME) or set {fix}."
    )


def check_query(collection: Collection, wanted: BuildSpec) -> None:
    """Asking: the question must be embedded by the model that built the collection."""
    built = recorded(collection)
    if built is not None and built.embedding_model != wanted.embedding_model:
        raise mismatch(collection, built, wanted, "the question would be embedded with")


class IndexGuard:
    """Stops an index whose settings differ from the collection's; records them on first write."""

    def __init__(
        self, collection: Collection, wanted: BuildSpec, embed_model: Callable[[], BaseEmbedding]
    ) -> None:
        self.collection = collection
        self.wanted = wanted
        self._model = embed_model
        self.built = recorded(collection)

    def check(self) -> None:
        """Before anything is embedded: the model and chunking must be the collection's."""
        built = self.built
        if built is not None:
            same = (built.embedding_model, built.chunk_size, built.chunk_overlap) == (
                self.wanted.embedding_model,
                self.wanted.chunk_size,
                self.wanted.chunk_overlap,
            )
            if not same:
                raise mismatch(self.collection, built, self.wanted, "configured:")
            return
        if self.collection.count() > 0:
            self._adopt()

    def _adopt(self) -> None:
        """A collection from before the record: adopt it if the configured model made its vectors."""
        page = self.collection.get(limit=1, include=["embeddings", "documents", "metadatas"])  # type: ignore[list-item]
        stored = np.asarray(page["embeddings"][0], dtype=np.float64)  # type: ignore[index]
        text = str(page["documents"][0])  # type: ignore[index]
        meta = dict(page["metadatas"][0])  # type: ignore[index]
        # What was embedded: the chunk with its title line, as llama-index stored the node
        # (a chunk that is no llama-index node: its text alone).
        with contextlib.suppress(Exception):
            text = metadata_dict_to_node(meta, text=text).get_content(MetadataMode.EMBED)
        again = np.asarray(self._model().get_text_embedding(text))
        cosine = (
            float(stored @ again / (np.linalg.norm(stored) * np.linalg.norm(again)))
            if stored.shape == again.shape
            else 0.0
        )
        if cosine < ADOPT_COSINE:
            unknown = BuildSpec("an unrecorded model", 0, 0, int(stored.shape[0]))
            raise CollectionMismatchError(
                f"Collection {self.collection.name!r} was built before collections recorded their model, "
                f"and not with {self.wanted.embedding_model} (a stored {unknown.embedding_dim}-dim vector "
                f"does not match: cosine {cosine:.3f}): re-index into a new collection (--collection NAME) "
                "or set RAG_EMBEDDING to the model that built it."
            )
        self.built = BuildSpec(
            self.wanted.embedding_model,
            self.wanted.chunk_size,
            self.wanted.chunk_overlap,
            int(stored.shape[0]),
        )
        record(self.collection, self.built)

    def check_vectors(self, vectors: Sequence[Sequence[float]]) -> None:
        """Before each batch is written: its size must be the collection's; the first one records it."""
        if not vectors:
            return
        size = len(vectors[0])
        if self.built is not None and self.built.embedding_dim and size != self.built.embedding_dim:
            raise CollectionMismatchError(
                f"Collection {self.collection.name!r} holds {self.built.embedding_dim}-dimensional vectors "
                f"of {self.built.embedding_model}, but {self.wanted.embedding_model} now returns {size}: "
                "nothing was written. Check the embedding server's model, or re-index into a new "
                "collection (--collection NAME)."
            )
        if self.built is None or not self.built.embedding_dim:
            self.built = BuildSpec(
                self.wanted.embedding_model, self.wanted.chunk_size, self.wanted.chunk_overlap, size
            )
            record(self.collection, self.built)
