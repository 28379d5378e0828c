"""Stage 5b: what the model reads (RAG_READER).

`articles`: the best 8 passage sentences (most of the question's words) from at most
4 articles, under each article's header (title, outlet, author, date): headlines often name
what the sentences only call "the show" or "the company". ~480 prompt tokens.
`sentences`: the same kind of sentences, numbered on their own, no headers (~250 tokens).
`passages`: the first passages, each headed by its article and trimmed around its best
sentences with their neighbours, up to `RAG_READER_TOKENS` in all.
`A-then-B`: reading B only when reading A answered nothing, or only restated the question
(`articles-then-passages` is the default).
When the question's date is known, only the passages of the days it asks about are read, if
there are any. docs/benchmarks.md has what each reader gave on the dev questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.prompts import PromptTemplate

from rag.answering.attribution import Span, content_terms
from rag.retrieval.ranking import date_window
from rag.settings import Settings
from rag.types import Passage, day_number

CHARS_PER_TOKEN = 4.0  # English news text in Qwen's tokenizer: ~4 characters a token
GAP = " … "  # between the kept sentences of a passage where some were left out


@dataclass(frozen=True)
class ReaderPassage:
    """One numbered passage as the model reads it: a header and the kept sentences."""

    number: int
    passage_index: int  # in the retrieved list
    header: str
    spans: tuple[Span, ...]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for previous, span in zip((None, *self.spans[:-1]), self.spans, strict=True):
            if previous is not None:
                parts.append(" " if previous.index + 1 == span.index else GAP)
            parts.append(span.text)
        return "".join(parts)


@dataclass(frozen=True)
class ReaderContext:
    passages: tuple[ReaderPassage, ...]

    def passage_number(self, passage_index: int) -> int | None:
        """The number the model saw a retrieved passage under, if it saw it."""
        for shown in self.passages:
            if shown.passage_index == passage_index:
                return shown.number
        return None

    def passage_of(self, number: int) -> int | None:
        """The retrieved passage behind the model's `[number]`."""
        for shown in self.passages:
            if shown.number == number:
                return shown.passage_index
        return None

    @property
    def spans(self) -> list[Span]:
        return [span for shown in self.passages for span in shown.spans]


@dataclass(frozen=True)
class ReaderConfig:
    """RAG_READER and its sizes: which context the model reads."""

    mode: str = "articles-then-passages"  # or "articles", "sentences", "passages", "A-then-B"
    sentences: int = 8
    tokens: int = 500
    passages: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> ReaderConfig:
        return cls(
            settings.reader, settings.evidence_sentences, settings.reader_tokens, settings.reader_passages
        )

    @property
    def readings(self) -> tuple[str, ...]:
        """The readings in order: a later one runs only when the one before answered nothing
        (the model refused, or no sentence of its draft was supported)."""
        return tuple(self.mode.split("-then-"))

    def context(
        self,
        question: str,
        passages: Sequence[Passage],
        spans: Sequence[Span],
        reading: str | None = None,
        asked_on: str | None = None,
    ) -> ReaderContext:
        recent = passages_of_the_days_asked(question, passages, asked_on)
        if recent:
            spans = [span for span in spans if span.passage_index in recent]
        reading = reading or self.readings[0]
        if reading == "passages":
            return build_context(question, passages, spans, self.tokens, self.passages)
        if reading == "articles":
            return sentences_by_article(question, passages, spans, self.sentences, self.passages)
        return select_sentences(question, spans, self.sentences)


WINDOW_SLACK_DAYS = 7  # a story of the week before "this week" still counts as recent


def passages_of_the_days_asked(question: str, passages: Sequence[Passage], asked_on: str | None) -> set[int]:
    """The passages published in the days the question means ("this week": the 8 days before it
    was asked, and a week's slack), when the question's date is known.

    The small model takes the first plausible article it reads: an older story of the same
    kind ("Liz Truss became prime minister" for a question asked after Rishi Sunak did) must
    not be read beside this week's when this week's is there (docs/benchmarks.md).
    """
    window = date_window(question, asked_on)
    if window is None:
        return set()
    first, last = window[0].toordinal() - WINDOW_SLACK_DAYS, window[1].toordinal()
    return {index for index, passage in enumerate(passages) if first <= day_number(passage.published) <= last}


STALE_AFTER_DAYS = 28  # an article this much older than the days asked about is another story


def stale_passages(question: str, passages: Sequence[Passage], asked_on: str | None) -> set[int]:
    """The passages too old to answer a dated question: published more than four weeks before
    the days it asks about ("this week": the 8 days before it was asked). Undated ones stay.

    The model reads them when nothing recent was found, and then answers from them: "Fiat
    Chrysler [1]", from a 2015 recall, for "Which automaker recalled more than 200,000 pickup
    trucks this week?". Such a quote is verbatim and says nothing of the week asked about.
    """
    window = date_window(question, asked_on)
    if window is None:
        return set()
    oldest = window[0].toordinal() - STALE_AFTER_DAYS
    return {index for index, passage in enumerate(passages) if 0 < day_number(passage.published) < oldest}


