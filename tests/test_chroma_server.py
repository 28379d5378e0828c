"""Client/server mode: a real `chroma run` server on 127.0.0.1, used through RAG_CHROMA_HOST."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import StoreError
from rag.service import RagService
from rag.settings import Settings

from .conftest import GANJA_QUESTION, SEEDS

CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"chroma run did not listen on {port}")


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


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
