"""LLM backend faults, injected by a local OpenAI-compatible server that misbehaves on purpose.

Each fault must give a readable message within RAG_LLM_TIMEOUT, with the retrieved passages
still there (and shown by `rag ask`), and never a traceback. A stream cut mid-answer keeps the
sentences already finished, with their citations.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.service import RagService
from rag.types import Answer

from .conftest import GANJA_QUESTION
from .fake_openai import GANJA_ANSWER, fake_openai

TIMEOUT = 2.0  # RAG_LLM_TIMEOUT in these tests: retries and waits must fit in it
FIRST_SENTENCE = "Ten civilians were killed in the attack on Ganja on October 11 [1]."
FULL_ANSWER = FIRST_SENTENCE + " Dozens of others were injured in the attack [1]."

# mode, server options, what the message must say, whether the first sentence survives
FAULTS: list[tuple[str, dict[str, Any], str, bool]] = [
    ("401", {}, "rejected the API key (401): check RAG_LLM_API_KEY", False),
    ("429", {"fail_times": -1}, "still rate-limiting (429) after 3 tries", False),
    ("429", {"fail_times": -1, "retry_after": 60}, "asks to wait 60 s, longer than RAG_LLM_TIMEOUT", False),
    ("500", {"fail_times": -1}, "failed 3 times (500", False),
    ("hang", {}, f"did not answer within {TIMEOUT:g} s (RAG_LLM_TIMEOUT)", False),
    ("hang-mid", {}, f"did not answer within {TIMEOUT:g} s (RAG_LLM_TIMEOUT)", True),
    ("cut", {}, "broke off mid-answer", True),
    ("cut-eof", {}, "cut off before the model finished", True),
    ("garbage", {}, "not in the OpenAI format (JSONDecodeError)", False),
    ("wrong-json", {}, "not in the OpenAI format", False),
    ("html", {}, "sent no answer in the OpenAI format: check RAG_LLM_BASE_URL", False),
]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # free once closed: nothing listens there


@pytest.fixture(scope="module")
def service(seeded_service: RagService) -> RagService:
    return seeded_service


def ask_through(service: RagService, base_url: str) -> tuple[Answer, float]:
    """The seed collection's retriever, with a generator pointed at `base_url`."""
    settings = service.settings.model_copy(
        update={"llm": "auto", "llm_base_url": base_url, "llm_timeout": TIMEOUT}
    )
    local = RagService(settings)
    local._retrievers = service._retrievers  # the same index and loaded models: only the LLM differs
    local.__dict__["embed_model"] = service.embed_model
    answerer = local.answerer()
    started = time.monotonic()
    answer = answerer.ask(GANJA_QUESTION)
    return answer, time.monotonic() - started


def test_the_fake_server_answers_with_a_cited_answer(service: RagService) -> None:
    with fake_openai("ok") as fake:
        answer, _ = ask_through(service, fake.base_url)
    assert (answer.answer, answer.error, answer.refused) == (FULL_ANSWER, None, False)
    assert "killing ten civilians" in answer.citations[0].quote
    assert fake.requests[0]["stream"] is True and fake.requests[0]["messages"][0]["role"] == "system"


@pytest.mark.parametrize(("mode", "options", "message", "keeps_first"), FAULTS, ids=lambda v: str(v)[:20])
def test_each_fault_is_a_readable_message_within_the_timeout(
    service: RagService, mode: str, options: dict[str, Any], message: str, keeps_first: bool
) -> None:
    with fake_openai(mode, **options) as fake:
        answer, seconds = ask_through(service, fake.base_url)
    assert answer.error is not None and message in answer.error
    assert seconds < TIMEOUT + 1.5, f"{mode}: {seconds:.1f} s"  # + retrieval
    assert answer.passages, "the retrieved passages stay with the answer"
    assert not answer.refused
    if keeps_first:  # cut mid-answer: the finished sentence and its citation stand
        assert answer.answer == FIRST_SENTENCE
        assert len(answer.citations) == 1 and "killing ten civilians" in answer.citations[0].quote
    else:
        assert answer.answer == "" and answer.citations == []


