"""The briefing itself: answers with their quoted, attributed passages, before any rendering.

A `Briefing` is built from `Answer`s plus a short header (title, date, collection, model): one
`Section` per question, each answer keeping its `[n]` markers, and below it its numbered
`Source`s: the verbatim quote, then outlet, author, date, title, URL and `doc_id`. The renderers
(rag/briefings/markdown.py, html.py, docx.py) share what is decided here: the wording for missing
metadata and unanswered questions, how a quote is marked as shortened, and which URLs are links.

Quotes are verbatim slices of their articles (`Citation.quote == text[start:end]`). A long one
is shortened only at sentence boundaries, and an ellipsis outside the verbatim text marks the
cut. Article text and metadata are written by strangers: every renderer escapes them, and only
http(s) URLs become links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from rag.answering.attribution import sentence_bounds
from rag.types import Answer

DEFAULT_TITLE = "News briefing"
MAX_QUOTE_CHARS = 600  # longer quotes are shortened to whole sentences
ELLIPSIS = "…"
FIELD_SEPARATOR = " · "

# Shown in place of metadata the article does not carry, so a reader sees it is missing.
MISSING = {
    "outlet": "outlet not given",
    "author": "author not given",
    "published": "date not given",
    "title": "untitled",
    "url": "no URL",
}
NOT_ANSWERED = "Not answered."
NO_ANSWER = "No answer could be produced:"


@dataclass(frozen=True)
class Source:
    """One numbered source of an answer: a verbatim quote and the article's attribution."""

    n: int
    quote: str  # == article.text[start:end], whole sentences
    start: int
    end: int
    cut_before: bool  # sentences were left out before / after the quote: show an ellipsis
    cut_after: bool
    doc_id: str
    title: str
    outlet: str
    author: str
    published: str
    url: str

    @property
    def link(self) -> str | None:
        """The URL when it is safe to make a link of (http or https); otherwise None."""
        return safe_url(self.url)

    def attribution(self) -> list[tuple[str, str, bool]]:
        """(field, text, missing) in the order outlet, author, date, title, URL, doc_id."""
        values = [
            ("outlet", self.outlet),
            ("author", self.author),
            ("published", self.published),
            ("title", self.title),
            ("url", self.url),
        ]
        fields = [(name, one_line(value) or MISSING[name], not one_line(value)) for name, value in values]
        return [*fields, ("doc_id", self.doc_id, False)]


@dataclass(frozen=True)
class Section:
    """One question and what the pipeline made of it."""

    question: str
    answer: str  # with [n] markers; "" when refused or failed
    status: Literal["answered", "refused", "error"]
    note: str = ""  # the refusal sentence, or the error message (also after a partial answer)
    sources: tuple[Source, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Section:
        """The inverse of `dataclasses.asdict` (the web chat keeps sections in per-user state)."""
        sources = tuple(Source(**source) for source in data.get("sources", ()))
        return cls(**{**data, "sources": sources})


@dataclass(frozen=True)
class Briefing:
    title: str
    date: date
    collection: str
    model: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def date_label(self) -> str:
        return f"{self.date.day} {self.date:%B %Y}"


def build_briefing(
    answers: Iterable[Answer],
    *,
    collection: str,
    title: str | None = None,
    model: str | None = None,
    when: date | None = None,
    max_quote_chars: int = MAX_QUOTE_CHARS,
) -> Briefing:
    """A briefing of the answers in order, one section each.

    `model` defaults to the models that wrote the answers (e.g. "local: Qwen2.5-…");
    `when` to today.
    """
    answers = list(answers)
    if model is None:
        labels = dict.fromkeys(answer.llm.label() for answer in answers)
        model = "; ".join(labels) or "none"
    return Briefing(
        title=one_line(title or "") or DEFAULT_TITLE,
        date=when or date.today(),
        collection=collection,
        model=model,
        sections=tuple(section_of(answer, max_quote_chars) for answer in answers),
    )


def section_of(answer: Answer, max_quote_chars: int = MAX_QUOTE_CHARS) -> Section:
    question = one_line(answer.question)
    if answer.error and not answer.citations:
        return Section(question, "", "error", one_line(answer.error))
    if answer.refused or not answer.citations:
        return Section(question, "", "refused", one_line(answer.answer))
    # An error after some sentences were written: keep them, and say the answer may be cut short.
    note = f"The answer may be incomplete: {one_line(answer.error)}" if answer.error else ""
    sources = []
    for citation in sorted(answer.citations, key=lambda c: c.n):
        start, end, cut_before, cut_after = trim_quote(citation.quote, max_quote_chars)
        sources.append(
            Source(
                n=citation.n,
                quote=citation.quote[start:end],
                start=citation.start + start,
                end=citation.start + end,
                cut_before=cut_before,
                cut_after=cut_after,
                doc_id=citation.doc_id,
                title=citation.title,
                outlet=citation.source,
                author=citation.author,
                published=citation.published,
                url=citation.url,
            )
        )
    return Section(question, one_line(answer.answer), "answered", note, tuple(sources))


def trim_quote(quote: str, limit: int = MAX_QUOTE_CHARS) -> tuple[int, int, bool, bool]:
    """(start, end, cut_before, cut_after) of the part of the quote to show.

    Whole sentences from the first, as many as fit in `limit` characters (at least one), and
    never across a line break (a quote is one paragraph). Only a cut marks an ellipsis.
    """
    bounds = sentence_bounds(quote)
    if not bounds:
        return 0, len(quote), False, False
    first_start, end = bounds[0]
    for start, next_end in bounds[1:]:
        if next_end - first_start > limit or "\n" in quote[end:start]:
            break
        end = next_end
    return first_start, end, bool(quote[:first_start].strip()), bool(quote[end:].strip())


def quoted(source: Source) -> str:
    """The quote in quotation marks, an ellipsis where it was shortened."""
    before = f"{ELLIPSIS} " if source.cut_before else ""
    after = f" {ELLIPSIS}" if source.cut_after else ""
    return f"“{before}{source.quote}{after}”"


def one_line(text: str) -> str:
    return " ".join(text.split())


def safe_url(url: str) -> str | None:
    """http(s) URLs with a host and no spaces or control characters; anything else is not a link."""
    url = url.strip()
    if not url or re.search(r"[\s\x00-\x1f\x7f<>\"'`\\]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def header_fields(briefing: Briefing) -> list[tuple[str, str]]:
    return [
        ("Date", briefing.date_label),
        ("Collection", briefing.collection),
        ("Model", briefing.model),
    ]
