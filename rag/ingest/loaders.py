"""Stage 1: load news articles from files (txt, md, html, json, jsonl, csv) into `Article`s.

A loader never raises on bad input: each problem becomes a `LoadProblem` naming the file (and
line), and everything else loads.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from rag.records import UnreadableRecords, read_records

TEXT_SUFFIXES = {".txt", ".text", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES

# Record field names, first match wins.
ID_FIELDS = ("doc_id", "id")
TEXT_FIELDS = ("text", "body")
TITLE_FIELDS = ("title",)
SOURCE_FIELDS = ("source", "outlet")
AUTHOR_FIELDS = ("author", "authors")
DATE_FIELDS = ("published", "publish_date", "published_at", "date")
URL_FIELDS = ("url",)

MAX_FILE_BYTES = 64 * 1024 * 1024  # a file of records (JSONL, CSV, …) may hold a whole corpus
# One article's text: the longest news features run to ~150 KB; anything past this is not an
# article (a dump, a log, a book) and would take hours to embed: skipped with a warning.
MAX_ARTICLE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Article:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    author: str = ""
    published: str = ""  # ISO date (YYYY-MM-DD) or "" when unknown
    url: str = ""
    origin: str = ""  # absolute path of the file it came from

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is embedded or shown changes."""
        payload = "\x1f".join(
            [self.doc_id, self.title, self.source, self.author, self.published, self.url, self.text]
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class LoadProblem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


def load_corpus(paths: Iterable[Path]) -> LoadResult:
    """Load every supported file under the given files/directories; duplicate doc_ids keep the first."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            broken = "a symbolic link loop or a broken link" if path.is_symlink() else None
            result.problems.append(LoadProblem(str(path), broken or "no such file or directory"))
            continue
        root = path.resolve() if path.is_dir() else path.resolve().parent
        result.roots.append(path.resolve())
        for file in _iter_files(path, result.problems):
            for item in load_file(file, root):
                if isinstance(item, LoadProblem):
                    result.problems.append(item)
                elif item.doc_id in seen:
                    result.problems.append(
                        LoadProblem(
                            str(file),
                            f"duplicate doc_id {item.doc_id!r} (first in {seen[item.doc_id]}); skipped",
                        )
                    )
                else:
                    seen[item.doc_id] = str(file)
                    result.articles.append(item)
    return result


def _iter_files(path: Path, problems: list[LoadProblem]) -> Iterator[Path]:
    if path.is_file():
        yield path
        return

    def unreadable(err: OSError) -> None:
        problems.append(LoadProblem(str(err.filename or path), f"cannot read folder: {err.strerror or err}"))

    # followlinks=False: a symlink loop cannot send the walk round in circles; linked folders
    # are reported, not silently passed over.
    for dirpath, dirnames, filenames in os.walk(path, onerror=unreadable, followlinks=False):
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(name)
            if not name.startswith("."):
                problems.append(LoadProblem(os.path.join(dirpath, name), _link_problem(dirpath, name)))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = Path(dirpath) / name
            if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(LoadProblem(str(file), f"unsupported file type {file.suffix!r}; skipped"))
                continue
            yield file


def _link_problem(dirpath: str, name: str) -> str:
    try:
        target = Path(dirpath, name).resolve(strict=True)
        here = Path(dirpath).resolve()
    except (OSError, RuntimeError):
        return "symbolic link loop (or a broken link); skipped"
    if target == here or target in here.parents:
        return "symbolic link loop (to a folder that contains it); skipped"
    return "symbolic link to a folder, not followed; skipped (index its target directly)"


def load_file(file: Path, root: Path) -> Iterator[Article | LoadProblem]:
    """Articles (or problems) from one file; `root` makes file doc_ids relative paths."""
    suffix = file.suffix.lower()
    limit = MAX_FILE_BYTES if suffix in RECORD_SUFFIXES else MAX_ARTICLE_BYTES
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            yield LoadProblem(str(file), "not a regular file (a pipe, socket or device); skipped")
            return
        if info.st_size > limit:
            what = "a file of records" if suffix in RECORD_SUFFIXES else "one article (split it)"
            size = f"{_size(info.st_size)}, over the {_size(limit)} limit for {what}"
            yield LoadProblem(str(file), f"{size}; skipped")
            return
        raw = file.read_bytes()
        origin = str(file.resolve())
    except (OSError, RuntimeError) as err:  # RuntimeError: pathlib's "Symlink loop"
        yield LoadProblem(str(file), f"cannot read: {getattr(err, 'strerror', None) or err}")
        return
    if b"\x00" in raw[:8192]:
        yield LoadProblem(str(file), "binary file, not text; skipped")
        return
    text, encoding_note = decode_text(raw)
    if encoding_note:
        yield LoadProblem(str(file), encoding_note)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        yield LoadProblem(str(file), "empty file, no article text; skipped")
        return
    try:
        doc_id = file.resolve().relative_to(root).as_posix()
    except ValueError:
        doc_id = file.name
    if suffix in RECORD_SUFFIXES:
        yield from _load_records(text, suffix, str(file), origin)
        return
    if suffix in HTML_SUFFIXES:
        article = parse_html(text, doc_id, origin)
    elif suffix in MARKDOWN_SUFFIXES:
        article = parse_markdown(text, doc_id, origin)
    else:
        article = parse_plain_text(text, doc_id, origin)
    if not article.text.strip():
        yield LoadProblem(str(file), "no article text; skipped")
    else:
        yield article


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 1024:.0f} KB"


def decode_text(raw: bytes) -> tuple[str, str | None]:
    """UTF-8 when it is; else Windows-1251 when the text reads as Cyrillic, else cp1252 (a
    superset of latin-1 for text), with a note saying so."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    # Bytes 0xC0-0xFF are Cyrillic letters in cp1251 and accented Latin ones in cp1252: in
    # Western text they are a few among ASCII letters; in Russian, Ukrainian, … most letters.
    high_letters = len(raw) - len(raw.translate(None, _CP1251_LETTERS))
    ascii_letters = len(raw) - len(raw.translate(None, _ASCII_LETTERS))
    if high_letters > ascii_letters:
        try:
            return raw.decode("cp1251"), "not UTF-8; read as Windows-1251 (Cyrillic)"
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("cp1252"), "not UTF-8; read as Windows-1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "not UTF-8; read as Latin-1"


_CP1251_LETTERS = bytes(range(0xC0, 0x100)) + b"\xa8\xb8"  # А-я, Ё, ё
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# ---------------------------------------------------------------------------------------------
# Plain text and Markdown

BY_LINE = re.compile(r"^\s*By\s+(.+?)\s*$", re.IGNORECASE)
HEADER_LINE = re.compile(
    r"^\s*(title|source|outlet|author|authors|date|published|url)\s*:\s*(.+?)\s*$", re.IGNORECASE
)


def parse_plain_text(text: str, doc_id: str, origin: str) -> Article:
    """Leading `By <outlet>` / `By <author>` lines (and `Key: value` headers) become metadata."""
    meta: dict[str, str] = {}
    by_lines: list[str] = []
    lines = text.split("\n")
    body_start = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        by = BY_LINE.match(line)
        header = HEADER_LINE.match(line)
        if by and len(by.group(1)) <= 80:
            by_lines.append(by.group(1))
        elif header:
            meta[_canonical_key(header.group(1))] = header.group(2)
        else:
            body_start = index
            break
    else:
        body_start = len(lines)
    if len(by_lines) >= 2:
        meta.setdefault("source", by_lines[0])
        meta.setdefault("author", ", ".join(by_lines[1:]))
    elif by_lines:
        meta.setdefault("author", by_lines[0])
    body = "\n".join(lines[body_start:]).strip()
    return _make_article(doc_id, body, meta, origin)


def parse_markdown(text: str, doc_id: str, origin: str) -> Article:
    """Optional `---` front matter of `key: value` lines, then a `# Title` heading."""
    meta: dict[str, str] = {}
    front = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    if front:
        for line in front.group(1).split("\n"):
            header = HEADER_LINE.match(line)
            if header:
                meta[_canonical_key(header.group(1))] = header.group(2).strip("'\"")
        text = text[front.end() :]
    heading = re.match(r"^\s*#\s+(.+?)\s*\n", text)
    if heading:
        meta.setdefault("title", heading.group(1))
        text = text[heading.end() :]
    article = parse_plain_text(text, doc_id, origin)
    return _make_article(doc_id, article.text, {**_article_meta(article), **meta}, origin)


def parse_html(html: str, doc_id: str, origin: str) -> Article:
    """Text only: scripts, styles and navigation are dropped; metadata from <title> and <meta>."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form"]):
        tag.decompose()

    def meta_content(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return ""

    h1 = soup.find("h1")
    title = meta_content("og:title") or (soup.title.get_text(strip=True) if soup.title else "")
    title = title or (h1.get_text(" ", strip=True) if h1 else "")
    container = soup.find("article") or soup.body or soup
    blocks = [
        element.get_text(" ", strip=True)
        for element in container.find_all(["p", "h2", "h3", "h4", "li", "blockquote", "pre"])
    ]
    body = "\n\n".join(block for block in blocks if block)
    if not body:
        body = container.get_text("\n", strip=True)
    meta = {
        "title": title,
        "source": meta_content("og:site_name", "publisher"),
        "author": meta_content("author", "article:author"),
        "published": meta_content("article:published_time", "date", "pubdate"),
        "url": meta_content("og:url"),
    }
    return _make_article(doc_id, body, meta, origin)


# ---------------------------------------------------------------------------------------------
# Records: JSON, JSONL, CSV


def _load_records(text: str, suffix: str, file: str, origin: str) -> Iterator[Article | LoadProblem]:
    """Records numbered by line (JSONL, CSV) or, in a JSON list, by item (`#item3` in doc_ids)."""
    by_item = suffix == ".json"
    count = 0
    try:
        for record in read_records(text, suffix, csv_columns=TEXT_FIELDS):
            count += 1
            # doc_ids and messages as they always were: a CSV record by its last line, a JSON
            # list's by its item number (a single JSON object is the file's one article).
            number = record.item if by_item else record.last_line
            line = None if by_item else number
            if record.problem:
                yield LoadProblem(file, f"{record.where}{record.problem}; skipped", record.last_line)
            elif not isinstance(record.value, dict):
                yield LoadProblem(file, f"{record.where}record is not an object; skipped", line)
            else:
                fields = {str(key).strip().lower(): value for key, value in record.value.items()}
                yield _record_to_article(fields, file, number, origin, by_item)
    except UnreadableRecords as err:
        yield LoadProblem(file, str(err), err.line)
        return
    if count == 0:
        yield LoadProblem(file, "no records in the file; skipped")


def _record_to_article(
    record: dict[str, Any], file: str, number: int | None, origin: str, by_item: bool = False
) -> Article | LoadProblem:
    line, where = (None, f"item {number}: " if number else "") if by_item else (number, "")
    text = _first(record, TEXT_FIELDS)
    if not text.strip():
        return LoadProblem(file, f"{where}record has no text; skipped", line)
    if len(text) > MAX_ARTICLE_BYTES:
        size, limit = _size(len(text)), _size(MAX_ARTICLE_BYTES)
        return LoadProblem(file, f"{where}article text is {size}, over the {limit} limit; skipped", line)
    doc_id = _first(record, ID_FIELDS)
    if not doc_id:
        name = Path(file).name
        doc_id = name if number is None else f"{name}#item{number}" if by_item else f"{name}#{number}"
    meta = {
        "title": _first(record, TITLE_FIELDS),
        "source": _first(record, SOURCE_FIELDS),
        "author": _first(record, AUTHOR_FIELDS),
        "published": _first(record, DATE_FIELDS),
        "url": _first(record, URL_FIELDS),
    }
    return _make_article(doc_id, text.replace("\r\n", "\n").strip(), meta, origin)


def _first(record: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = record.get(name)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list):
            return _valid(", ".join(str(item).strip() for item in value if str(item).strip()))
        return _valid(str(value).strip())
    return ""


def _valid(text: str) -> str:
    """JSON may escape lone surrogates (`"\\ud800"`): not text, and not storable as UTF-8."""
    return _SURROGATES.sub("\ufffd", text)


_SURROGATES = re.compile("[\ud800-\udfff]")


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _canonical_key(key: str) -> str:
    key = key.lower()
    return {"outlet": "source", "authors": "author", "date": "published"}.get(key, key)


def _article_meta(article: Article) -> dict[str, str]:
    return {
        "title": article.title,
        "source": article.source,
        "author": article.author,
        "published": article.published,
        "url": article.url,
    }


def _make_article(doc_id: str, body: str, meta: dict[str, str], origin: str) -> Article:
    return Article(
        doc_id=doc_id,
        text=body,
        title=meta.get("title") or derive_title(body),
        source=meta.get("source", ""),
        author=meta.get("author", ""),
        published=normalise_date(meta.get("published", "")),
        url=meta.get("url", ""),
        origin=origin,
    )


def derive_title(body: str, limit: int = 90) -> str:
    """No title given: the first sentence, cut at a word boundary."""
    first = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0] if body.strip() else ""
    first = " ".join(first.split())
    if len(first) <= limit:
        return first.rstrip(".")
    return first[:limit].rsplit(" ", 1)[0] + "…"


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y")


def normalise_date(value: str) -> str:
    """ISO `YYYY-MM-DD` from the common forms; unparseable dates are dropped, not guessed."""
    value = value.strip()
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value[:30], fmt).date().isoformat()
        except ValueError:
            continue
    match = re.match(r"(\d{4})[-/](\d{2})[-/](\d{2})", value)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            return ""
    return ""
