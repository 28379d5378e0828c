"""Peak memory of `rag index`, `rag ask` and `rag serve` (`rag bench memory`).

Each runs as its own child process against a throwaway index, and its peak resident set size
is read from wait4() when it exits; the web app is stopped after it has answered one /ask.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.bench.table import Table, fmt
from rag.net import free_port
from rag.settings import Settings


def peak_rss_mb(
    command: Sequence[str], env: dict[str, str], until: Callable[[], bool] | None = None
) -> tuple[float, int]:
    """Peak resident memory (MB) of a child process, and its exit code.

    With `until`, the child (a server) runs until `until()` returns True, then is stopped.
    """
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if until is not None:
        try:
            until()
        finally:
            process.terminate()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, process.returncode


def bench_memory(settings: Settings, corpus: Path, question: str) -> tuple[Table, list[str]]:
    """Peak RSS of `rag index`, `rag ask` and `rag serve` (+ one /ask call), each its own process."""
    rag = [sys.executable, "-m", "rag.apps.cli.main"]
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-memory-") as tmp:
        env = {**os.environ, "RAG_INDEX_DIR": tmp, "RAG_LLM": "extractive"}
        env.pop("RAG_CHROMA_HOST", None)
        runs: list[tuple[str, list[str], Callable[[], bool] | None]] = [
            (f"rag index {corpus.name}", [*rag, "index", str(corpus), "-q", "-c", "bench"], None),
            ("rag index (again: unchanged)", [*rag, "index", str(corpus), "-q", "-c", "bench"], None),
            ("rag ask --llm extractive", [*rag, "ask", question, "-c", "bench", "--llm", "extractive"], None),
        ]
        for name, command, until in runs:
            started = time.perf_counter()
            peak, code = peak_rss_mb(command, env, until)
            rows.append([name, fmt(peak, 0), fmt(time.perf_counter() - started, 1), str(code)])
        port = free_port()
        served = [
            *rag,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            "bench",
            "--llm",
            "extractive",
        ]

        def one_question() -> bool:
            wait_for_http(f"http://127.0.0.1:{port}/", 300)
            from gradio_client import Client

            Client(f"http://127.0.0.1:{port}/", verbose=False).predict(question=question, api_name="/ask")
            return True

        started = time.perf_counter()
        peak, _ = peak_rss_mb(served, env, one_question)
        rows.append(
            ["rag serve + one /ask (extractive)", fmt(peak, 0), fmt(time.perf_counter() - started, 1), "–"]
        )
    header = ["process", "peak RSS MB", "seconds", "exit"]
    return (header, rows), ["each in its own process, peak resident set size from wait4()"]


def wait_for_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
