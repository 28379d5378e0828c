"""Client/server mode: a real `chroma run` server on 127.0.0.1, used through RAG_CHROMA_HOST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import StoreError
from rag.net import free_port
from rag.service import RagService
from rag.settings import Settings

from .conftest import GANJA_QUESTION, SEEDS
from .servers import chroma_running


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[int]:
    with chroma_running(tmp_path / "server-data") as server:
        yield server.port


def test_index_and_ask_against_a_chroma_server(tmp_path: Path, chroma_server: int) -> None:
    settings = Settings(
        index_dir=tmp_path / "local-index",
        chroma_host="127.0.0.1",
        chroma_port=chroma_server,
        llm="extractive",
    )
    service = RagService(settings)
    first = service.index([SEEDS], show_progress=False)
    assert first.added == 1 and first.chunks_total > 0
    # Nothing was written to the embedded store: the chunks are on the server.
    assert not (tmp_path / "local-index" / "chroma.sqlite3").exists()
    again = RagService(settings).index([SEEDS], show_progress=False)
    assert again.unchanged == 1 and again.chunks_embedded == 0
    answer = RagService(settings).answerer().ask(GANJA_QUESTION)
    assert not answer.refused and "killing ten civilians" in answer.citations[0].quote


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "i", chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match="Cannot reach the Chroma server"):
        _ = RagService(settings).client


def test_web_chat_and_eval_against_a_chroma_server(tmp_path: Path, chroma_server: int) -> None:
    """Server mode all the way: the web app's /ask (5 users at once) and `rag eval` read the server."""
    import json

    from rag.apps.web.app import build_app, launch
    from rag.bench.load import bench_load
    from rag.evaluation.evaluator import EvalOptions
    from rag.evaluation.runner import run_eval

    settings = Settings(
        index_dir=tmp_path / "local-index",
        chroma_host="127.0.0.1",
        chroma_port=chroma_server,
        llm="extractive",
    )
    RagService(settings).index([SEEDS], show_progress=False)
    demo = build_app(RagService(settings))
    port = free_port()
    launch(demo, "127.0.0.1", port, settings=settings, prevent_thread_lock=True, quiet=True)
    try:
        (_, rows), notes, errors = bench_load(f"http://127.0.0.1:{port}/", [GANJA_QUESTION], 5, 1, 240)
    finally:
        demo.close()
    assert errors == 0 and rows[1][1] == "5/5", notes
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": GANJA_QUESTION, "answers": ["ten"]}) + "\n")
    outcome = run_eval(
        settings, EvalOptions(questions, out=tmp_path / "run", retrieval_only=True, progress=False)
    )
    assert outcome.report["count"] == 1 and outcome.report["metrics"].get("errors", 0) == 0
    assert not (tmp_path / "local-index" / "chroma.sqlite3").exists()
