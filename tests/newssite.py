"""A small news site on 127.0.0.1 for the feed tests: hand-written pages and feeds from
tests/data/web/, ETag / Last-Modified with 304s, and the awkward cases (slow, huge, missing,
windows-1252, redirect loops). It records every request it answers."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

WEB = Path(__file__).resolve().parent / "data" / "web"
LIGHTHOUSE = "/2022/10/14/brannock-lighthouse-reopens"
MARKET = "/2022/10/15/night-market-returns"
CAFE = "/2022/10/16/cafe-dupre"
HTML_UTF8 = "text/html; charset=utf-8"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class Route:
    text: str
    content_type: str
    encoding: str = "utf-8"
    version: int = 0


@dataclass
class NewsSite:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    slow_seconds: float = 4.0
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """The default pages and feeds (a test edits its own copy in memory)."""
        page = (WEB / "lighthouse.html").read_text(encoding="utf-8")
        self.routes = {
            "/feed.xml": Route(self.template("feed.xml"), "application/rss+xml"),
            "/heritage.atom": Route(self.template("feed.atom"), "application/atom+xml"),
            LIGHTHOUSE: Route(page.replace("{BASE}", self.base), HTML_UTF8),
            # The same story behind another link (the Atom feed's, with a tracking parameter).
            "/heritage/brannock": Route(page.replace("{BASE}", self.base), HTML_UTF8),
            MARKET: Route(self.template("market.html"), "text/html"),
            CAFE: Route(self.template("cafe-latin.html"), "text/html; charset=windows-1252", "cp1252"),
            "/gallery": Route(self.template("no-text.html"), HTML_UTF8),
            "/big": Route("<html><body><p>" + "word " * 40_000 + "</p></body></html>", HTML_UTF8),
        }
        self.redirects = {
            "/go/market": MARKET,
            "/loop-a": "/loop-b",
            "/loop-b": "/loop-a",
        }
        with self.lock:
            self.requests.clear()

    def template(self, name: str, extra_items: str = "") -> str:
        text = (WEB / name).read_text(encoding="utf-8")
        return text.replace("{BASE}", self.base).replace("{EXTRA_ITEMS}", extra_items)

    def url(self, path: str) -> str:
        return self.base + path

    def edit(self, path: str, old: str, new: str) -> None:
        route = self.routes[path]
        assert old in route.text, f"{old!r} not in {path}"
        route.text = route.text.replace(old, new)
        route.version += 1

    def add_items(self, path: str, items: str) -> None:
        self.edit(path, "</channel>", items + "\n</channel>")

    def seen(self, path: str) -> list[Seen]:
        with self.lock:
            return [request for request in self.requests if request.path.split("?")[0] == path]


def item(link: str, title: str = "An item") -> str:
    return f"<item><title>{title}</title><link>{link}</link></item>"


class Handler(http.server.BaseHTTPRequestHandler):
    server: SiteServer

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        site = self.server.site
        path = self.path.split("?")[0]
        status = self.answer(site, path)
        with site.lock:
            site.requests.append(Seen(self.path, dict(self.headers.items()), status))

    def answer(self, site: NewsSite, path: str) -> int:
        if path in site.redirects:
            return self.send(302, b"", {"Location": site.redirects[path]})
        if path == "/slow":
            time.sleep(site.slow_seconds)
            return self.send(200, b"<html><body><p>Too late.</p></body></html>", {})
        if path == "/big-stream":  # no Content-Length: the cap must hold while reading
            self.send_response(200)
            self.send_header("Content-Type", HTML_UTF8)
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"<p>" + b"filler " * 512 + b"</p>\n")
            return 200
        route = site.routes.get(path)
        if route is None:
            return self.send(404, b"<html><body>Not found</body></html>", {})
        body = route.text.encode(route.encoding)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = formatdate(1665734400 + 60 * route.version, usegmt=True)
        validators = {"ETag": etag, "Last-Modified": modified}
        match = self.headers.get("If-None-Match")
        since = self.headers.get("If-Modified-Since")
        if (match == etag) or (match is None and since == modified):
            return self.send(304, b"", validators)
        return self.send(200, body, {**validators, "Content-Type": route.content_type})

    def send(self, status: int, body: bytes, headers: dict[str, str]) -> int:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
        return status


class SiteServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: NewsSite) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.site = site


@contextmanager
def news_site() -> Iterator[NewsSite]:
    site = NewsSite()
    server = SiteServer(site)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    site.reset()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
