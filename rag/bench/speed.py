"""Scale and speed benchmarks (`rag bench embed|latency|llm|memory|load`).

Every figure comes from one run on this machine, and every speed is set against a baseline
measured in the same run (interleaved where there are rounds), so a busy machine slows both.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode

from rag.bench.stats import percentile
from rag.ingest.chunking import Chunker
from rag.ingest.indexing import index_paths
from rag.ingest.loaders import load_corpus
from rag.net import free_port
from rag.retrieval.retriever import RetrievalConfig, Retriever
from rag.settings import Settings
from rag.store.chroma import open_collection
from rag.store.embedding import bf16_supported, local_embed_model
from rag.types import Article

Table = tuple[list[str], list[list[str]]]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


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
                    _fmt(len(texts) / seconds),
                    _fmt(len(articles) / seconds),
                    _fmt(seconds),
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
        rows.append([name, _fmt(len(texts) / seconds), _fmt(seconds, 2), f"x{base / seconds:.2f}"])
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
            _fmt(percentile(values, 50)),
            _fmt(percentile(values, 95)),
            _fmt(statistics.fmean(values)),
            f"{(percentile(values, 50) or 0.0) / max(percentile(shipped, 50) or 0.0, 1e-9):.0%}",
        ]
        for name, values in times.items()
    ]
    count = retriever.collection.count()
    notes = [f"{len(questions)} questions, collection {retriever.collection.name!r} ({count:,} chunks)"]
    return (header, rows), notes


# --- local model: first token and tokens/s --------------------------------------------------------


def bench_llm(service: Any, questions: Sequence[str], rounds: int = 1) -> tuple[Table, list[str]]:
    """Time to first token (question in) and decode speed of the local model at the default context."""
    from rag.types import Done, Draft

    generator = service.generator("local")
    assert generator is not None
    count_deltas = _DeltaCounter(generator)
    answerer = service.answerer(backend="local", streamer=count_deltas)
    rows: list[list[str]] = []
    first_tokens: list[float] = []
    rates: list[float] = []
    for round_ in range(rounds):
        for number, question in enumerate(questions):
            count_deltas.reset()
            started = time.perf_counter()
            answer = None
            for event in answerer.stream(question):
                if isinstance(event, Draft | Done):
                    answer = event
            total = time.perf_counter() - started
            assert isinstance(answer, Done)
            first = answer.answer.timings.get("first_token_ms", total * 1000) / 1000
            rate = count_deltas.rate()
            label = "cold (first question)" if round_ == 0 and number == 0 else "warm (system prompt cached)"
            if not (round_ == 0 and number == 0):
                first_tokens.append(first)
                rates.append(rate)
            rows.append(
                [question[:60], label, _fmt(first, 2), _fmt(total, 2), str(count_deltas.count), _fmt(rate)]
            )
    header = ["question", "cache", "first token s", "answer s", "tokens", "tokens/s"]
    info = generator.info.label() if hasattr(generator.info, "label") else str(generator.info)
    notes = [f"model: {info}, context {service.settings.local_ctx}, {service.settings.local_threads} threads"]
    if first_tokens:
        notes.append(
            f"warm: first token p50 {statistics.median(first_tokens):.2f} s, max {max(first_tokens):.2f} s; "
            f"decode {statistics.median(rates):.1f} tokens/s"
        )
    return (header, rows), notes


# llama.cpp options tried by `rag bench llm --sweep`: each against the shipped settings.
LLM_VARIANTS: list[dict[str, Any]] = [
    {},
    {"local_flash_attn": "on"},
    {"local_flash_attn": "off"},
    {"local_ubatch": 256},
    {"local_ubatch": 1024, "local_batch": 2048},
    {"local_flash_attn": "on", "local_kv_cache": "q8_0"},
]


def bench_llm_sweep(service: Any, questions: Sequence[str], max_tokens: int = 48) -> tuple[Table, list[str]]:
    """Prompt and decode speed of the local model under each of LLM_VARIANTS, on the real reader
    prompts of `questions`, and whether it writes the same answers (greedy) as the shipped one."""
    from rag.answering.attribution import passage_sentences
    from rag.answering.llm import Generator
    from rag.answering.reader import ReaderConfig

    settings = service.settings
    prompts = []
    for question in questions:
        passages = service.search(question, settings.top_k)
        reader = ReaderConfig.from_settings(settings)
        context = reader.context(question, passages, passage_sentences(passages))
        messages = service.prompts.reader_messages(question, context, None, reader.readings[0])
        prompts.append([{"role": m.role.value, "content": m.content} for m in messages])
    rows: list[list[str]] = []
    reference: list[str] = []
    for variant in LLM_VARIANTS:
        generator = Generator(settings.model_copy(update={"llm": "local", **variant}))
        try:
            url = generator.local_url()
            runs = [_complete(url, prompt, max_tokens) for prompt in [prompts[0], *prompts]][1:]  # warm
        finally:
            generator.close()
        answers = [run["answer"] for run in runs]
        reference = reference or answers
        same = sum(a == b for a, b in zip(answers, reference, strict=True))
        rows.append(
            [
                ", ".join(f"{k.removeprefix('local_')}={v}" for k, v in variant.items()) or "shipped",
                _fmt(statistics.median(run["prompt_tps"] for run in runs)),
                _fmt(statistics.median(run["prompt_n"] for run in runs), 0),
                _fmt(statistics.median(run["prompt_s"] for run in runs), 2),
                _fmt(statistics.median(run["decode_tps"] for run in runs)),
                f"{same}/{len(runs)}",
            ]
        )
    header = [
        "llama.cpp options",
        "prompt tokens/s",
        "prompt tokens",
        "prompt s",
        "decode tokens/s",
        "same answers",
    ]
    notes = [
        f"{len(questions)} reader prompts (RAG_READER={settings.reader}, RAG_READER_TOKENS="
        f"{settings.reader_tokens}), greedy, "
        f"{max_tokens} tokens at most, {settings.local_threads} threads; p50 over the prompts"
    ]
    return (header, rows), notes


def _complete(url: str, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
    """One non-streamed answer from llama.cpp's server, with the timings it reports."""
    import httpx

    body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0, "cache_prompt": False}
    reply = httpx.post(f"{url}/chat/completions", json=body, timeout=300).json()
    timings = reply.get("timings", {})
    return {
        "answer": reply["choices"][0]["message"]["content"],
        "prompt_tps": float(timings.get("prompt_per_second", 0.0)),
        "prompt_n": float(timings.get("prompt_n", 0)),
        "prompt_s": float(timings.get("prompt_ms", 0.0)) / 1000,
        "decode_tps": float(timings.get("predicted_per_second", 0.0)),
    }


