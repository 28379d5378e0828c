"""A Chroma server (RAG_CHROMA_HOST) that goes down mid-use: a clear StoreError from every entry
point, `error: ...` from the CLI, and the same service object works again once it is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.errors import StoreError
from rag.service import RagService
from rag.settings import Settings

from .conftest import GANJA_QUESTION, SEEDS
from .servers import ChromaServer, chroma_running


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    with chroma_running(tmp_path / "server-data") as chroma:
        yield chroma


def test_server_down_then_back(tmp_path: Path, server: ChromaServer) -> None:
    settings = Settings(
        index_dir=tmp_path / "local", chroma_host="127.0.0.1", chroma_port=server.port, llm="extractive"
    )
    service = RagService(settings)
    assert service.index([SEEDS], show_progress=False).added == 1
    before = service.answerer().ask(GANJA_QUESTION)
    assert not before.refused

    server.stop()
    down = f"The Chroma server at 127.0.0.1:{server.port} does not answer"
    for name, call in [
        ("search", lambda: service.search(GANJA_QUESTION)),
        ("ask", lambda: service.answerer().ask(GANJA_QUESTION)),
        ("index", lambda: service.index([SEEDS], show_progress=False)),
        ("stats", lambda: service.stats()),
        ("collections", lambda: service.collections()),
    ]:
        with pytest.raises(StoreError) as caught:
            call()
        assert down in str(caught.value) and "Start it again" in str(caught.value), name
    with pytest.raises(StoreError, match="Cannot reach the Chroma server"):  # a service started now
        RagService(settings).answerer()
    env = {
        "RAG_CHROMA_HOST": "127.0.0.1",
        "RAG_CHROMA_PORT": str(server.port),
        "RAG_INDEX_DIR": str(tmp_path),
    }
    result = CliRunner().invoke(app, ["ask", GANJA_QUESTION, "--llm", "extractive"], env=env)
    assert result.exit_code == 3 and result.stderr.startswith("error: Cannot reach the Chroma server")
    assert "Traceback" not in result.output and "unexpected" not in result.output

    server.start()  # same port, same folder: the same service object carries on
    after = service.answerer().ask(GANJA_QUESTION)
    assert after.answer == before.answer and after.citations == before.citations
    again = service.index([SEEDS], show_progress=False)
    assert (again.unchanged, again.chunks_embedded) == (1, 0)
