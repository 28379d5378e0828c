"""Stage 1a: one article's text and metadata from its format: plain text, Markdown, HTML, records.

Plain text and Markdown take `By …` lines and `Key: value` headers (or front matter) as
metadata; HTML drops scripts and navigation and reads <title> and <meta>; JSON, JSONL and CSV
records (read by rag/records.py) map their fields by the first matching name. Dates become ISO
`YYYY-MM-DD` or nothing: an unparseable date is dropped, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from rag.records import UnreadableRecords, read_records
from rag.types import Article, LoadProblem

# Record field names, first match wins.
ID_FIELDS = ("doc_id", "id")


TEXT_FIELDS = ("text", "body")


TITLE_FIELDS = ("title",)


SOURCE_FIELDS = ("source", "outlet")


AUTHOR_FIELDS = ("author", "authors")


DATE_FIELDS = ("published", "publish_date", "published_at", "date")


URL_FIELDS = ("url",)


# One article's text: the longest news features run to ~150 KB; anything past this is not an
# article (a dump, a log, a book) and would take hours to embed: skipped with a warning.
MAX_ARTICLE_BYTES = 2 * 1024 * 1024


def human_size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 1024:.0f} KB"


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
    return make_article(doc_id, body, meta, origin)


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
    return make_article(doc_id, article.text, {**_article_meta(article), **meta}, origin)


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
    return make_article(doc_id, body, meta, origin)


def parse_records(text: str, suffix: str, file: str, origin: str) -> Iterator[Article | LoadProblem]:
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
        size, limit = human_size(len(text)), human_size(MAX_ARTICLE_BYTES)
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
    return make_article(doc_id, text.replace("\r\n", "\n").strip(), meta, origin)


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


def make_article(doc_id: str, body: str, meta: dict[str, str], origin: str) -> Article:
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
