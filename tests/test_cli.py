"""The `rag` command as a user runs it: real processes, real output, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import GANJA_QUESTION, SEEDS, WORLD_CUP_QUESTION

RAG = [sys.executable, "-m", "rag.apps.cli.main"]


def run(args: list[str], index_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAG_INDEX_DIR": str(index_dir), **env}
    environment.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        RAG + args, capture_output=True, text=True, env=environment, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "index"
    first = run(["index"], folder)
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stdout
    return folder


def test_second_index_adds_nothing(index_dir: Path) -> None:
    again = run(["index", str(SEEDS)], index_dir)
    assert again.returncode == 0
    assert "0 added, 0 updated, 1 unchanged, 0 removed; chunks: 0 embedded" in again.stdout


def test_search_json_lists_passages_in_rank_order(index_dir: Path) -> None:
    result = run(["search", GANJA_QUESTION, "--json", "--k", "3"], index_dir)
    assert result.returncode == 0, result.stderr
    passages = json.loads(result.stdout)
    assert len(passages) == 3
    assert set(passages[0]) == {
        "doc_id", "title", "source", "author", "published", "url", "text", "start", "end", "score"
    }  # fmt: skip
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
    assert "killing ten civilians" in passages[0]["text"]


def test_ask_json_extractive(index_dir: Path) -> None:
    result = run(["ask", GANJA_QUESTION, "--json", "--llm", "extractive"], index_dir)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["refused"] is False and "[1]" in answer["answer"]
    assert answer["llm"] == {"backend": "extractive", "model": "none (quoted sentences)"}
    assert "killing ten civilians" in answer["citations"][0]["quote"]


def test_ask_text_prints_answer_and_sources(index_dir: Path) -> None:
    result = run(["ask", GANJA_QUESTION, "--llm", "extractive"], index_dir)
    assert result.returncode == 0
    assert "Sources:" in result.stdout and "[1] “" in result.stdout and "Azernews" in result.stdout


def test_refusal_from_the_cli(index_dir: Path) -> None:
    result = run(["ask", WORLD_CUP_QUESTION, "--json", "--llm", "extractive"], index_dir)
    answer = json.loads(result.stdout)
    assert answer["refused"] is True and answer["citations"] == []


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["ask", "hi", "--llm", "gpt9"], {}, "Invalid value for '--llm'"),
        (["ask", "   "], {}, "The question is empty"),
        (["index", "/no/such/folder"], {}, "No such file or folder: /no/such/folder"),
        (["ask", "hello", "--collection", "nothing-here"], {}, "No collection named 'nothing-here'"),
        (
            ["ask", GANJA_QUESTION],
            {"RAG_LLM_BASE_URL": "http://127.0.0.1:9/v1"},
            "Cannot reach the LLM at http://127.0.0.1:9/v1",
        ),
    ],
)
def test_bad_input_gives_one_clear_line(
    index_dir: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run(args, index_dir, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
