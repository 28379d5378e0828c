"""Stage 3c: incremental indexing: load -> chunk -> embed what is new -> store; drop what is gone.

Idempotent: an article whose stored chunks are all of its current version is skipped without
embedding; an edited article's chunks are replaced; a removed file's chunks are deleted.
Articles fetched from the web (origin: a URL) go through the same plan, but are never deleted
for being absent: a page that dropped out of a feed stays until its feed is removed.
New chunks are written before stale ones are deleted, batch by batch, so a run killed half-way
loses nothing and the next run completes it. With an embedding server, a write batch is sent as
several requests at once (RAG_EMBED_CONCURRENCY), and the next batch is embedding while one is
written; only embedded batches are ever written.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chromadb.api.models.Collection import Collection
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode, TextNode
from tqdm import tqdm

from rag.ingest.chunking import Chunker
from rag.ingest.loaders import LoadResult, load_corpus
from rag.store.chroma import StoredArticle, delete_chunks, stored_articles, vector_store
from rag.types import Article, LoadProblem

EMBED_WRITE_BATCH = 256  # chunks embedded and written together; what a kill can cost at most
VectorCheck = Callable[[Sequence[Sequence[float]]], None]  # raises to stop before a batch is written


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    problems: list[LoadProblem] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    def summary(self) -> str:
        return (
            f"articles: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed; chunks: {self.chunks_embedded} embedded, "
            f"{self.chunks_deleted} deleted, {self.chunks_total} in the collection "
            f"({self.seconds:.1f} s)"
        )


@dataclass
class Plan:
    to_embed: list[Article] = field(default_factory=list)
    stale_chunks: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    problems: list[LoadProblem] = field(default_factory=list)


def plan_changes(
    articles: Sequence[Article], stored: dict[str, StoredArticle], roots: Sequence[Path]
) -> Plan:
    """Which articles to (re-)embed and which stored chunks to drop."""
    plan = Plan()
    loaded_ids = {article.doc_id for article in articles}
    loaded_origins = {article.origin for article in articles}
    for article in articles:
        entry = stored.get(article.doc_id)
        if entry is not None and _held_elsewhere(entry.origin, article.origin, loaded_origins):
            # Another file, still there and not read this time, holds this doc_id: replacing
            # its article would lose it (and reindexing that file would flip it back).
            plan.problems.append(
                LoadProblem(
                    article.origin,
                    f"duplicate doc_id {article.doc_id!r} (already indexed from {entry.origin}); skipped",
                )
            )
            continue
        if entry is None:
            plan.added += 1
            plan.to_embed.append(article)
        elif entry.is_current(article.content_hash):
            plan.unchanged += 1
        else:
            plan.updated += 1
            plan.to_embed.append(article)
            plan.stale_chunks.extend(entry.chunk_ids)
    for doc_id, entry in stored.items():
        if doc_id in loaded_ids or is_fetched(entry.origin) or not _is_under(entry.origin, roots):
            continue
        # Gone only when its file is gone, or its file loaded and no longer holds it: a file
        # that failed to load this time keeps its articles (nothing is lost on a bad read).
        if not Path(entry.origin).exists() or entry.origin in loaded_origins:
            plan.removed += 1
            plan.stale_chunks.extend(entry.chunk_ids)
    return plan


def _held_elsewhere(stored_origin: str, origin: str, loaded_origins: set[str]) -> bool:
    if not stored_origin or stored_origin == origin or stored_origin in loaded_origins:
        return False  # the same file, or a file read in this run that no longer holds it
    if is_fetched(stored_origin):
        return False  # a fetched page: the newest fetch of the same canonical URL replaces it
    return Path(stored_origin).exists()


def is_fetched(origin: str) -> bool:
    """Fetched from the web (its origin is the page's URL), not read from a file."""
    return origin.startswith(("http://", "https://"))


def _is_under(origin: str, roots: Sequence[Path]) -> bool:
    path = Path(origin)
    return any(path == root or root in path.parents for root in roots)


def index_paths(
    paths: Sequence[Path],
    collection: Collection,
    embed_model: Callable[[], BaseEmbedding],
    chunker: Chunker,
    *,
    show_progress: bool = True,
    write_batch: int = EMBED_WRITE_BATCH,
    fetched: LoadResult | None = None,
    concurrency: int = 0,
    check_vectors: VectorCheck | None = None,
) -> IndexReport:
    """Index files and folders, plus articles already fetched from the web, in one plan;
    `concurrency` > 0 sends that many embedding batches at once. The caller holds the index's
    lock (RagService.index)."""
    started = time.perf_counter()
    loaded = load_corpus(paths) if paths else LoadResult()
    if fetched is not None:
        from_files = {article.doc_id for article in loaded.articles}
        for article in fetched.articles:
            if article.doc_id in from_files:
                message = f"duplicate doc_id {article.doc_id!r} (also in a file indexed now); skipped"
                loaded.problems.append(LoadProblem(article.origin, message))
            else:
                loaded.articles.append(article)
        loaded.problems.extend(fetched.problems)
    report = IndexReport(problems=list(loaded.problems))
    stored = stored_articles(collection)
    plan = plan_changes(loaded.articles, stored, loaded.roots)
    report.problems.extend(plan.problems)
    report.added, report.updated = plan.added, plan.updated
    report.unchanged, report.removed = plan.unchanged, plan.removed
    articles = tqdm(
        plan.to_embed,
        desc="Chunking",
        unit="article",
        disable=not show_progress or len(plan.to_embed) < 50,
        file=sys.stderr,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
    )
    new_nodes = [node for article in articles for node in chunker.split(article)]
    existing = {chunk_id for entry in stored.values() for chunk_id in entry.chunk_ids}
    fresh = [node for node in new_nodes if node.id_ not in existing]
    report.chunks_embedded = embed_and_store(
        fresh,
        len(plan.to_embed),
        collection,
        embed_model,
        show_progress,
        write_batch,
        concurrency=concurrency,
        check_vectors=check_vectors,
    )
    keep = {node.id_ for node in new_nodes}
    stale = [chunk_id for chunk_id in plan.stale_chunks if chunk_id not in keep]
    delete_chunks(collection, stale)
    report.chunks_deleted = len(stale)
    report.chunks_total = collection.count()
    report.seconds = time.perf_counter() - started
    return report


def embed_and_store(
    nodes: list[TextNode],
    article_count: int,
    collection: Collection,
    embed_model: Callable[[], BaseEmbedding],
    show_progress: bool,
    write_batch: int = EMBED_WRITE_BATCH,
    *,
    concurrency: int = 0,
    check_vectors: VectorCheck | None = None,
) -> int:
    """Embed and write `nodes`, `write_batch` at a time; a failure stops before its batch is written.

    concurrency 0: each batch embedded in this thread (the in-process model uses both cores
    anyway). concurrency N: each batch split into requests of the model's batch size, N at a
    time, and the next batch already embedding while this one is written.
    """
    if not nodes:
        return 0  # nothing new: the embedding model is never even loaded
    model = embed_model()
    store = vector_store(collection)
    started = time.perf_counter()
    articles_done: set[str] = set()
    batches = [nodes[start : start + write_batch] for start in range(0, len(nodes), write_batch)]
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="embed") if concurrency else None
    try:
        with _progress(len(nodes), show_progress) as bar:
            pending = _submit(model, batches[0], pool)
            for number, batch in enumerate(batches):
                vectors = pending()
                if number + 1 < len(batches):  # the next batch embeds while this one is written
                    pending = _submit(model, batches[number + 1], pool)
                if check_vectors is not None:
                    check_vectors(vectors)
                for node, vector in zip(batch, vectors, strict=True):
                    node.embedding = vector
                store.add(batch)  # type: ignore[arg-type]
                articles_done.update(str(node.metadata["doc_id"]) for node in batch)
                elapsed = max(time.perf_counter() - started, 1e-9)
                bar.set_postfix(
                    articles=f"{len(articles_done)}/{article_count}",
                    art_per_s=f"{len(articles_done) / elapsed:.1f}",
                )
                bar.update(len(batch))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # requests in flight end within their timeout
    return len(nodes)


