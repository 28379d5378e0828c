"""Stage 1b: articles from the web: safe HTTP fetching, feed parsing and article extraction.

Every request is http(s) only, names itself with a clear user agent, has one deadline for the
whole response and a size cap, and follows redirects by hand (at most `max_redirects`, loops
named) so that the *resolved* address of every hop can be checked against the private-address
rule before a byte is sent. Known validators turn a request into a conditional GET.

Text and metadata come from trafilatura (no hand-written boilerplate stripping); feeds are read
by feedparser from bytes fetched here, never from a URL it would fetch itself.
"""

from __future__ import annotations

import codecs
import io
import ipaddress
import re
import socket
import time
import warnings
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import feedparser
import httpx
import trafilatura
from trafilatura.settings import use_config

from rag.ingest.loaders import decode_text
from rag.ingest.parsing import make_article
from rag.settings import Settings
from rag.types import Article, LoadProblem

REDIRECTS = {301, 302, 303, 307, 308}
# Fewer words than this is a gallery, a paywall stub or a bare navigation bar, not an article.
MIN_ARTICLE_WORDS = 25
FEED_TYPES = ("rss", "atom", "xml")
# trafilatura's extraction timeout uses signals, which only work in the main thread (the web
# chat extracts in a worker thread): off; pages are already capped in size.
TRAFILATURA_CONFIG = use_config()
TRAFILATURA_CONFIG.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """One URL could not be fetched or read; the message says why, for a warning naming the URL."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url
        self.message = message

    def problem(self) -> LoadProblem:
        return LoadProblem(self.url, self.message)


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float
    max_bytes: int
    max_redirects: int
    user_agent: str
    allow_private: bool

    @classmethod
    def from_settings(cls, settings: Settings, *, web: bool) -> FetchPolicy:
        # The CLI runs on the user's own machine for the user: any address, intranet included.
        # The web chat fetches on behalf of whoever reaches the page: public addresses only,
        # unless RAG_FETCH_ALLOW_PRIVATE=1.
        return cls(
            timeout=settings.fetch_timeout,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            user_agent=settings.fetch_user_agent,
            allow_private=settings.fetch_allow_private or not web,
        )


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    status: int  # 200, or 304 (not modified: no body)
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def is_url(text: str) -> bool:
    """Looks like a URL of any scheme (`rag index` tells URLs from paths by this)."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text))


