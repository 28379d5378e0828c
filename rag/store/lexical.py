"""Stage 4a: the BM25 side of retrieval (llama-index `BM25Retriever`), persisted beside the index.

BM25 sees what the embedding model sees: title · outlet · date, then the chunk text. It is built
from the chunks stored in Chroma, saved under `index/bm25/<collection>/`, and rebuilt only when
the collection's chunk ids change (checked by a digest), so it never drifts from the store.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from chromadb.api.models.Collection import Collection
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.retrievers.bm25 import BM25Retriever

from rag.store.chroma import stored_chunks

STATE_FILE = "rag_state.json"


@dataclass
class LexicalIndex:
    retriever: BM25Retriever
    digest: str
    sources: np.ndarray  # per corpus row: outlet
    days: np.ndarray  # per corpus row: published day number (0 = unknown)
    rows: dict[str, int]  # chunk id -> corpus row

    def row_of(self, chunk_id: str) -> int | None:
        return self.rows.get(chunk_id)

    def row(self, row: int) -> dict[str, Any]:
        """A chunk as stored (llama-index's node dict: flat metadata, the node as JSON)."""
        return (self.retriever.corpus or [])[row]

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(corpus row, BM25 score) of the best k rows, scores above 0.

        `BM25Retriever._retrieve` tokenised the same way, but then rebuilt every hit as a
        pydantic node from its JSON (~5 ms of a 20 ms query): rows are turned into passages
        by the caller instead, from their flat metadata.
        """
        if mask is not None and not mask.any():
            return []
        retriever = self.retriever
        tokens = bm25s.tokenize(
            query,
            stemmer=None if retriever.skip_stemming else retriever.stemmer,
            token_pattern=retriever.token_pattern,
            show_progress=False,
        )
        if not tokens.vocab:
            return []
        rows, scores = retriever.bm25.retrieve(
            tokens,
            corpus=np.arange(len(self.days)),  # row numbers back, not the stored rows themselves
            k=min(k, len(self.days)),
            show_progress=False,
            weight_mask=mask.astype(int) if mask is not None else None,
        )
        return [(int(row), float(score)) for row, score in zip(rows[0], scores[0], strict=True) if score > 0]

    def rarity(self, terms: Iterable[str]) -> dict[str, float]:
        """Each stemmed term's inverse document frequency over the chunks, log((N+1)/(df+1)):
        a term no chunk holds is as rare as can be. Terms are stemmed as BM25 stems them."""
        bm25 = self.retriever.bm25
        vocab, starts = bm25.vocab_dict, bm25.scores["indptr"]
        chunks = int(bm25.scores["num_docs"])

        def frequency(term: str) -> int:
            column = vocab.get(term)
            return (
                int(starts[column + 1] - starts[column])
                if column is not None and column + 1 < len(starts)
                else 0
            )

        return {term: math.log((chunks + 1) / (frequency(term) + 1)) for term in terms}

    def mask(
        self, sources: tuple[str, ...], since_day: int | None, until_day: int | None
    ) -> np.ndarray | None:
        """Rows that pass the filters; the same rules as the Chroma `where` of the vector side."""
        if not sources and since_day is None and until_day is None:
            return None
        keep = np.ones(len(self.days), dtype=bool)
        if sources:
            keep &= np.isin(self.sources, list(sources))
        if since_day is not None:
            keep &= self.days >= since_day
        if until_day is not None:
            keep &= self.days <= until_day
        return keep


def chunk_digest(collection: Collection) -> str:
    """A fingerprint of which chunks the collection holds (ids are content hashes)."""
    ids = [chunk.id for chunk in stored_chunks(collection, metadata=False)]
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def load_or_build(collection: Collection, folder: Path) -> LexicalIndex | None:
    """The persisted BM25 index when it matches the collection, else a fresh one (saved)."""
    digest = chunk_digest(collection)
    if digest == hashlib.sha256(b"").hexdigest():
        return None  # empty collection
    state_path = folder / STATE_FILE
    if state_path.exists():
        try:
            if json.loads(state_path.read_text())["digest"] == digest:
                return _from_retriever(
                    BM25Retriever.from_persist_dir(str(folder), show_progress=False), digest
                )
        except (OSError, ValueError, KeyError):
            pass  # unreadable or stale: rebuild below
    return build(collection, folder, digest)


def build(collection: Collection, folder: Path, digest: str) -> LexicalIndex:
    nodes = []
    for chunk in stored_chunks(collection, text=True):
        node = metadata_dict_to_node(dict(chunk.metadata), text=chunk.text)
        node.id_ = chunk.id
        nodes.append(node)
    retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(10, len(nodes)))
    # Written to a temporary folder then swapped in: a reader never sees half an index.
    temporary = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    retriever.persist(str(temporary), show_progress=False)
    (temporary / STATE_FILE).write_text(json.dumps({"digest": digest, "chunks": len(nodes)}))
    shutil.rmtree(folder, ignore_errors=True)
    temporary.rename(folder)
    return _from_retriever(retriever, digest)


def _from_retriever(retriever: BM25Retriever, digest: str) -> LexicalIndex:
    corpus = retriever.corpus or []
    sources = np.array([str(row.get("source", "")) for row in corpus], dtype=object)
    days = np.array([int(row.get("published_day", 0) or 0) for row in corpus], dtype=np.int64)
    rows = {str(row.get("node_id", "")): index for index, row in enumerate(corpus)}
    return LexicalIndex(retriever, digest, sources, days, rows)
