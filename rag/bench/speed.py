"""Embedding and retrieval speed (`rag bench embed|latency`).

Every figure comes from one run on this machine, and every speed is set against a baseline
measured in the same run (interleaved where there are rounds), so a busy machine slows both:
the model alone against `rag index` on the same chunks, fp32 against the shipped precision, an
embedding server against the in-process model, and retrieval against the steps it is made of.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode

from rag.bench.stats import percentile, percentile_or_zero
from rag.bench.table import Table, fmt
from rag.ingest.chunking import Chunker
from rag.ingest.indexing import index_paths
from rag.ingest.loaders import load_corpus
from rag.retrieval.retriever import RetrievalConfig, Retriever
from rag.settings import Settings
from rag.store.chroma import open_collection
from rag.store.embedding import bf16_supported, local_embed_model
from rag.types import Article

# --- embedding and indexing throughput ----------------------------------------------------------


@dataclass(frozen=True)
class EmbedVariant:
    name: str
    precision: str
    batch: int


def sample_articles(
    paths: Sequence[Path], chunker: Chunker, chunks: int
) -> tuple[list[Article], list[str], int]:
    """The first articles of the corpus up to `chunks` chunks, their chunk texts, and the corpus size."""
    loaded = load_corpus(paths)
    articles: list[Article] = []
    texts: list[str] = []
    for article in loaded.articles:
        if len(texts) >= chunks:
            break
        articles.append(article)
        texts.extend(node.get_content(MetadataMode.EMBED) for node in chunker.split(article))
    return articles, texts, len(loaded.articles)


def write_jsonl(articles: Sequence[Article], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for article in articles:
            record = asdict(article)
            record.pop("origin", None)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def bench_embed(
    paths: Sequence[Path], settings: Settings, chunks: int = 1000, rounds: int = 2
) -> tuple[Table, list[str]]:
    """The model alone and `rag index` on the same chunks, fp32 (plain) vs the shipped precision."""
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap, _tokenizer(settings))
    articles, texts, corpus_size = sample_articles(paths, chunker, chunks)
    shipped = settings.embed_precision if bf16_supported() else "fp32"
    variants = [
        EmbedVariant("fp32, batch 32 (plain)", "fp32", 32),
        EmbedVariant(
            f"{shipped}, batch {settings.embed_batch_size} (shipped)", shipped, settings.embed_batch_size
        ),
    ]
    models = {v.name: local_embed_model(v.batch, v.precision) for v in variants}  # type: ignore[arg-type]
    for model in models.values():
        model.get_text_embedding_batch(texts[:8])  # loaded and warm before any clock starts
    raw: dict[str, list[float]] = {v.name: [] for v in variants}
    piped: dict[str, list[float]] = {v.name: [] for v in variants}
    vectors: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="rag-bench-embed-") as tmp:
        corpus = write_jsonl(articles, Path(tmp) / "sample.jsonl")
        for round_ in range(rounds):
            order = variants if round_ % 2 == 0 else variants[::-1]  # interleaved, alternating
            for variant in order:
                model = models[variant.name]
                started = time.perf_counter()
                out = model.get_text_embedding_batch(texts)
                raw[variant.name].append(time.perf_counter() - started)
                vectors.setdefault(variant.precision, np.asarray(out))
                piped[variant.name].append(
                    _time_index(corpus, Path(tmp) / f"{round_}-{variant.precision}", model, chunker)
                )
    base = variants[0].name
    header = ["run", "chunks/s", "articles/s", "seconds", "vs fp32 plain", "pipeline efficiency"]
    rows: list[list[str]] = []
    for kind, times in (("model alone", raw), ("rag index", piped)):
        for variant in variants:
            seconds = statistics.median(times[variant.name])
            efficiency = statistics.median(raw[variant.name]) / seconds if kind == "rag index" else 1.0
            rows.append(
                [
                    f"{kind}, {variant.name}",
                    fmt(len(texts) / seconds),
                    fmt(len(articles) / seconds),
                    fmt(seconds),
                    f"x{statistics.median(times[base]) / seconds:.2f}",
                    f"{efficiency:.0%}" if kind == "rag index" else "–",
                ]
            )
    notes = [f"{len(texts)} chunks of {len(articles)} articles, {rounds} interleaved round(s), median"]
    if "fp32" in vectors and shipped in vectors and shipped != "fp32":
        cosine = (vectors["fp32"] * vectors[shipped]).sum(axis=1)
        notes.append(f"{shipped} vs fp32 vectors: cosine min {cosine.min():.5f}, mean {cosine.mean():.6f}")
    per_article = len(texts) / max(len(articles), 1)
    shipped_s = statistics.median(piped[variants[1].name]) / len(texts)
    plain_s = statistics.median(piped[base]) / len(texts)
    total = corpus_size * per_article
    notes.append(
        f"projected for all {corpus_size} articles (~{total:,.0f} chunks at {per_article:.1f}/article): "
        f"shipped {total * shipped_s / 60:.1f} min, fp32 plain {total * plain_s / 60:.1f} min (estimate)"
    )
    return (header, rows), notes


def bench_embed_server(
    paths: Sequence[Path],
    settings: Settings,
    url: str,
    model_name: str,
    chunks: int = 1000,
    rounds: int = 2,
    concurrencies: Sequence[int] = (1, 2, 4),
) -> tuple[Table, list[str]]:
    """Chunks/s through an embedding server at 1, 2, 4 batches at once, beside the in-process
    model on the same chunks (sorted by length as `rag index` sends them), rounds interleaved."""
    from concurrent.futures import ThreadPoolExecutor

    from rag.store.embed_server import server_embed_model

    chunker = Chunker(settings.chunk_size, settings.chunk_overlap, _tokenizer(settings))
    articles, texts, _ = sample_articles(paths, chunker, chunks)
    texts.sort(key=len)
    shipped = settings.embed_precision if bf16_supported() else "fp32"
    local = local_embed_model(settings.embed_batch_size, shipped)
    server = server_embed_model(
        settings.model_copy(
            update={
                "embedding": "openai-compatible",
                "embedding_base_url": url,
                "embedding_model": model_name,
            }
        )
    )
    size = settings.embed_batch_size
    groups = [texts[start : start + size] for start in range(0, len(texts), size)]

    def through_server(concurrency: int) -> Callable[[], list[list[float]]]:
        def run() -> list[list[float]]:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                return [v for part in pool.map(server.get_text_embedding_batch, groups) for v in part]

        return run

    in_process = f"in-process ({shipped}, batch {size})"
    runs: dict[str, Callable[[], list[list[float]]]] = {
        in_process: lambda: local.get_text_embedding_batch(texts)
    }
    for concurrency in concurrencies:
        plural = "batch" if concurrency == 1 else "batches"
        runs[f"server, {concurrency} concurrent {plural} of {size}"] = through_server(concurrency)
    local.get_text_embedding_batch(texts[:8])  # both loaded and warm before any clock starts
    server.get_text_embedding_batch(texts[:8])
    times: dict[str, list[float]] = {name: [] for name in runs}
    vectors: dict[str, np.ndarray] = {}
    names = list(runs)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:  # interleaved, alternating
            started = time.perf_counter()
            out = runs[name]()
            times[name].append(time.perf_counter() - started)
            vectors.setdefault(name, np.asarray(out))
    base = statistics.median(times[in_process])
    header = ["run", "chunks/s", "seconds", "vs in-process"]
    rows = []
    for name in names:
        seconds = statistics.median(times[name])
        rows.append([name, fmt(len(texts) / seconds), fmt(seconds, 2), f"x{base / seconds:.2f}"])
    served = vectors[names[1]]
    mine = vectors[in_process]
    cosine = (served * mine).sum(axis=1) / np.linalg.norm(served, axis=1) / np.linalg.norm(mine, axis=1)
    notes = [
        f"{len(texts)} chunks of {len(articles)} articles, {rounds} interleaved round(s), median",
        f"server {url}, model {model_name!r}; in-process: the bundled all-MiniLM-L6-v2 on this machine",
        f"server vs in-process vectors: cosine min {cosine.min():.5f}, mean {cosine.mean():.6f}",
        f"this machine has {os.cpu_count()} CPU cores: a server on the same machine shares them",
    ]
    return (header, rows), notes


def _tokenizer(settings: Settings) -> Callable[[str], Sequence[int]]:
    from rag.store.embedding import make_tokenizer

    return make_tokenizer(settings)


def _time_index(corpus: Path, folder: Path, model: BaseEmbedding, chunker: Chunker) -> float:
    """`rag index` of the sample into a fresh embedded store (model already loaded)."""
    client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
    collection = open_collection(client, "bench")
    started = time.perf_counter()
    index_paths([corpus], collection, lambda: model, chunker, show_progress=False)
    return time.perf_counter() - started


# --- retrieval latency --------------------------------------------------------------------------


def bench_latency(
    questions: Sequence[str], retriever: Retriever, model: BaseEmbedding, settings: Settings, k: int = 10
) -> tuple[Table, list[str]]:
    """Question in, passages out (no LLM), against the parts it is made of, per question interleaved."""
    fp32 = local_embed_model(settings.embed_batch_size, "fp32")
    vector = retriever.with_config(RetrievalConfig(mode="vector"))
    pool = retriever.config.candidates
    steps: dict[str, Callable[[str], object]] = {
        "embed question, fp32": fp32.get_query_embedding,
        f"embed question, shipped ({settings.embed_precision} setting)": model.get_query_embedding,
        f"Chroma query alone (top {pool}, same vectors)": lambda q: None,
        f"vector retrieval (top {k})": lambda q: vector.retrieve(q, k),
        f"hybrid retrieval, shipped (top {k})": lambda q: retriever.retrieve(q, k),
    }
    chroma_name = f"Chroma query alone (top {pool}, same vectors)"
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step("warm-up question")  # models and the BM25 index loaded before timing
    for question in questions:
        embedding = model.get_query_embedding(question)
        for name, step in steps.items():
            started = time.perf_counter()
            if name == chroma_name:
                retriever.collection.query(
                    query_embeddings=np.asarray([embedding], dtype=np.float32), n_results=pool
                )
            else:
                step(question)
            times[name].append((time.perf_counter() - started) * 1000)
    shipped = times[f"hybrid retrieval, shipped (top {k})"]
    header = ["step", "p50 ms", "p95 ms", "mean ms", "share of shipped p50"]
    rows = [
        [
            name,
            fmt(percentile(values, 50)),
            fmt(percentile(values, 95)),
            fmt(statistics.fmean(values)),
            f"{percentile_or_zero(values, 50) / max(percentile_or_zero(shipped, 50), 1e-9):.0%}",
        ]
        for name, values in times.items()
    ]
    count = retriever.collection.count()
    notes = [f"{len(questions)} questions, collection {retriever.collection.name!r} ({count:,} chunks)"]
    return (header, rows), notes
