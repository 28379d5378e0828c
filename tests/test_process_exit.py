"""Every way out of a `rag` process that started the real local model ends it promptly.

Bad input is refused before any model loads (under 2 s); a finished answer, an LLM error,
Ctrl-C and SIGTERM each end the process within 5 s, with the llama.cpp server's threads
stopped and nothing left listening. The interrupt cases repeat: the hang they guard against
(llama.cpp's task loop missing its stop signal) was a race.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from .conftest import GANJA_QUESTION, ctrl_c_as_in_a_terminal

pytestmark = pytest.mark.llm

RAG = [sys.executable, "-m", "rag.apps.cli.main"]
EXIT_WITHIN_S = 5.0
REFUSED_WITHIN_S = 2.0


def environment(index_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_LLM": "local", **extra}
    for name in ("OPENAI_API_KEY", "RAG_LLM_BASE_URL"):
        env.pop(name, None)
    return env


@dataclass
class Running:
    """A `rag` process whose output lines are timestamped as they arrive."""

    process: subprocess.Popen[str]
    lines: queue.Queue[tuple[float, str, str]] = field(default_factory=queue.Queue)
    seen: list[tuple[float, str, str]] = field(default_factory=list)

    def wait_for(self, predicate: str, timeout: float) -> float:
        """The time the first line containing `predicate` arrived."""
        deadline = time.monotonic() + timeout
        for stamp, _stream, line in self.seen:
            if predicate in line:
                return stamp
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(item)
            if predicate in item[2]:
                return item[0]
        raise AssertionError(f"no line with {predicate!r} in {timeout} s: {self.seen}")

    def finish(self, timeout: float) -> float:
        """Wait for the exit; the time it happened."""
        self.process.wait(timeout=timeout)
        ended = time.monotonic()
        time.sleep(0.2)  # the reader threads drain the pipes
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return ended

    def text(self, stream: str) -> str:
        return "\n".join(line for _, name, line in self.seen if name == stream)


def start(args: list[str], env: dict[str, str]) -> Running:
    process = subprocess.Popen(
        RAG + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    running = Running(process)
    for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr)):
        threading.Thread(target=_read, args=(pipe, name, running.lines), daemon=True).start()
    return running


def _read(pipe: object, name: str, lines: queue.Queue[tuple[float, str, str]]) -> None:
    for line in pipe:  # type: ignore[attr-defined]
        lines.put((time.monotonic(), name, line.rstrip("\n")))


def listening_ports(pid: int) -> set[int]:
    try:
        connections = psutil.Process(pid).net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return set()
    return {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}


def wait_for_model_server(running: Running, timeout: float = 120.0) -> set[int]:
    """The ports the process listens on, once llama.cpp's server there has loaded the model."""
    running.wait_for("Starting the local model", timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert running.process.poll() is None, running.seen
        ports = listening_ports(running.process.pid)
        if ports and all(model_loaded(port) for port in ports):
            return ports
        time.sleep(0.1)
    raise AssertionError("the local model server never became ready")


def model_loaded(port: int) -> bool:
    """llama.cpp's /health says 200 once the model is in memory (503 while it loads)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def nothing_left(pid: int, ports: set[int]) -> None:
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    leftovers = [p for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == pid]
    assert leftovers == [], f"children left running: {leftovers}"
    for port in ports:
        listening = {c.laddr.port for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        assert port not in listening, f"port {port} still listening"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exit") / "index"
    done = subprocess.run(
        [*RAG, "index", "-q"], env=environment(folder), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return folder


BAD_INPUT = [
    (["ask", "   "], {}, "The question is empty"),
    (["ask", "x" * 3000], {}, "keep it under 2,000"),
    (["ask", GANJA_QUESTION, "--since", "2020-13-45"], {}, "--since '2020-13-45' is not a date"),
    (["ask", GANJA_QUESTION, "--collection", "no such!"], {}, "Invalid collection name 'no such!'"),
    (["ask", GANJA_QUESTION], {"RAG_TOP_K": "0"}, "RAG_TOP_K='0' is not allowed"),
    (["eval", "no-such-questions.jsonl"], {}, "No such questions file: no-such-questions.jsonl"),
]


@pytest.mark.parametrize(("args", "env", "message"), BAD_INPUT, ids=[m for _, _, m in BAD_INPUT])
def test_bad_input_is_refused_before_any_model_loads(
    index_dir: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    for _ in range(3):
        started = time.monotonic()
        done = subprocess.run(
            RAG + args, env=environment(index_dir, **env), capture_output=True, text=True, timeout=60
        )
        took = time.monotonic() - started
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert done.stderr.count("\n") == 1, f"one line, not: {done.stderr!r}"
        assert "Starting the local model" not in done.stderr
        assert took < REFUSED_WITHIN_S, f"{args}: {took:.1f} s"


@pytest.mark.parametrize(
    ("signal_number", "exit_code", "said"),
    [(signal.SIGINT, 130, "interrupted")] * 2 + [(signal.SIGTERM, 143, "terminated")] * 2,
    ids=["ctrl-c-1", "ctrl-c-2", "sigterm-1", "sigterm-2"],
)
def test_an_interrupted_answer_ends_the_process(
    index_dir: Path, signal_number: int, exit_code: int, said: str
) -> None:
    running = start(["ask", GANJA_QUESTION], environment(index_dir))
    try:
        ports = wait_for_model_server(running)
        time.sleep(1.0)  # the question is with the model now (its prompt takes seconds to read)
        assert running.process.poll() is None, "answered before it could be interrupted"
        sent = time.monotonic()
        running.process.send_signal(signal_number)
        ended = running.finish(timeout=60)
    finally:
        if running.process.poll() is None:
            running.process.kill()
    assert ended - sent < EXIT_WITHIN_S, f"exited {ended - sent:.1f} s after the signal"
    assert running.process.returncode == exit_code, running.seen
    assert said in running.text("stderr")
    assert "Traceback" not in running.text("stderr") + running.text("stdout")
    nothing_left(running.process.pid, ports)


def test_a_finished_answer_and_an_llm_error_end_the_process(index_dir: Path) -> None:
    running = start(["ask", GANJA_QUESTION, "--json"], environment(index_dir))
    ports = wait_for_model_server(running)
    answered = running.wait_for("}", timeout=180)  # the JSON's last line
    ended = running.finish(timeout=60)
    assert running.process.returncode == 0, running.seen
    assert ended - answered < EXIT_WITHIN_S
    nothing_left(running.process.pid, ports)

    # A model too slow for RAG_LLM_TIMEOUT: an LLM error (exit 4), and the same prompt exit.
    failing = start(["ask", GANJA_QUESTION], environment(index_dir, RAG_LLM_TIMEOUT="0.5"))
    ports = wait_for_model_server(failing)
    failed = failing.wait_for("did not answer within 0.5 s", timeout=120)
    ended = failing.finish(timeout=60)
    assert failing.process.returncode == 4, failing.seen
    assert ended - failed < EXIT_WITHIN_S
    assert "Traceback" not in failing.text("stderr")
    nothing_left(failing.process.pid, ports)