class _DeltaCounter:
    """Wraps a Generator: counts streamed deltas (≈ tokens) and times them."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator
        self.info = generator.info
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def stream(self, messages: Any) -> Any:
        for delta in self._generator.stream(messages):
            now = time.perf_counter()
            if self.count == 0:
                self.first = now
            self.count += 1
            self.last = now
            yield delta

    def rate(self) -> float:
        return (
            (self.count - 1) / (self.last - self.first) if self.count > 1 and self.last > self.first else 0.0
        )


# --- peak memory of index, ask and the web app ----------------------------------------------------


def peak_rss_mb(
    command: Sequence[str], env: dict[str, str], until: Callable[[], bool] | None = None
) -> tuple[float, int]:
    """Peak resident memory (MB) of a child process, and its exit code.

    With `until`, the child (a server) runs until `until()` returns True, then is stopped.
    """
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if until is not None:
        try:
            until()
        finally:
            process.terminate()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, process.returncode


def bench_memory(settings: Settings, corpus: Path, question: str) -> tuple[Table, list[str]]:
    """Peak RSS of `rag index`, `rag ask` and `rag serve` (+ one /ask call), each its own process."""
    rag = [sys.executable, "-m", "rag.apps.cli.main"]
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-memory-") as tmp:
        env = {**os.environ, "RAG_INDEX_DIR": tmp, "RAG_LLM": "extractive"}
        env.pop("RAG_CHROMA_HOST", None)
        runs: list[tuple[str, list[str], Callable[[], bool] | None]] = [
            (f"rag index {corpus.name}", [*rag, "index", str(corpus), "-q", "-c", "bench"], None),
            ("rag index (again: unchanged)", [*rag, "index", str(corpus), "-q", "-c", "bench"], None),
            ("rag ask --llm extractive", [*rag, "ask", question, "-c", "bench", "--llm", "extractive"], None),
        ]
        for name, command, until in runs:
            started = time.perf_counter()
            peak, code = peak_rss_mb(command, env, until)
            rows.append([name, _fmt(peak, 0), _fmt(time.perf_counter() - started, 1), str(code)])
        port = free_port()
        served = [
            *rag,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            "bench",
            "--llm",
            "extractive",
        ]

        def one_question() -> bool:
            wait_for_http(f"http://127.0.0.1:{port}/", 300)
            from gradio_client import Client

            Client(f"http://127.0.0.1:{port}/", verbose=False).predict(question=question, api_name="/ask")
            return True

        started = time.perf_counter()
        peak, _ = peak_rss_mb(served, env, one_question)
        rows.append(
            ["rag serve + one /ask (extractive)", _fmt(peak, 0), _fmt(time.perf_counter() - started, 1), "–"]
        )
    header = ["process", "peak RSS MB", "seconds", "exit"]
    return (header, rows), ["each in its own process, peak resident set size from wait4()"]


# --- load test of the web app ----------------------------------------------------------------------


def wait_for_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    max_queue: int = 0
    wall_s: float = 0.0
    refused: int = 0


def run_load(
    url: str, questions: Sequence[str], users: int, per_user: int, timeout: float = 300.0
) -> LoadResult:
    """`users` threads, each asking `per_user` questions through /ask in turn; bounded in time."""
    from gradio_client import Client

    result = LoadResult()
    lock = threading.Lock()
    deadline = time.monotonic() + timeout
    start_together = threading.Barrier(users)

    def user(number: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as err:  # a user who cannot connect is an error, not a crash
            with lock:
                result.errors.extend([f"connect: {type(err).__name__}: {err}"] * per_user)
            start_together.abort()
            return
        with contextlib.suppress(threading.BrokenBarrierError):
            start_together.wait(timeout=120)
        for turn in range(per_user):
            question = questions[(number + turn) % len(questions)]
            started = time.perf_counter()
            try:
                job = client.submit(question=question, api_name="/ask")
                while not job.done():
                    if time.monotonic() > deadline:
                        job.cancel()
                        raise TimeoutError("load test time limit reached")
                    status = job.status()
                    with lock:
                        result.max_queue = max(result.max_queue, int(getattr(status, "queue_size", 0) or 0))
                    time.sleep(0.05)
                answer = job.result(timeout=max(1.0, deadline - time.monotonic()))
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    result.latencies_ms.append(elapsed)
                    result.refused += bool(answer.get("refused"))
            except Exception as err:
                with lock:
                    result.errors.append(f"{type(err).__name__}: {err}")
        client.close() if hasattr(client, "close") else None

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    result.wall_s = time.perf_counter() - started
    return result


def bench_load(
    url: str, questions: Sequence[str], users: int = 20, per_user: int = 5, timeout: float = 300.0
) -> tuple[Table, list[str], int]:
    """One user alone first (the baseline), then `users` at once, same questions, same server."""
    single = run_load(url, questions, 1, per_user, timeout)
    crowd = run_load(url, questions, users, per_user, timeout)
    header = ["users", "questions", "errors", "p50 ms", "p95 ms", "max ms", "answers/s", "max queue seen"]
    rows = []
    for count, result in ((1, single), (users, crowd)):
        done = len(result.latencies_ms)
        rows.append(
            [
                str(count),
                f"{done}/{count * per_user}",
                str(len(result.errors)),
                _fmt(percentile(result.latencies_ms, 50), 0),
                _fmt(percentile(result.latencies_ms, 95), 0),
                _fmt(max(result.latencies_ms, default=0.0), 0),
                _fmt(done / result.wall_s if result.wall_s else 0.0, 2),
                str(result.max_queue),
            ]
        )
    base = percentile(single.latencies_ms, 50) or 0.0
    rate_crowd = len(crowd.latencies_ms) / max(crowd.wall_s, 1e-9)
    rate_single = len(single.latencies_ms) / max(single.wall_s, 1e-9)
    notes = [
        f"{url}, /ask through gradio_client, {per_user} question(s) per user",
        f"throughput {users} users vs 1: x{rate_crowd / max(rate_single, 1e-9):.2f};"
        f" p50 latency x{(percentile(crowd.latencies_ms, 50) or 0.0) / max(base, 1e-9):.1f}",
    ]
    errors = single.errors + crowd.errors
    notes += [f"error: {error}" for error in errors[:5]]
    return (header, rows), notes, len(errors)
