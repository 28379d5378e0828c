"""Stage 1c: the feeds a collection follows, and the pages fetched for it, kept fresh.

State lives beside the index in `index/feeds/<collection>.json` (written atomically): each
followed feed with its validators (ETag / Last-Modified) and the doc_ids it brought, and each
fetched page with its validators, so a refresh of an unchanged feed costs one 304.

A page that drops out of a feed stays in the collection; a feed's articles go only when the
feed is removed (and then not those another followed feed also brought).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chromadb.api.models.Collection import Collection
from tqdm import tqdm

from rag.errors import ConfigError, UsageError
from rag.ingest.fetch import (
    FeedEntry,
    FetchError,
    FetchPolicy,
    Page,
    check_http_url,
    extract_article,
    fetch,
    looks_like_feed,
    parse_feed,
)
from rag.ingest.indexing import IndexReport, is_fetched
from rag.ingest.loaders import LoadResult
from rag.store.chroma import check_collection_name, delete_chunks, stored_articles
from rag.types import Article, LoadProblem


@dataclass
class FeedRecord:
    title: str = ""
    added: str = ""
    checked: str = ""
    status: str = ""  # "ok", "not modified", or the last error
    etag: str = ""
    last_modified: str = ""
    doc_ids: list[str] = field(default_factory=list)


@dataclass
class PageRecord:
    doc_id: str = ""
    etag: str = ""
    last_modified: str = ""


@dataclass
class FeedBook:
    """What one collection follows and what it has fetched (the JSON file beside the index)."""

    path: Path
    feeds: dict[str, FeedRecord] = field(default_factory=dict)
    pages: dict[str, PageRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> FeedBook:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                path,
                {url: FeedRecord(**record) for url, record in data.get("feeds", {}).items()},
                {url: PageRecord(**record) for url, record in data.get("pages", {}).items()},
            )
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise ConfigError(f"cannot read the feed list {path} ({err}); fix or delete it") from err

    def save(self) -> None:
        """Written to a temporary file then renamed over the old one: never half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "feeds": {url: asdict(record) for url, record in sorted(self.feeds.items())},
            "pages": {url: asdict(record) for url, record in sorted(self.pages.items())},
        }
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, ensure_ascii=False, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def book_path(index_dir: Path, collection: str) -> Path:
    # A checked name has no path separators: the file stays inside index_dir/feeds/.
    return index_dir / "feeds" / f"{check_collection_name(collection)}.json"


@contextmanager
def book_lock(path: Path) -> Iterator[None]:
    """One refresh (or add, remove) of a collection's feeds at a time; a second one waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- fetching what to index ----------------------------------------------------------------------


@dataclass
class Gathered:
    """Articles fetched for one run, and what was learnt on the way."""

    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    not_modified: int = 0  # pages that answered 304 (and are indexed): unchanged, nothing fetched
    feeds: int = 0
    feeds_not_modified: int = 0
    pages: dict[str, PageRecord] = field(default_factory=dict)  # validators to keep once indexed
    feed_updates: dict[str, FeedRecord] = field(default_factory=dict)

    def load_result(self) -> LoadResult:
        return LoadResult(articles=list(self.articles), problems=list(self.problems))


class Gatherer:
    """Fetches URLs (feeds or article pages) for one run; every failure becomes a warning."""

    def __init__(
        self,
        book: FeedBook,
        policy: FetchPolicy,
        stored_ids: set[str],
        *,
        max_entries: int,
        show_progress: bool = True,
    ) -> None:
        self.book = book
        self.policy = policy
        self.stored_ids = stored_ids
        self.max_entries = max_entries
        self.show_progress = show_progress
        self.result = Gathered()
        self.seen_links: dict[str, str] = {}  # link -> doc_id ("" when it failed)
        self.by_doc_id: dict[str, Article] = {}

    def url(self, url: str, *, feed_only: bool = False) -> FeedRecord | None:
        """A URL given by the user: a feed (its entries fetched) or an article page.

        Returns the feed's record when it is a feed. `feed_only`: a page that is not a feed is
        a warning, not an article (`rag feeds add` / `refresh`).
        """
        followed = self.book.feeds.get(url)
        # A feed to be followed is read in full: a 304 would not tell whether it is a feed.
        validators = followed or (None if feed_only else self.book.pages.get(url))
        try:
            page = self.fetch(url, validators)
        except FetchError as err:
            self.result.problems.append(err.problem())
            if followed is not None:
                self.result.feed_updates[url] = FeedRecord(**{**asdict(followed), "status": err.message})
            return None
        if page.not_modified and followed is not None:
            self.result.feeds += 1
            self.result.feeds_not_modified += 1
            record = FeedRecord(**{**asdict(followed), "checked": now(), "status": "not modified"})
            self.result.feed_updates[url] = record
            return record
        if page.not_modified:
            self.page_not_modified(url, page)
            return None
        feed = parse_feed(page) if looks_like_feed(page) else None
        if feed is None:
            if feed_only:
                message = "not a feed (no RSS or Atom in the response)"
                message += "; not read" if followed else "; not followed"
                self.result.problems.append(LoadProblem(url, message))
                if followed is not None:
                    self.result.feed_updates[url] = FeedRecord(**{**asdict(followed), "status": message})
            else:
                self.article_page(url, page)
            return None
        return self.feed(url, page, feed.title, feed.entries, followed)

    def feed(
        self, url: str, page: Page, title: str, entries: Sequence[FeedEntry], followed: FeedRecord | None
    ) -> FeedRecord:
        self.result.feeds += 1
        record = FeedRecord(**asdict(followed)) if followed else FeedRecord(added=now())
        record.title, record.checked, record.status = title or record.title, now(), "ok"
        record.etag, record.last_modified = page.etag, page.last_modified
        doc_ids = dict.fromkeys(record.doc_ids)
        chosen = list(entries)[: self.max_entries]
        for number, entry in enumerate(
            tqdm(chosen, desc="Fetching", unit="page", disable=not self.show_progress, file=sys.stderr),
            start=1,
        ):
            if not entry.link:
                self.result.problems.append(LoadProblem(url, f"entry {number} has no link; skipped"))
                continue
            doc_id = self.entry(entry)
            if doc_id:
                doc_ids[doc_id] = None
        record.doc_ids = list(doc_ids)
        self.result.feed_updates[url] = record
        return record

    def entry(self, entry: FeedEntry) -> str:
        """One feed entry's page; its doc_id ("" when it could not be had)."""
        try:
            link = check_http_url(entry.link)
        except FetchError as err:
            self.result.problems.append(err.problem())
            return ""
        if link in self.seen_links:
            return self.seen_links[link]
        self.seen_links[link] = ""
        try:
            page = self.fetch(link, self.book.pages.get(link))
        except FetchError as err:
            self.result.problems.append(err.problem())
            return ""
        doc_id = (
            self.page_not_modified(link, page) if page.not_modified else self.article_page(link, page, entry)
        )
        self.seen_links[link] = doc_id
        return doc_id

    def fetch(self, url: str, validators: FeedRecord | PageRecord | None) -> Page:
        """A conditional GET when validators are known and the article is still indexed."""
        usable = validators is not None and (
            isinstance(validators, FeedRecord) or validators.doc_id in self.stored_ids
        )
        if validators is None or not usable:
            return fetch(url, self.policy)
        return fetch(url, self.policy, etag=validators.etag, last_modified=validators.last_modified)

    def page_not_modified(self, url: str, page: Page) -> str:
        record = self.book.pages.get(url)
        if record is None:  # a 304 to a request that asked for none
            self.result.problems.append(LoadProblem(url, "HTTP 304 to an unconditional request; skipped"))
            return ""
        self.result.not_modified += 1
        self.result.pages[url] = PageRecord(record.doc_id, page.etag or record.etag, record.last_modified)
        return record.doc_id

    def article_page(self, url: str, page: Page, entry: FeedEntry | None = None) -> str:
        article, problems = extract_article(page, entry)
        self.result.problems.extend(problems)
        if article is None:
            return ""
        # Two links (two feeds, tracking parameters) to one canonical URL: one article.
        if article.doc_id not in self.by_doc_id:
            self.by_doc_id[article.doc_id] = article
            self.result.articles.append(article)
        if page.etag or page.last_modified:
            self.result.pages[url] = PageRecord(article.doc_id, page.etag, page.last_modified)
        return article.doc_id