def test_unreachable_server(service: RagService) -> None:
    answer, seconds = ask_through(service, f"http://127.0.0.1:{closed_port()}/v1")
    assert answer.error is not None and "Cannot reach the LLM at http://127.0.0.1:" in answer.error
    assert seconds < TIMEOUT and answer.passages


def test_429_is_retried_with_backoff_then_answers(service: RagService) -> None:
    with fake_openai("429", fail_times=2) as fake:
        answer, seconds = ask_through(service, fake.base_url)
    assert answer.error is None and answer.answer == FULL_ANSWER
    assert len(fake.requests) == 3
    gaps = [b - a for a, b in zip(fake.request_times, fake.request_times[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95, gaps  # 0.5 s, then 1 s
    assert seconds < TIMEOUT + 1.5


def test_retry_after_is_honoured_when_it_fits(service: RagService) -> None:
    with fake_openai("429", fail_times=1, retry_after=1.5) as fake:
        answer, _ = ask_through(service, fake.base_url)
    assert answer.error is None and len(fake.requests) == 2
    assert fake.request_times[1] - fake.request_times[0] >= 1.45


# --- as the user sees it: `rag ask` ------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(service: RagService) -> Iterator[dict[str, str | None]]:
    # Each `rag ask` here runs in this process: hand it the embedding model already loaded.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("rag.service.make_embed_model", lambda settings: service.embed_model)
        yield {
            "RAG_INDEX_DIR": str(service.settings.index_dir),
            "RAG_LLM": "auto",
            "RAG_LLM_TIMEOUT": f"{TIMEOUT:g}",
            "OPENAI_API_KEY": None,
        }


@pytest.mark.parametrize(("mode", "options", "message", "keeps_first"), FAULTS, ids=lambda v: str(v)[:20])
def test_rag_ask_prints_the_message_and_the_sources(
    cli_env: dict[str, str | None], mode: str, options: dict[str, Any], message: str, keeps_first: bool
) -> None:
    with fake_openai(mode, **options) as fake:
        started = time.monotonic()
        result = CliRunner().invoke(
            app, ["ask", GANJA_QUESTION], env={**cli_env, "RAG_LLM_BASE_URL": fake.base_url}
        )
        seconds = time.monotonic() - started
    assert result.exit_code == 4, result.output
    assert "error: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if keeps_first:
        assert result.stdout.startswith(FIRST_SENTENCE)
        assert "Sources:\n[1] “" in result.stdout and "killing ten civilians" in result.stdout
        assert "The answer above is incomplete." in result.stderr
    else:
        assert "Retrieved passages (not an answer):\n  1. Azerbaijani Armed force" in result.stdout
    assert seconds < TIMEOUT + 1.5  # + retrieval


def test_rag_ask_json_carries_the_error_and_what_was_kept(cli_env: dict[str, str | None]) -> None:
    with fake_openai("cut") as fake:
        result = CliRunner().invoke(
            app, ["ask", GANJA_QUESTION, "--json"], env={**cli_env, "RAG_LLM_BASE_URL": fake.base_url}
        )
    assert result.exit_code == 4
    payload = json.loads(result.stdout)
    assert payload["answer"] == FIRST_SENTENCE and "broke off mid-answer" in payload["error"]
    assert [c["n"] for c in payload["citations"]] == [1] and payload["refused"] is False


def test_a_real_rag_ask_process_cut_mid_answer(cli_env: dict[str, str | None]) -> None:
    """One real process, exactly as a user runs it: stdout, stderr, exit code."""
    with fake_openai("cut") as fake:
        env = {**os.environ, "RAG_LLM_BASE_URL": fake.base_url}
        env.update({key: value for key, value in cli_env.items() if value is not None})
        env.pop("OPENAI_API_KEY", None)
        run = subprocess.run(
            [sys.executable, "-m", "rag.apps.cli.main", "ask", GANJA_QUESTION],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
    assert run.returncode == 4
    assert run.stdout.startswith(FIRST_SENTENCE + "\n\nSources:\n[1] “")
    assert "error: The connection to the LLM server broke off mid-answer" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert GANJA_ANSWER.split(". ")[1] not in run.stdout  # the unfinished sentence is not shown