def passage_header(passage: Passage) -> str:
    """`"Title" (Outlet, by Author, 2022-10-14)`: what a reader needs to judge the passage."""
    details = [passage.source, f"by {passage.author}" if passage.author else "", passage.published]
    said = ", ".join(part for part in details if part)
    title = f"“{passage.title}”" if passage.title else "Untitled"
    return f"{title} ({said})" if said else title


def build_context(
    question: str,
    passages: Sequence[Passage],
    spans: Sequence[Span],
    budget_tokens: int,
    max_passages: int,
) -> ReaderContext:
    """The first `max_passages` passages, their best sentences kept up to the token budget.

    A sentence already shown with an earlier passage of the same article is not shown again.
    The budget is shared out evenly; what a short passage leaves goes to the next ones. Within
    a passage, sentences are kept best first (shared question words, then earlier), each with
    the sentence after it when it fits (answers often run on), and shown in article order.
    """
    terms = set(content_terms(question))
    by_passage: dict[int, list[Span]] = {}
    seen: set[tuple[str, int]] = set()
    for span in spans:  # overlapping passages of one article: each sentence is read once
        key = (passages[span.passage_index].doc_id, span.start)
        if key not in seen:
            seen.add(key)
            by_passage.setdefault(span.passage_index, []).append(span)
    chosen = [index for index in range(len(passages)) if by_passage.get(index)][:max_passages]
    left = budget_tokens * CHARS_PER_TOKEN
    shown: list[ReaderPassage] = []
    for position, index in enumerate(chosen):
        share = left / (len(chosen) - position)
        kept = keep_best_sentences(by_passage[index], terms, share)
        left -= sum(len(span.text) + 1 for span in kept)
        shown.append(ReaderPassage(position + 1, index, passage_header(passages[index]), tuple(kept)))
    return ReaderContext(tuple(shown))


def keep_best_sentences(sentences: list[Span], terms: set[str], budget_chars: float) -> list[Span]:
    """The passage trimmed around its best sentences, in article order.

    First the sentences that share the question's words, best first, each with the one after it
    (answers often run on); then, while the budget lasts, the sentences nearest to those. A
    passage that shares no word with the question is read from its start. The best sentence is
    always kept, and sentences are never cut.
    """

    def overlap(span: Span) -> float:
        return len(terms & span.terms) / len(terms) if terms else 0.0

    matching = sorted((s for s in sentences if overlap(s) > 0), key=lambda s: (-overlap(s), s.index))
    offsets = range(len(sentences))
    at = {span.index: offset for offset, span in enumerate(sentences)}
    first = [at[span.index] + step for span in matching for step in (0, 1)] or [0]
    kept: list[int] = []
    used = 0.0
    for offset in first:
        if offset < len(sentences) and offset not in kept:
            if kept and used + len(sentences[offset].text) > budget_chars:
                break
            kept.append(offset)
            used += len(sentences[offset].text) + 1
    nearest = sorted((o for o in offsets if o not in kept), key=lambda o: (min(abs(o - k) for k in kept), o))
    for offset in nearest:
        if used + len(sentences[offset].text) > budget_chars:
            break
        kept.append(offset)
        used += len(sentences[offset].text) + 1
    return [sentences[offset] for offset in sorted(kept)]


def select_sentences(question: str, spans: Sequence[Span], limit: int) -> ReaderContext:
    """The sentences reader: the `limit` passage sentences that share most of the question's
    words, best first, duplicates dropped, each numbered on its own (no headers).

    The small model reads these fastest (~250 prompt tokens) and follows the first ones most.
    """
    terms = set(content_terms(question))
    unique: dict[str, Span] = {}
    for span in spans:
        unique.setdefault(span.text, span)

    def rank(span: Span) -> tuple[float, int]:
        overlap = len(terms & span.terms) / len(terms) if terms else 0.0
        return (overlap, -span.passage_index)

    best = sorted(unique.values(), key=rank, reverse=True)[:limit]
    return ReaderContext(
        tuple(ReaderPassage(n, span.passage_index, "", (span,)) for n, span in enumerate(best, start=1))
    )


def sentences_by_article(
    question: str, passages: Sequence[Passage], spans: Sequence[Span], limit: int, max_articles: int
) -> ReaderContext:
    """The best `limit` sentences (as `select_sentences` ranks them) from at most `max_articles`
    articles, shown under their article's header (title, outlet, author, date), the article with
    the best sentence first, each article's sentences in its own order."""
    ranked = select_sentences(question, spans, len(spans))
    groups: dict[str, list[Span]] = {}
    first_passage: dict[str, int] = {}
    taken = 0
    for shown in ranked.passages:
        span = shown.spans[0]
        doc = passages[span.passage_index].doc_id
        if doc not in groups and len(groups) == max_articles:
            continue
        groups.setdefault(doc, []).append(span)
        first_passage.setdefault(doc, span.passage_index)
        taken += 1
        if taken == limit:
            break
    return ReaderContext(
        tuple(
            ReaderPassage(
                number,
                first_passage[doc],
                passage_header(passages[first_passage[doc]]),
                tuple(sorted(group, key=lambda span: span.start)),
            )
            for number, (doc, group) in enumerate(groups.items(), start=1)
        )
    )


def render_passages(context: ReaderContext, template: PromptTemplate, separator: str = "\n\n") -> str:
    return separator.join(
        template.format(n=shown.number, header=shown.header, text=shown.text).strip()
        for shown in context.passages
    )
