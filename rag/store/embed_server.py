"""Stage 3a': embeddings from a server of the OpenAI embeddings API (RAG_EMBEDDING=openai-compatible).

Infinity, vLLM, Text Embeddings Inference, Ollama or OpenAI itself: `POST {base}/embeddings`
through the `openai` client. Failures are handled as the LLM's are (rag/answering/llm.py): a 429, a 5xx
or a refused connection is retried with backoff (honouring Retry-After) within
RAG_EMBEDDING_TIMEOUT, and every failure becomes one EmbeddingError line saying what to do.
Several base URLs (comma-separated) take the requests in turn; a retry goes to the next one.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import numpy as np
import openai
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr

from rag.errors import ConfigError, EmbeddingError
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

EMBEDDING_SERVER = ServerKind(
    name="embedding server",
    short="embedding server",
    api="embeddings API",
    serves="embeddings",
    base_url_setting="RAG_EMBEDDING_BASE_URL",
    model_setting="RAG_EMBEDDING_MODEL",
    key_setting="RAG_EMBEDDING_API_KEY",
    timeout_setting="RAG_EMBEDDING_TIMEOUT",
    unreachable_hint="Check RAG_EMBEDDING_BASE_URL, or set RAG_EMBEDDING=local.",
    rate_limit_hint="a lower RAG_EMBED_CONCURRENCY sends less at once",
    verb="run",
    reply="reply",
)


def server_embed_model(settings: Settings) -> ServerEmbedding:
    urls = [url.strip().rstrip("/") for url in (settings.embedding_base_url or "").split(",") if url.strip()]
    if not urls:
        raise ConfigError(
            "RAG_EMBEDDING=openai-compatible needs RAG_EMBEDDING_BASE_URL "
            "(e.g. http://127.0.0.1:7997/v1; several, comma-separated, share the work)."
        )
    if not settings.embedding_model:
        raise ConfigError(
            "RAG_EMBEDDING=openai-compatible needs RAG_EMBEDDING_MODEL, the model name the server "
            "serves (e.g. sentence-transformers/all-MiniLM-L6-v2)."
        )
    key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
    return ServerEmbedding(
        base_urls=urls,
        api_key=key,
        model_name=settings.embedding_model,
        embed_batch_size=settings.embed_batch_size,
        timeout=settings.embedding_timeout,
    )


class ServerEmbedding(BaseEmbedding):
    """llama-index's embedding interface over the `openai` client; thread-safe, one request per batch."""

    base_urls: list[str] = Field(min_length=1)
    timeout: float = Field(60.0, gt=0, description="seconds for one batch, retries included")
    _clients: list[openai.OpenAI] = PrivateAttr(default_factory=list)
    _turn: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default=None)
    _dim: int | None = PrivateAttr(default=None)

    def __init__(self, *, api_key: str | None = None, **data: Any) -> None:
        super().__init__(**data)
        self._clients = [
            # max_retries=0: _embed retries, within the time budget, on the next server.
            openai.OpenAI(base_url=url, api_key=api_key or "none", max_retries=0, timeout=self.timeout)
            for url in self.base_urls
        ]
        self._turn = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def class_name(cls) -> str:
        return "ServerEmbedding"

    @property
    def dimension(self) -> int | None:
        """The vector size the server returned (None before the first answer)."""
        return self._dim

    # --- llama-index's interface ---------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await asyncio.to_thread(self._embed, [query]))[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await asyncio.to_thread(self._embed, [text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed, texts)

    # --- one batch, with retries -----------------------------------------------------------
    def _next_client(self) -> openai.OpenAI:
        with self._lock:
            return self._clients[next(self._turn) % len(self._clients)]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        started = time.monotonic()
        deadline = started + self.timeout
        tries = 0
        while True:
            tries += 1
            client = self._next_client()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout()
            try:
                response = client.embeddings.create(
                    model=self.model_name, input=texts, encoding_format="float", timeout=remaining
                )
                return self._vectors(response, len(texts), str(client.base_url))
            except RETRYABLE as err:
                if isinstance(err, openai.APITimeoutError):
                    raise self._timeout() from err
                wait = retry_wait(err, tries)
                # A refused connection: each server once more; a 429 or 5xx: up to MAX_RETRIES.
                limit = len(self._clients) if isinstance(err, openai.APIConnectionError) else MAX_RETRIES
                if tries > limit or time.monotonic() + wait >= deadline:
                    asked = wait if retry_after(err) is not None else 0.0
                    raise self._error(err, tries, started, str(client.base_url), asked) from err
                time.sleep(wait)
            except EmbeddingError:
                raise
            except Exception as err:  # whatever the server did, the user reads one line
                raise self._error(err, tries, started, str(client.base_url)) from err

    def _vectors(self, response: Any, count: int, where: str) -> list[list[float]]:
        data = sorted(getattr(response, "data", None) or [], key=lambda item: item.index)
        if len(data) != count:
            raise EmbeddingError(
                f"The embedding server at {where} returned {len(data)} vectors for {count} texts: "
                "check that RAG_EMBEDDING_BASE_URL points at an OpenAI-compatible embeddings API."
            )
        try:
            matrix = np.asarray([item.embedding for item in data], dtype=np.float64)
        except (TypeError, ValueError) as err:  # ragged rows or not numbers
            raise EmbeddingError(
                f"The embedding server at {where} returned vectors of different sizes in one batch: "
                f"check that it serves {self.model_name!r} alone."
            ) from err
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise EmbeddingError(f"The embedding server at {where} returned empty or non-numeric vectors.")
        with self._lock:
            if self._dim is None:
                self._dim = int(matrix.shape[1])
        if matrix.shape[1] != self._dim:
            raise EmbeddingError(
                f"The embedding server at {where} returned {matrix.shape[1]}-dimensional vectors, "
                f"earlier answers had {self._dim}: the servers in RAG_EMBEDDING_BASE_URL must all "
                f"serve the same model ({self.model_name!r})."
            )
        # Unit length, as the in-process model gives them (cosine distance does not care).
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.where(norms == 0, 1.0, norms)).tolist()  # type: ignore[no-any-return]

    # --- what the user reads ---------------------------------------------------------------
    def _timeout(self) -> EmbeddingError:
        return EmbeddingError(
            f"The embedding server did not answer within {self.timeout:g} s (RAG_EMBEDDING_TIMEOUT): "
            "try again, or raise RAG_EMBEDDING_TIMEOUT (or lower RAG_EMBED_BATCH_SIZE) for a slow server."
        )

    def _error(
        self, err: Exception, tries: int, started: float, where: str, asked: float = 0.0
    ) -> EmbeddingError:
        if is_timeout(err):
            return self._timeout()
        message = failure_message(
            err,
            EMBEDDING_SERVER,
            where=where,
            model=self.model_name,
            tries=tries,
            spent=time.monotonic() - started,
            timeout=self.timeout,
            asked=asked,
            servers=", ".join(self.base_urls),
        )
        return EmbeddingError(message)
