"""A small server of the OpenAI embeddings API that misbehaves on purpose (tests/test_embed_server.py).

`POST /v1/embeddings` answers `{"object": "list", "data": [{"index", "embedding"}], "model"}` as
the real API does; the `mode` picks how it fails. Its vectors are made from a hash of the text
(unit length, `dim` numbers): real enough for Chroma, not for meaning.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

MODES = (
    "ok",
    "401",  # bad key
    "429",  # rate limited `fail_times` times (-1: always), then ok
    "hang",  # accepts the request, never answers
)


def fake_vector(text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    return (vector / np.linalg.norm(vector)).tolist()  # type: ignore[no-any-return]


@dataclass
class FakeEmbeddings:
    mode: str = "ok"
    dim: int = 384
    fail_times: int = 0
    delay: float = 0.0  # seconds before each answer (to see requests overlap)
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers.get("Content-Length", 0))) or b"{}")
        with self._lock:
            self.requests.append(body)
            failing = self.fail_times < 0 or len(self.requests) <= self.fail_times
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.mode == "hang":
                self._stop.wait(30)
                return
            if self.delay:
                time.sleep(self.delay)
            if self.mode == "401":
                return _send(handler, 401, {"error": {"message": "Invalid API key", "type": "auth"}})
            if self.mode == "429" and failing:
                headers = {"Retry-After": "0"}
                return _send(handler, 429, {"error": {"message": "Slow down", "type": "rate"}}, headers)
            texts = body.get("input") or []
            texts = [texts] if isinstance(texts, str) else texts
            data = [
                {"object": "embedding", "index": i, "embedding": fake_vector(text, self.dim)}
                for i, text in enumerate(texts)
            ]
            _send(handler, 200, {"object": "list", "data": data, "model": body.get("model", "")})
        finally:
            with self._lock:
                self.in_flight -= 1


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    raw = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(raw)


@contextmanager
def serve(fake: FakeEmbeddings) -> Iterator[FakeEmbeddings]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if not self.path.endswith("/embeddings"):
                _send(self, 404, {"error": {"message": "not found"}})
                return
            fake.handle(self)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake._stop.set()
        server.shutdown()
        server.server_close()
