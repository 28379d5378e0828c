"""Scale and speed: bf16 embeddings, length-sorted batches, the `rag bench` commands, a small load test.

No timing assertions: the figures themselves are for `rag bench` on a quiet machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import TextNode
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.apps.web.app import build_app, launch
from rag.bench.load import bench_load
from rag.bench.memory import peak_rss_mb
from rag.ingest.indexing import embed_sorted
from rag.service import RagService
from rag.settings import Settings
from rag.store.embedding import BF16_MIN_BATCH, local_embed_model, make_embed_model

from .conftest import GANJA_QUESTION, SEEDS

SENTENCES = [
    "Armenia launched an overnight missile attack on Ganja, killing ten civilians.",
    "The central bank raised interest rates by half a percentage point on Tuesday.",
    "Short.",
    "A long sentence about the football World Cup final, " * 8,
]


def test_bf16_embeddings_agree_with_fp32() -> None:
    texts = SENTENCES * 2  # at least BF16_MIN_BATCH texts, so bf16 is really used
    assert len(texts) >= BF16_MIN_BATCH
    fp32 = np.asarray(local_embed_model(8, "fp32").get_text_embedding_batch(texts))
    bf16 = np.asarray(local_embed_model(8, "bf16").get_text_embedding_batch(texts))
    cosine = (fp32 * bf16).sum(axis=1)  # both normalised
    assert cosine.min() > 0.999
    query = local_embed_model(8, "bf16").get_query_embedding(GANJA_QUESTION)
    assert int(np.argmax(fp32 @ np.asarray(query))) == 0


def test_precision_is_a_setting(tmp_path: Path) -> None:
    assert Settings(index_dir=tmp_path).embed_precision == "bf16"
    model = make_embed_model(Settings(index_dir=tmp_path, embed_precision="fp32"))
    assert len(model.get_query_embedding("hello")) == 384


def test_length_sorted_batches_keep_the_order() -> None:
    model = local_embed_model(2, "fp32")
    nodes = [TextNode(text=text, id_=str(number)) for number, text in enumerate(SENTENCES)]
    sorted_vectors = np.asarray(embed_sorted(model, nodes))
    one_by_one = np.asarray([model.get_text_embedding(text) for text in SENTENCES])
    assert np.allclose(sorted_vectors, one_by_one, atol=1e-4)


@pytest.fixture(scope="module")
def seeded_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scale") / "index"
    RagService(Settings(index_dir=folder)).index([SEEDS], show_progress=False)
    return folder


def test_bench_embed_and_latency_print_their_tables(
    seeded_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_INDEX_DIR", str(seeded_index))
    runner = CliRunner()
    embed = runner.invoke(app, ["bench", "embed", "--chunks", "8", "--rounds", "1"])
    assert embed.exit_code == 0, embed.output
    assert "| model alone, fp32, batch 32 (plain) |" in embed.output
    assert "rag index" in embed.output and "vs fp32 plain" in embed.output
    latency = runner.invoke(app, ["bench", "latency", "--limit", "2"])
    assert latency.exit_code == 0, latency.output
    assert "Chroma query alone" in latency.output and "hybrid retrieval, shipped" in latency.output


def test_load_test_with_five_users_has_no_errors(seeded_index: Path) -> None:
    service = RagService(Settings(index_dir=seeded_index, llm="extractive"))
    demo = build_app(service)
    from rag.net import free_port

    port = free_port()
    launch(demo, "127.0.0.1", port, settings=service.settings, prevent_thread_lock=True, quiet=True)
    try:
        (_, rows), notes, errors = bench_load(
            f"http://127.0.0.1:{port}/", [GANJA_QUESTION], users=5, per_user=2, timeout=240
        )
    finally:
        demo.close()
    assert errors == 0, notes
    assert rows[1][:3] == ["5", "10/10", "0"]


def test_peak_memory_of_a_child_process() -> None:
    peak, code = peak_rss_mb([sys.executable, "-c", "x = bytearray(50_000_000)"], {})
    assert code == 0 and peak > 50