def gather(
    urls: Sequence[str],
    book: FeedBook,
    policy: FetchPolicy,
    stored_ids: set[str],
    *,
    max_entries: int,
    feed_only: bool = False,
    show_progress: bool = True,
) -> Gathered:
    """Fetch the URLs (feeds and their entries, or article pages); a slow or dead site only
    costs its own timeout, and each failure is one warning naming its URL."""
    gatherer = Gatherer(book, policy, stored_ids, max_entries=max_entries, show_progress=show_progress)
    for url in dict.fromkeys(urls):
        gatherer.url(url, feed_only=feed_only)
    return gatherer.result


def remember(book: FeedBook, gathered: Gathered, *, follow: bool) -> None:
    """Keep the validators (and, when following, the feeds) once their articles are indexed."""
    book.pages.update(gathered.pages)
    for url, record in gathered.feed_updates.items():
        if follow or url in book.feeds:
            book.feeds[url] = record


# --- reports and removal ---------------------------------------------------------------------------


@dataclass
class FeedReport:
    index: IndexReport
    feeds: int = 0
    feeds_not_modified: int = 0
    articles: list[Article] = field(default_factory=list)  # fetched this time (not the 304s)

    @property
    def partial(self) -> bool:
        return self.index.partial

    def summary(self) -> str:
        report = self.index
        failed = len({problem.path for problem in report.problems})
        return (
            f"feeds: {self.feeds} read ({self.feeds_not_modified} not modified); articles: "
            f"{report.added} new, {report.updated} updated, {report.unchanged} unchanged; "
            f"{failed} URL(s) with problems; chunks: {report.chunks_embedded} embedded, "
            f"{report.chunks_total} in the collection ({report.seconds:.1f} s)"
        )


@dataclass(frozen=True)
class Removal:
    articles: int
    chunks: int
    kept: int  # the feed's articles another followed feed also brought


def remove_feed(book: FeedBook, url: str, collection: Collection) -> Removal:
    """Stop following a feed and delete the articles only it brought (not a file's, ever)."""
    record = book.feeds.get(url)
    if record is None:
        followed = ", ".join(book.feeds) or "none"
        raise UsageError(f"Not following {url} (followed: {followed}). See `rag feeds list`.")
    others = {doc_id for other, kept in book.feeds.items() if other != url for doc_id in kept.doc_ids}
    gone = [doc_id for doc_id in record.doc_ids if doc_id not in others]
    stored = stored_articles(collection)
    chunk_ids = [
        chunk_id
        for doc_id in gone
        if doc_id in stored and is_fetched(stored[doc_id].origin)
        for chunk_id in stored[doc_id].chunk_ids
    ]
    delete_chunks(collection, chunk_ids)
    del book.feeds[url]
    book.pages = {link: page for link, page in book.pages.items() if page.doc_id not in set(gone)}
    book.save()
    articles = sum(1 for doc_id in gone if doc_id in stored and is_fetched(stored[doc_id].origin))
    return Removal(articles, len(chunk_ids), len(record.doc_ids) - len(gone))
