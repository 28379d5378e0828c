"""A load test of the web app (`rag bench load`): many users asking through /ask at once.

One user alone first (the baseline), then `users` at once with the same questions on the same
server; every user is a thread with its own gradio_client, and the whole test is bounded in time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.bench.stats import percentile, percentile_or_zero
from rag.bench.table import Table, fmt


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    max_queue: int = 0
    wall_s: float = 0.0
    refused: int = 0


def run_load(
    url: str, questions: Sequence[str], users: int, per_user: int, timeout: float = 300.0
) -> LoadResult:
    """`users` threads, each asking `per_user` questions through /ask in turn; bounded in time."""
    from gradio_client import Client

    result = LoadResult()
    lock = threading.Lock()
    deadline = time.monotonic() + timeout
    start_together = threading.Barrier(users)

    def user(number: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as err:  # a user who cannot connect is an error, not a crash
            with lock:
                result.errors.extend([f"connect: {type(err).__name__}: {err}"] * per_user)
            start_together.abort()
            return
        with contextlib.suppress(threading.BrokenBarrierError):
            start_together.wait(timeout=120)
        for turn in range(per_user):
            question = questions[(number + turn) % len(questions)]
            started = time.perf_counter()
            try:
                job = client.submit(question=question, api_name="/ask")
                while not job.done():
                    if time.monotonic() > deadline:
                        job.cancel()
                        raise TimeoutError("load test time limit reached")
                    status = job.status()
                    with lock:
                        result.max_queue = max(result.max_queue, int(getattr(status, "queue_size", 0) or 0))
                    time.sleep(0.05)
                answer = job.result(timeout=max(1.0, deadline - time.monotonic()))
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    result.latencies_ms.append(elapsed)
                    result.refused += bool(answer.get("refused"))
            except Exception as err:
                with lock:
                    result.errors.append(f"{type(err).__name__}: {err}")
        client.close() if hasattr(client, "close") else None

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    result.wall_s = time.perf_counter() - started
    return result


def bench_load(
    url: str, questions: Sequence[str], users: int = 20, per_user: int = 5, timeout: float = 300.0
) -> tuple[Table, list[str], int]:
    """One user alone first (the baseline), then `users` at once, same questions, same server."""
    single = run_load(url, questions, 1, per_user, timeout)
    crowd = run_load(url, questions, users, per_user, timeout)
    header = ["users", "questions", "errors", "p50 ms", "p95 ms", "max ms", "answers/s", "max queue seen"]
    rows = []
    for count, result in ((1, single), (users, crowd)):
        done = len(result.latencies_ms)
        rows.append(
            [
                str(count),
                f"{done}/{count * per_user}",
                str(len(result.errors)),
                fmt(percentile(result.latencies_ms, 50), 0),
                fmt(percentile(result.latencies_ms, 95), 0),
                fmt(max(result.latencies_ms, default=0.0), 0),
                fmt(done / result.wall_s if result.wall_s else 0.0, 2),
                str(result.max_queue),
            ]
        )
    base = percentile_or_zero(single.latencies_ms, 50)
    rate_crowd = len(crowd.latencies_ms) / max(crowd.wall_s, 1e-9)
    rate_single = len(single.latencies_ms) / max(single.wall_s, 1e-9)
    notes = [
        f"{url}, /ask through gradio_client, {per_user} question(s) per user",
        f"throughput {users} users vs 1: x{rate_crowd / max(rate_single, 1e-9):.2f};"
        f" p50 latency x{percentile_or_zero(crowd.latencies_ms, 50) / max(base, 1e-9):.1f}",
    ]
    errors = single.errors + crowd.errors
    notes += [f"error: {error}" for error in errors[:5]]
    return (header, rows), notes, len(errors)