def _progress(total: int, show_progress: bool) -> tqdm:  # type: ignore[type-arg]
    return tqdm(
        total=total,
        unit="chunk",
        desc="Embedding",
        disable=not show_progress,
        file=sys.stderr,
        dynamic_ncols=True,
        # Piped to a log, a line every 10 s rather than a redraw per batch.
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
    )


def _submit(
    model: BaseEmbedding, batch: Sequence[TextNode], pool: ThreadPoolExecutor | None
) -> Callable[[], list[list[float]]]:
    """The batch's vectors, in its order: without a pool embedded when asked for (after the batch
    before it is written), else from requests sent now."""
    if pool is None:
        return lambda: embed_sorted(model, batch)
    texts, order = _by_length(batch)
    size = max(1, int(model.embed_batch_size))
    requests: list[Future[list[list[float]]]] = [
        pool.submit(model.get_text_embedding_batch, [texts[i] for i in order[start : start + size]])
        for start in range(0, len(order), size)
    ]
    return lambda: _in_order(order, [vector for request in requests for vector in request.result()])


def embed_sorted(model: BaseEmbedding, nodes: Sequence[TextNode]) -> list[list[float]]:
    """Vectors for the nodes, in their order, embedded shortest first.

    The model pads every text of a batch to the longest one: with texts of like length
    together (an article's last chunk is short) little of each batch is padding.
    """
    texts, order = _by_length(nodes)
    return _in_order(order, model.get_text_embedding_batch([texts[i] for i in order]))


def _by_length(nodes: Sequence[TextNode]) -> tuple[list[str], list[int]]:
    texts = [node.get_content(MetadataMode.EMBED) for node in nodes]
    return texts, sorted(range(len(texts)), key=lambda i: len(texts[i]))


def _in_order(order: Sequence[int], vectors: Sequence[list[float]]) -> list[list[float]]:
    result: list[list[float]] = [[] for _ in order]
    for position, vector in zip(order, vectors, strict=True):
        result[position] = vector
    return result


@contextmanager
def index_lock(lock_dir: Path | None) -> Iterator[None]:
    """Serialise `rag index` runs on one local index (a second run waits, it does not interleave)."""
    if lock_dir is None:
        yield
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / ".rag-index.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("Another `rag index` is running on this index; waiting for it…", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