def check_http_url(url: str) -> str:
    """The URL without its fragment; FetchError unless it is http(s) with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(url, "not an http(s) URL; skipped")
    return urldefrag(url.strip())[0]


# --- addresses ---------------------------------------------------------------------------------


def refused_reason(address: IpAddress) -> str | None:
    """Why the web chat may not fetch from this address (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
        return "not a public address"
    return None


def resolve(host: str, port: int) -> list[IpAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise FetchError(host, f"cannot resolve host {host!r}") from err
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def pinned_request(url: str, policy: FetchPolicy) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """(URL to send to, extra headers, extensions) for one hop.

    Without private addresses allowed, the host is resolved here, every address it resolves
    to must be public, and the request goes to that checked address (Host header and TLS name
    kept), so a second lookup cannot swap in another one.
    """
    target = httpx.URL(url)
    if policy.allow_private:
        return target, {}, {}
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = resolve(target.host, port)
    for address in addresses:
        reason = refused_reason(address)
        if reason:
            raise FetchError(
                url,
                f"refused: {target.host} is {reason} ({address}); the web chat fetches public "
                "addresses only (RAG_FETCH_ALLOW_PRIVATE=1 allows others)",
            )
    host_header = target.host if target.port is None else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return target.copy_with(host=str(addresses[0])), {"Host": host_header}, extensions


# --- fetching ----------------------------------------------------------------------------------


def fetch(url: str, policy: FetchPolicy, *, etag: str = "", last_modified: str = "") -> Page:
    """GET one URL, following redirects by hand; FetchError names what went wrong."""
    current = check_http_url(url)
    visited: list[str] = []
    headers = {"User-Agent": policy.user_agent, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    for _ in range(policy.max_redirects + 1):
        visited.append(current)
        response = fetch_once(url, current, policy, headers)
        if isinstance(response, Page):
            return response
        following = urldefrag(urljoin(current, response))[0]
        if following in visited:
            raise FetchError(url, f"redirect loop ({current} -> {following}); skipped")
        try:
            current = check_http_url(following)
        except FetchError as err:
            raise FetchError(url, f"redirected to {following}: not an http(s) URL; skipped") from err
    raise FetchError(url, f"too many redirects (more than {policy.max_redirects}); skipped")


def fetch_once(url: str, current: str, policy: FetchPolicy, headers: dict[str, str]) -> Page | str:
    """One hop: the Page, or the Location it redirects to."""
    try:
        target, extra, extensions = pinned_request(current, policy)
    except FetchError as err:
        raise FetchError(url, err.message if current == url else f"redirected to {current}: {err}") from None
    deadline = time.monotonic() + policy.timeout
    # A client per hop with no keep-alive: a pinned connection is never reused for another host;
    # trust_env=False: no proxy from the environment sees (or redirects) the request.
    with httpx.Client(
        timeout=policy.timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        try:
            with client.stream(
                "GET", target, headers={**headers, **extra}, extensions=extensions
            ) as response:
                if response.status_code in REDIRECTS and response.headers.get("location"):
                    return response.headers["location"]
                if response.status_code == 304:
                    return Page(
                        current, 304, etag=response.headers.get("etag", headers.get("If-None-Match", ""))
                    )
                if response.status_code >= 400:
                    reason = response.reason_phrase or "error"
                    raise FetchError(url, f"HTTP {response.status_code} {reason}; skipped")
                body = read_capped(url, response, policy, deadline)
                return Page(
                    current,
                    response.status_code,
                    body,
                    response.headers.get("content-type", ""),
                    response.headers.get("etag", ""),
                    response.headers.get("last-modified", ""),
                )
        except httpx.TimeoutException:
            raise FetchError(
                url, f"timed out after {policy.timeout:g} s (RAG_FETCH_TIMEOUT); skipped"
            ) from None
        except httpx.HTTPError as err:
            raise FetchError(url, f"request failed ({type(err).__name__}: {err}); skipped") from None


def read_capped(url: str, response: httpx.Response, policy: FetchPolicy, deadline: float) -> bytes:
    """The body, refused past the size cap or the deadline (a slow drip is a timeout too)."""
    cap = policy.max_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(
            url, f"page is {size(int(declared))}, over the {size(cap)} cap (RAG_FETCH_MAX_BYTES); skipped"
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > cap:
            raise FetchError(url, f"page is over the {size(cap)} cap (RAG_FETCH_MAX_BYTES); skipped")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("deadline", request=response.request)
        chunks.append(chunk)
    return b"".join(chunks)


def size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 1024:.0f} KB"


# --- decoding ----------------------------------------------------------------------------------

META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9._:-]+)""")
# What browsers do (WHATWG): a page labelled latin-1 or ASCII is read as windows-1252.
CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252"}


def declared_charset(content_type: str, body: bytes) -> str | None:
    """The charset the server or the page itself declares, when Python knows it."""
    message = Message()
    message["content-type"] = content_type
    label = message.get_param("charset")
    if not isinstance(label, str):
        found = META_CHARSET.search(body[:4096]) or XML_ENCODING.search(body[:512])
        label = found.group(1).decode("ascii") if found else None
    if not label:
        return None
    label = label.strip().lower()
    try:
        codecs.lookup(CHARSET_ALIASES.get(label, label))
    except LookupError:
        return None
    return label


def decode_page(page: Page) -> tuple[str, str | None]:
    """(text, note): decoded by the declared charset, else as the file loaders guess it."""
    label = declared_charset(page.content_type, page.body)
    if label is None:
        return decode_text(page.body)
    codec = codecs.lookup(CHARSET_ALIASES.get(label, label)).name
    try:
        text = page.body.decode(codec)
    except UnicodeDecodeError:
        text, note = decode_text(page.body)
        return text, f"declared charset {label} does not fit the bytes; {note or 'read as UTF-8'}"
    if codec in ("utf-8", "ascii"):
        return text.lstrip("\ufeff"), None
    return text, f"not UTF-8; read as {label} (the declared charset)"


# --- feeds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    link: str
    title: str = ""
    author: str = ""
    published: str = ""


@dataclass(frozen=True)
class Feed:
    url: str
    title: str
    entries: list[FeedEntry]


def parse_feed(page: Page) -> Feed | None:
    """The feed's entries, or None when the page is not RSS or Atom."""
    headers = {"content-location": page.url, "content-type": page.content_type or "application/xml"}
    parsed = feedparser.parse(io.BytesIO(page.body), response_headers=headers)  # bytes: never a fetch
    if not parsed.get("version") or not isinstance(parsed.get("feed"), dict):
        return None
    entries = []
    for entry in parsed.entries:
        link = str(entry.get("link") or "")
        published = ""
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if stamp:
            published = time.strftime("%Y-%m-%d", stamp)
        entries.append(
            FeedEntry(
                link=urljoin(page.url, link) if link else "",
                title=str(entry.get("title") or ""),
                author=str(entry.get("author") or ""),
                published=published,
            )
        )
    return Feed(page.url, str(parsed.feed.get("title") or ""), entries)


def looks_like_feed(page: Page) -> bool:
    """By its type, or by its first bytes when the server calls it text (many do)."""
    kind = page.content_type.lower()
    if any(name in kind for name in FEED_TYPES):
        return True
    start = page.body[:1024].lstrip().lower()
    return start.startswith(b"<?xml") or start.startswith(b"<rss") or start.startswith(b"<feed")


# --- articles ----------------------------------------------------------------------------------


def extract_article(page: Page, entry: FeedEntry | None = None) -> tuple[Article | None, list[LoadProblem]]:
    """The article on a page (doc_id: its canonical URL) and any notes; None when it has no text."""
    html, note = decode_page(page)
    problems = [LoadProblem(page.url, note)] if note else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lxml's FutureWarnings from inside trafilatura
        document = trafilatura.bare_extraction(
            html,
            url=page.url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_precision=True,
            config=TRAFILATURA_CONFIG,
        )
    text = article_text(getattr(document, "text", None) or "", getattr(document, "title", None) or "")
    if len(text.split()) < MIN_ARTICLE_WORDS:
        problems.append(LoadProblem(page.url, "no article text on the page; skipped"))
        return None, problems
    url = canonical_url(getattr(document, "url", None) or "", page.url)
    fallback = entry or FeedEntry(page.url)
    meta = {
        "title": getattr(document, "title", None) or fallback.title,
        "source": getattr(document, "sitename", None) or "",
        "author": getattr(document, "author", None) or fallback.author,
        "published": getattr(document, "date", None) or fallback.published,
        "url": url,
    }
    return make_article(url, text, {key: value.strip() for key, value in meta.items()}, page.url), problems


def article_text(text: str, title: str) -> str:
    """trafilatura's text without the headline it repeats as the first line."""
    lines = text.strip().split("\n")
    if lines and title and lines[0].strip() == title.strip():
        lines = lines[1:]
    return "\n\n".join(line.strip() for line in lines if line.strip())


def canonical_url(declared: str, fetched: str) -> str:
    """The page's canonical URL (so two feeds' links to one story are one article), else the
    URL it was fetched from; never a fragment, never a non-http(s) URL."""
    candidate = urldefrag(urljoin(fetched, declared.strip()))[0] if declared.strip() else ""
    if urlsplit(candidate).scheme in ("http", "https") and urlsplit(candidate).hostname:
        return candidate
    return urldefrag(fetched)[0]
