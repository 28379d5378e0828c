"""Stage 5a: the generator, always spoken to through the OpenAI protocol.

`auto` picks, in order: RAG_LLM_BASE_URL (any OpenAI-compatible server), OpenAI when
OPENAI_API_KEY is set, else the bundled local model served in-process by xllamacpp's
llama.cpp server on 127.0.0.1. `extractive` needs no LLM at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any, Protocol

import openai
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.llms.openai_like import OpenAILike

from rag.answering.local_model import BUNDLED_MODELS, LocalServer
from rag.errors import ConfigError, LlmError
from rag.openai_errors import (
    MAX_RETRIES,
    RETRYABLE,
    ServerKind,
    failure_message,
    is_timeout,
    retry_after,
    retry_wait,
)
from rag.settings import Settings
from rag.types import LlmInfo


def resolve_backend(settings: Settings) -> str:
    choice = settings.llm
    if choice != "auto":
        return choice
    if settings.llm_base_url:
        return "openai-compatible"
    if settings.openai_api_key is not None:
        return "openai"
    return "local"


LLM_SERVER = ServerKind(
    name="LLM server",
    short="LLM",
    api="chat API",
    serves="chat completions",
    base_url_setting="RAG_LLM_BASE_URL",
    model_setting="RAG_LLM_MODEL",
    key_setting="RAG_LLM_API_KEY (or OPENAI_API_KEY)",
    timeout_setting="RAG_LLM_TIMEOUT",
    unreachable_hint="Or choose another backend with --llm.",
    rate_limit_hint="a larger RAG_LLM_TIMEOUT waits longer",
    verb="ask",
    reply="answer",
)


class ChatStreamer(Protocol):
    """What the answerer needs of a model: who it is, and a stream of text for chat messages
    (the Generator; `rag bench llm` wraps one to count and time what it streams)."""

    info: LlmInfo

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]: ...


class Generator:
    """Streams chat completions from whichever backend the settings name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        backend = resolve_backend(settings)
        if backend == "extractive":
            raise ConfigError("The extractive backend has no generator.")
        # The local server lives as long as this Generator: build one and reuse it.
        self.info, self._llm, self._server = _make_llm(backend, settings)

    def local_url(self) -> str:
        """The bundled model's server (OpenAI API root), for benchmarks that read its timings."""
        if self._server is None:
            raise ConfigError("Only the local backend has a llama.cpp server to measure.")
        return self._server.base_url

    def close(self) -> None:
        """Stop the local model server, if this generator started one."""
        if self._server is not None:
            self._server.close()

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]:
        """Text deltas, all within RAG_LLM_TIMEOUT; every failure becomes an LlmError saying what to do.

        A 429, a 5xx or a refused connection is retried with exponential backoff (honouring
        Retry-After) while the time budget allows. A reply cut off mid-way, or not in the OpenAI
        format, is an error too, never a silently shortened answer.
        """
        started = time.monotonic()
        deadline = started + self.settings.llm_timeout
        tries = 0
        while True:
            tries += 1
            sent = 0
            try:
                for delta in self._stream_once(messages, deadline):
                    sent += 1
                    yield delta
                return
            except RETRYABLE as err:
                if sent or isinstance(err, openai.APITimeoutError):
                    raise self._error(err, tries, started) from err
                wait = retry_wait(err, tries)
                limit = 1 if isinstance(err, openai.APIConnectionError) else MAX_RETRIES
                if tries > limit or time.monotonic() + wait >= deadline:
                    asked = wait if retry_after(err) is not None else 0.0
                    raise self._error(err, tries, started, asked) from err
                time.sleep(wait)
            except LlmError:
                raise
            except Exception as err:  # the backend's failure, whatever it is, reads as one line
                raise self._error(err, tries, started) from err

    def _stream_once(self, messages: list[ChatMessage], deadline: float) -> Iterator[str]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout()
        chunks = finished = 0
        # The per-request timeout bounds each wait for the server (connect, each read).
        for chunk in self._llm.stream_chat(messages, timeout=remaining):
            chunks += 1
            finished += finish_reason(chunk.raw) is not None
            if chunk.delta:
                yield chunk.delta
            if time.monotonic() > deadline:
                raise self._timeout()
        if not finished:
            if chunks == 0:
                raise LlmError(
                    f"The LLM server at {self._llm.api_base} sent no answer in the OpenAI format: "
                    "check RAG_LLM_BASE_URL (it usually ends in /v1)."
                )
            raise LlmError("The answer stream was cut off before the model finished: ask again.")

    def _timeout(self) -> LlmError:
        return LlmError(
            f"The model did not answer within {self.settings.llm_timeout:g} s (RAG_LLM_TIMEOUT): "
            "try again, or raise RAG_LLM_TIMEOUT for a slow server."
        )

    def _error(self, err: Exception, tries: int, started: float, asked: float = 0.0) -> LlmError:
        """The message a user reads for a backend failure (`asked`: a Retry-After too long to wait)."""
        if is_timeout(err):
            return self._timeout()
        message = failure_message(
            err,
            LLM_SERVER,
            where=str(self._llm.api_base),
            model=self._llm.model,
            tries=tries,
            spent=time.monotonic() - started,
            timeout=self.settings.llm_timeout,
            asked=asked,
        )
        return LlmError(message)


def finish_reason(raw: Any) -> str | None:
    """The chunk's finish_reason: every complete OpenAI stream ends with one."""
    choices = raw.get("choices") if isinstance(raw, dict) else getattr(raw, "choices", None)
    for choice in choices if isinstance(choices, list) else []:
        if isinstance(choice, dict):
            reason = choice.get("finish_reason")
        else:
            reason = getattr(choice, "finish_reason", None)
        if reason:
            return str(reason)
    return None


def _make_llm(backend: str, settings: Settings) -> tuple[LlmInfo, OpenAILike, LocalServer | None]:
    common: dict[str, Any] = {
        "timeout": settings.llm_timeout,
        "max_retries": 0,  # Generator.stream retries, within the time budget
        "temperature": settings.temperature,
        "max_tokens": settings.max_answer_tokens,
        "is_chat_model": True,
        "is_function_calling_model": False,
        "context_window": settings.local_ctx,
    }
    if backend == "local":
        print(f"Starting the local model ({BUNDLED_MODELS[settings.local_model].name})…", file=sys.stderr)
        server = LocalServer(settings)
        llm = OpenAILike(model="local", api_base=server.base_url, api_key="none", **common)
        return LlmInfo("local", server.model.name), llm, server
    if backend == "openai-compatible":
        if not settings.llm_base_url:
            raise ConfigError("RAG_LLM_BASE_URL is not set.")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
        llm = OpenAILike(model=settings.llm_model, api_base=settings.llm_base_url, api_key=key, **common)
        info = LlmInfo("openai-compatible", f"{settings.llm_model} at {settings.llm_base_url}")
        return info, llm, None
    if backend == "openai":
        if settings.openai_api_key is None:
            raise ConfigError("--llm openai needs OPENAI_API_KEY to be set.")
        llm = OpenAILike(
            model=settings.openai_model,
            api_base=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            **common,
        )
        return LlmInfo("openai", settings.openai_model), llm, None
    raise ConfigError(f"Unknown LLM backend {backend!r}: use auto, local, openai or extractive.")


def make_messages(system: str, user: str) -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=system),
        ChatMessage(role=MessageRole.USER, content=user),
    ]
