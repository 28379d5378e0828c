"""A small OpenAI-compatible chat server that misbehaves on purpose, for the reliability tests.

It speaks the real protocol: `POST /v1/chat/completions` with `stream: true` answers with
`text/event-stream` chunks (`chat.completion.chunk` objects, a last one with `finish_reason`,
then `data: [DONE]`), sent with HTTP/1.1 chunked transfer encoding like api.openai.com.
The `mode` picks how it fails; `requests` counts what it was asked.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Supported, word for word, by the seed article's sentence "… Ganja on October 11, killing ten
# civilians and injuring dozens of others." so both sentences get the citation [1].
GANJA_ANSWER = (
    "Ten civilians were killed in the attack on Ganja on October 11. "
    "Dozens of others were injured in the attack."
)

MODES = (
    "ok",  # the answer, streamed word by word
    "401",  # bad key
    "429",  # rate limited `fail_times` times (-1: always), then ok
    "500",  # server error `fail_times` times (-1: always), then ok
    "hang",  # accepts the request, never answers
    "hang-mid",  # sends the first words, then nothing
    "cut",  # the first sentence and a half, then the connection drops (chunked body left open)
    "cut-eof",  # the first sentence and a half, then a clean end of body: no finish_reason
    "garbage",  # 200 text/event-stream whose data lines are not JSON
    "html",  # 200 text/html: a web page where the API should be
    "wrong-json",  # 200 event stream of JSON objects that are not completion chunks
)


@dataclass
class FakeOpenAI:
    mode: str = "ok"
    answer: str = GANJA_ANSWER
    # Answers for the first requests in turn (then `answer`): a model asked twice in one question.
    first_answers: list[str] = field(default_factory=list)
    fail_times: int = 0
    retry_after: float | None = None  # seconds, sent as Retry-After with 429
    word_delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_times: list[float] = field(default_factory=list)
    port: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()  # hanging handlers return
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def words(self) -> list[str]:
        """The answer to the latest request as the deltas a model streams: words with their
        trailing space."""
        turn = len(self.requests) - 1
        answer = self.first_answers[turn] if turn < len(self.first_answers) else self.answer
        return re.findall(r"\S+\s*", answer)

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def events(self) -> Iterator[bytes]:
        yield _sse(self.chunk({"role": "assistant", "content": ""}))
        for word in self.words():
            yield _sse(self.chunk({"content": word}))
        yield _sse(self.chunk({}, "stop"))
        yield b"data: [DONE]\n\n"


@contextmanager
def fake_openai(mode: str = "ok", **options: Any) -> Iterator[FakeOpenAI]:
    assert mode in MODES, mode
    server = FakeOpenAI(mode=mode, **options).start()
    try:
        yield server
    finally:
        server.stop()


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-stream is a case under test, not a server fault to print."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        fake = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        fake.requests.append(body)
        fake.request_times.append(time.monotonic())
        tries = len(fake.requests)
        if not self.path.endswith("/chat/completions"):
            self._error(404, "Not found", "not_found")
            return
        mode = fake.mode
        if mode == "401":
            self._error(401, "Incorrect API key provided: sk-bad.", "invalid_api_key")
        elif mode in {"429", "500"} and (fake.fail_times < 0 or tries <= fake.fail_times):
            if mode == "429":
                headers = {"Retry-After": f"{fake.retry_after:g}"} if fake.retry_after is not None else {}
                self._error(429, "Rate limit reached for requests.", "rate_limit_exceeded", headers)
            else:
                self._error(500, "The server had an error while processing your request.", "server_error")
        elif mode == "hang":
            fake._stop.wait(120)
            self.close_connection = True
        elif mode == "html":
            self._send(200, "text/html", b"<html><body><h1>Welcome to nginx!</h1></body></html>")
        elif mode == "garbage":
            self._stream(
                [b"data: {this is not json\n\n", b"data: \x00\x01 nor this\n\n", b"data: [DONE]\n\n"]
            )
        elif mode == "wrong-json":
            self._stream([_sse({"hello": "world"}), _sse({"choices": "none"}), b"data: [DONE]\n\n"])
        elif mode in {"cut", "cut-eof", "hang-mid"}:
            events = list(fake.events())
            # Role chunk, then the first sentence and the first words of the second.
            first = len(re.findall(r"\S+\s*", fake.answer.split(". ")[0] + ". "))
            self._stream(events[: 1 + first + 3], ending=mode)
        else:
            self._stream(list(fake.events()), delay=fake.word_delay)

    def _error(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        payload = {
            "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        }
        self._send(status, "application/json", json.dumps(payload).encode(), headers)

    def _send(self, status: int, kind: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, events: list[bytes], ending: str = "done", delay: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if ending == "cut-eof":
            # A body delimited by the connection closing: its end looks like a normal end.
            self.send_header("Connection", "close")
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            if ending == "cut-eof":
                self.wfile.write(event)
            else:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        if ending == "hang-mid":
            self.server_state._stop.wait(120)
        if ending in {"cut", "cut-eof", "hang-mid"}:
            self.close_connection = True
            # An abrupt end: no terminating zero-length chunk, the socket just closes.
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
