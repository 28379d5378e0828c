"""The web chat: a Gradio page that streams cited answers and shows the quoted sources.

`build_app(service)` makes the page over one shared `RagService`; `serve()` indexes seeds/
when the collection is empty, warms the models and launches it. Per-user state (the turns
of one conversation) lives in `gr.State`, never in this module. Everything taken from an
article or typed by a user is escaped before it reaches HTML or Markdown.

No `from __future__ import annotations` here: `gr.api` reads the `/ask` type hints at runtime.
"""

import html
import os
import re
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr

from rag import markdown
from rag.answering.answerer import Answer, Citation, Done, Draft, Retrieved, Sentence
from rag.answering.reader import ReaderContext
from rag.briefings.markdown import render_markdown
from rag.briefings.model import DEFAULT_TITLE, Briefing, Section, one_line, safe_url, section_of
from rag.briefings.output import briefing_filename, write_briefing
from rag.errors import LlmError, RagError
from rag.ingest.indexing import IndexReport
from rag.ingest.loaders import SUPPORTED_SUFFIXES, Article, load_corpus
from rag.retrieval.retriever import Filters, Passage
from rag.service import RagService
from rag.settings import Settings
from rag.store.chroma import Facets, collection_facets

UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson", ".csv"]
CONTEXT_CHARS = 320  # passage text shown on each side of a highlighted quote


# --- escaping ----------------------------------------------------------------------------


def esc(text: object) -> str:
    """Text for HTML: tags, quotes and entities shown as typed, never interpreted."""
    return html.escape(str(text), quote=True)


def md_escape(text: str, line_start: bool = True) -> str:
    """Text for one line of the chat's Markdown: whitespace runs (newlines) become one space."""
    return markdown.md_escape(one_line(text), line_start)


def md_answer(text: str) -> str:
    """An answer for the chat: on one line, escaped, its `[n]` markers readable."""
    return markdown.md_answer(one_line(text))


# --- what a turn shows ---------------------------------------------------------------------


@dataclass
class Turn:
    """One question and its answer, as kept in the user's gr.State."""

    question: str
    answer: str = ""  # the raw answer (history for follow-ups)
    message: str = ""  # the Markdown shown in the chat (and copied)
    sources: str = ""  # the HTML of the sources panel for this turn
    ok: bool = False  # answered or refused without an error: usable as history
    section: dict[str, Any] | None = None  # the turn as a briefing section (briefing.Section)
    model: str = ""  # the LLM that wrote the answer
    collection: str = ""

    @classmethod
    def load(cls, data: dict[str, Any]) -> "Turn":
        return cls(**data)


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages.append({"role": "user", "content": md_escape(turn.question)})
        messages.append({"role": "assistant", "content": turn.message})
    return messages


def citation_lines(citation: Citation) -> list[str]:
    """`[1] *Title* — Outlet, Author, date. <url>` then the quote, in Markdown."""
    details = [md_escape(part) for part in (citation.source, citation.author, citation.published) if part]
    title = f"*{md_escape(citation.title, False)}*" if citation.title else md_escape(citation.doc_id, False)
    url = safe_url(citation.url)
    link = f" <{url}>" if url else ""
    return [
        f"[{citation.n}] {title} — {', '.join(details) or 'unknown outlet'}.{link}",
        f"> “{md_escape(citation.quote, False)}”",
    ]


def answer_message(answer: Answer, filters: Filters | None = None) -> str:
    """The final chat message: the answer with its numbered sources, or a refusal, or the error."""
    if answer.error and not answer.citations:
        return (
            f"**Error: no answer.** {md_escape(answer.error)}\n\n"
            f"*The {len(answer.passages)} retrieved passages are listed beside the chat; none is cited.*"
        )
    if answer.refused:
        note = f" (filters: {md_escape(describe_filters(filters))})" if filters else ""
        return (
            f"**Not in the articles.** {md_escape(answer.answer)}{note}\n\n"
            "*No source is shown because no passage supports an answer.*"
        )
    lines = [md_answer(answer.answer), ""]
    if answer.error:  # cut off mid-answer: the finished sentences and their sources stand
        lines += [f"*The answer is incomplete: {md_escape(answer.error)}*", ""]
    lines += ["---", "", "**Sources**", ""]
    for citation in answer.citations:
        lines += [*citation_lines(citation), ""]
    return "\n".join(lines).strip()


def draft_message(sentences: Sequence[str], draft: str) -> str:
    text = " ".join([*sentences, draft.strip()]).strip()
    return f"{md_answer(text)} ▍" if text else "*Writing the answer…*"


def describe_filters(filters: Filters | None) -> str:
    if filters is None:
        return ""
    parts = []
    if filters.sources:
        parts.append("outlets " + ", ".join(filters.sources))
    if filters.since:
        parts.append(f"from {filters.since}")
    if filters.until:
        parts.append(f"until {filters.until}")
    return "; ".join(parts)


# --- the sources panel ---------------------------------------------------------------------


def quotes(passage: Passage, citation: Citation) -> bool:
    return (
        passage.doc_id == citation.doc_id and passage.start <= citation.start and citation.end <= passage.end
    )


def quote_in_context(citation: Citation, passages: Sequence[Passage]) -> tuple[str, str, str]:
    """(before, quote, after): the quote inside the retrieved passage that holds it."""
    for passage in passages:
        if passage.doc_id != citation.doc_id:
            continue
        if quotes(passage, citation):
            start, end = citation.start - passage.start, citation.end - passage.start
            if passage.text[start:end] == citation.quote:
                return passage.text[:start], citation.quote, passage.text[end:]
        found = passage.text.find(citation.quote)
        if found >= 0:
            end = found + len(citation.quote)
            return passage.text[:found], citation.quote, passage.text[end:]
    return "", citation.quote, ""


def trim_context(before: str, after: str, limit: int = CONTEXT_CHARS) -> tuple[str, str]:
    if len(before) > limit:
        cut = before[-limit:]
        before = "…" + cut[cut.find(" ") + 1 :] if " " in cut else "…" + cut
    if len(after) > limit:
        cut = after[:limit]
        after = (cut[: cut.rfind(" ")] if " " in cut else cut) + "…"
    return before, after


def paragraphs_html(text: str) -> str:
    """Escaped text; a blank line between paragraphs becomes a small gap."""
    escaped = esc(re.sub(r"[ \t]+", " ", text))
    return re.sub(r"\s*\n\s*\n\s*", '<span class="src-gap"></span>', escaped).replace("\n", " ")


def meta_line(source: str, author: str, published: str) -> str:
    parts = [f'<span class="src-outlet">{esc(source)}</span>' if source else ""]
    parts += [esc(author) if author else "", esc(published) if published else "undated"]
    return " · ".join(part for part in parts if part)


def title_html(title: str, fallback: str, url: str) -> str:
    link = safe_url(url)
    label = esc(title or fallback)
    if link:
        return (
            f'<a class="src-title" href="{esc(link)}" target="_blank" rel="noopener noreferrer">{label}</a>'
        )
    return f'<span class="src-title">{label}</span>'


def source_card(citation: Citation, passages: Sequence[Passage]) -> str:
    before, quote, after = quote_in_context(citation, passages)
    before, after = trim_context(before, after)
    link = safe_url(citation.url)
    url_line = (
        f'<a href="{esc(link)}" target="_blank" rel="noopener noreferrer">{esc(link)}</a>'
        if link
        else esc(citation.url or "no URL")
    )
    return (
        f'<article class="src-card" id="source-{citation.n}" data-n="{citation.n}">'
        f'<header><span class="src-n">[{citation.n}]</span>'
        f"{title_html(citation.title, citation.doc_id, citation.url)}</header>"
        f'<div class="src-meta">{meta_line(citation.source, citation.author, citation.published)}</div>'
        f'<blockquote class="src-passage">{paragraphs_html(before)}'
        f'<mark class="src-quote">{esc(quote)}</mark>{paragraphs_html(after)}</blockquote>'
        f'<div class="src-url">{url_line}</div></article>'
    )


def passage_item(passage: Passage, with_text: bool) -> str:
    text = f'<div class="src-snippet">{paragraphs_html(passage.text)}</div>' if with_text else ""
    return (
        f"<li>{title_html(passage.title, passage.doc_id, passage.url)}"
        f'<div class="src-meta">{meta_line(passage.source, passage.author, passage.published)}'
        f"</div>{text}</li>"
    )


def panel(title: str, body: str, kind: str = "") -> str:
    return f'<section class="src-panel {kind}"><h3>{esc(title)}</h3>{body}</section>'


def of_turn(number: int, body: str) -> str:
    """The sources panel of the conversation's `number`-th answer."""
    return f'<div class="turn-sources" data-turn="{number}">{body}</div>'


def search_note(search_query: str, question: str) -> str:
    if not search_query or search_query == question:
        return ""
    return f'<p class="src-note">Searched for: “{esc(search_query)}”</p>'


def empty_panel() -> str:
    return panel(
        "Sources",
        '<p class="src-note">Ask a question: each <b>[n]</b> in the answer is a verbatim quote from an '
        "article, shown here highlighted in its passage, with its title, outlet, author, date and link.</p>",
        "empty",
    )


def retrieved_panel(passages: Sequence[Passage], search_query: str, question: str) -> str:
    if not passages:
        return panel("No passages found", '<p class="src-note">The collection has nothing to search.</p>')
    items = "".join(passage_item(passage, with_text=False) for passage in passages)
    return panel(
        f"Reading {len(passages)} retrieved passages…",
        f'{search_note(search_query, question)}<ol class="src-list pending">{items}</ol>'
        '<p class="src-note">Only the passages the answer quotes will be kept as sources.</p>',
        "pending",
    )


def searched(count: int) -> str:
    if count == 0:
        return "No passage matched the question (and the filters)"
    if count == 1:
        return "The only retrieved passage does not answer this question"
    return f"None of the {count} retrieved passages answers this question"


def answer_panel(answer: Answer) -> str:
    note = search_note(answer.search_query, answer.question)
    if answer.error and not answer.citations:
        items = "".join(passage_item(passage, with_text=True) for passage in answer.passages)
        return panel(
            "Retrieved passages (the answer failed, none is cited)",
            f'{note}<p class="src-error">{esc(answer.error)}</p><ol class="src-list">{items}</ol>',
            "failed final",
        )
    if answer.refused:
        return panel(
            "Not answered",
            f'{note}<p class="src-refusal">{searched(len(answer.passages))}, so no source is shown.</p>',
            "refused final",
        )
    cards = "".join(source_card(citation, answer.passages) for citation in answer.citations)
    unused = sum(1 for passage in answer.passages if not any(quotes(passage, c) for c in answer.citations))
    foot = f'<p class="src-note">{unused} other retrieved passage(s) not quoted.</p>' if unused else ""
    cut = f'<p class="src-error">The answer is incomplete: {esc(answer.error)}</p>' if answer.error else ""
    return panel(f"Sources ({len(answer.citations)})", f"{note}{cut}{cards}{foot}", "cited final")


# --- briefings: one answer to copy, the conversation to download ---------------------------------

# The sources panel is a gr.HTML; one delegated listener copies the Markdown kept beside a button.
COPY_BRIEFING_JS = """
element.addEventListener('click', async (event) => {
  const button = event.target.closest('button.copy-briefing');
  if (!button) return;
  const text = button.parentElement.querySelector('textarea.briefing-md').value;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied ✓';
  } catch (err) {
    button.textContent = 'Copy failed: select the text below';
    const box = button.parentElement.querySelector('textarea.briefing-md');
    box.hidden = false;
    box.select();
  }
  setTimeout(() => { button.textContent = 'Copy as briefing'; }, 2500);
});
"""


def conversation_briefing(turns: Sequence[Turn], when: date | None = None) -> Briefing | None:
    """The answered, refused and failed turns as one briefing, in order; None before any."""
    briefed = [turn for turn in turns if turn.section is not None]
    if not briefed:
        return None
    return Briefing(
        title=DEFAULT_TITLE,
        date=when or date.today(),
        collection=", ".join(dict.fromkeys(turn.collection for turn in briefed if turn.collection)),
        model="; ".join(dict.fromkeys(turn.model for turn in briefed if turn.model)) or "none",
        sections=tuple(Section.from_dict(turn.section) for turn in briefed if turn.section),
    )


def copy_briefing_block(turn: Turn) -> str:
    """A "Copy as briefing" button with the answer's briefing section (Markdown) beside it."""
    briefing = conversation_briefing([turn])
    if briefing is None:
        return ""
    markdown = render_markdown(briefing, header=False)
    return (
        '<div class="brief-copy"><button type="button" class="copy-briefing">Copy as briefing</button>'
        f'<textarea class="briefing-md" hidden readonly rows="8">{esc(markdown)}</textarea></div>'
    )


# --- the header, filters and collection facts ------------------------------------------------


def header_html(llm_label: str, name: str, facets: Facets) -> str:
    span = f", {esc(facets.first)} – {esc(facets.last)}" if facets.first else ""
    return (
        '<div class="app-head"><div class="app-title">News Q&amp;A <span>answers quoted from the '
        "articles, every claim with its source</span></div>"
        f'<div class="app-status" id="app-status">Answers by <b>{esc(llm_label)}</b> · collection '
        f"<b>{esc(name)}</b>: {facets.articles:,} article{'s' if facets.articles != 1 else ''}, "
        f"{facets.chunks:,} chunk{'s' if facets.chunks != 1 else ''}{span}</div></div>"
    )


# The web chat's names for the two dates, in its error messages.
WEB_DATE_NAMES = ("The “From” date", "The “Until” date")


# --- adding articles -----------------------------------------------------------------------------


def upload_dir(service: RagService, collection: str) -> Path:
    return service.settings.index_dir / "uploads" / collection


def add_files(service: RagService, collection: str, files: Sequence[str]) -> tuple[str, IndexReport | None]:
    """Copy uploads under index_dir/uploads/<collection>/ and index them; a Markdown summary."""
    rejected: list[str] = []
    accepted: list[Path] = []
    target = upload_dir(service, collection)
    for file in files:
        path = Path(file)
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.suffix:
            rejected.append(f"{md_escape(path.name)}: not an article file (use {', '.join(UPLOAD_TYPES)})")
            continue
        target.mkdir(parents=True, exist_ok=True)
        accepted.append(Path(shutil.copyfile(path, target / path.name)))
    report = service.index(accepted, collection, show_progress=True) if accepted else None
    articles = load_corpus(accepted).articles if report is not None else []
    summary = index_summary(collection, report, articles, rejected, where=lambda path: Path(path).name)
    return summary or "No files.", report


def add_url(service: RagService, collection: str, url: str) -> tuple[str, IndexReport | None]:
    """Fetch a feed's articles or an article page into the collection (RAG_ALLOW_FETCH=1 only;
    public addresses only unless RAG_FETCH_ALLOW_PRIVATE=1); the same summary as uploads."""
    url = url.strip()
    if not url:
        return "Type the URL of a feed (RSS, Atom) or of an article.", None
    fetched = service.fetch_and_index([url], collection, web=True, show_progress=True)
    summary = index_summary(collection, fetched.index, fetched.articles, [], where=str)
    return summary, fetched.index


def index_summary(
    collection: str,
    report: IndexReport | None,
    articles: Sequence[Article],
    rejected: list[str],
    where: Callable[[str], str],
) -> str:
    """Markdown: the counts, one line per article read, and what was rejected and why."""
    lines: list[str] = []
    if report is not None:
        lines.append(
            f"**Added to “{md_escape(collection)}”:** {report.added} new, {report.updated} updated, "
            f"{report.unchanged} unchanged article(s); {report.chunks_embedded} chunks embedded, "
            f"{report.chunks_total} in the collection ({report.seconds:.1f} s)."
        )
        for article in articles:
            facts = ", ".join(md_escape(part) for part in (article.source, article.published) if part)
            lines.append(
                f"- *{md_escape(article.title or article.doc_id)}*"
                + (f" — {facts}" if facts else "")
                + f" ({md_escape(where(article.origin))})"
            )
        for problem in report.problems:
            place = where(problem.path) + (f":{problem.line}" if problem.line is not None else "")
            rejected.append(f"{md_escape(place)}: {md_escape(problem.message)}")
    if rejected:
        lines += ["", "**Rejected:**", *(f"- {line}" for line in rejected)]
    return "\n".join(lines)


# --- startup -----------------------------------------------------------------------------------


def ensure_indexed(service: RagService, collection: str | None = None) -> None:
    """Index seeds/ (with a progress bar) when the collection is empty."""
    name = collection or service.settings.collection
    if service.stats(name).chunks:
        return
    seeds = service.settings.seeds_dir
    print(f"Collection {name!r} is empty: indexing {seeds} first…", file=sys.stderr, flush=True)
    report = service.index([seeds], name, show_progress=True)
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{name}: {report.summary()}", file=sys.stderr, flush=True)


def warm_up(service: RagService, collection: str | None = None) -> None:
    """Load the embedding model and the LLM now, so that the first question is fast."""
    service.search("warm up", 1, collection)
    generator = service.generator()
    if generator is None:
        return
    print(f"Warming up {generator.info.label()}…", file=sys.stderr, flush=True)
    messages = service.prompts.reader_messages("Is it ready?", ReaderContext(()), None)
    try:
        for count, _ in enumerate(generator.stream(messages)):
            if count >= 2:  # the weights are in memory and the system prompt is cached
                break
    except LlmError as err:
        print(f"warning: the LLM is not answering yet: {err}", file=sys.stderr)


# --- the page ----------------------------------------------------------------------------------


def llm_label(service: RagService) -> str:
    generator = service.generator()
    return generator.info.label() if generator else "extractive: quoted sentences, no LLM"


class WebChat:
    """The page's event handlers over one shared service; all per-user state comes in as inputs."""

    def __init__(self, service: RagService) -> None:
        self.service = service
        self.settings = service.settings
        self.label = llm_label(service)
        # The bundled model serves one request at a time; remote backends take a few in parallel.
        self.answer_limit = 1 if self.label.startswith("local") else 4
        # Briefings offered for download are written here (one folder per download, never shared).
        self.export_dir = Path(tempfile.mkdtemp(prefix="rag-briefings-"))

    def facts(self, name: str) -> tuple[str, Any]:
        """The header and the outlet choices of a collection."""
        facets = collection_facets(self.service.collection(name, create=True))
        return header_html(self.label, name, facets), gr.update(choices=facets.sources, value=[])

    def on_load(self) -> tuple[Any, str, Any]:
        names = self.service.collections() or [self.settings.collection]
        name = self.settings.collection if self.settings.collection in names else names[0]
        header, outlets = self.facts(name)
        return gr.update(choices=names, value=name, visible=len(names) > 1), header, outlets

    def respond(
        self,
        question: str,
        turns: list[dict[str, Any]],
        collection: str,
        outlets: list[str] | None,
        since: str | None,
        until: str | None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Streams (chat, sources panel, question box, turns): passages first, then the answer."""
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        done = [Turn.load(turn) for turn in turns]
        number = len(done) + 1
        turn = Turn(question, message="*Searching the articles…*", sources=panel("Searching…", ""))
        busy = gr.update(value="", interactive=False)
        yield chat_messages([*done, turn]), of_turn(number, turn.sources), busy, gr.skip()
        for update in self.answer_turn(turn, done, collection, outlets, since, until):
            sources = of_turn(number, update) if isinstance(update, str) else update
            yield chat_messages([*done, turn]), sources, gr.skip(), gr.skip()
        turn.sources = of_turn(number, turn.sources)
        saved = [asdict(item) for item in [*done, turn]]
        yield chat_messages([*done, turn]), turn.sources, gr.update(interactive=True), saved

    def answer_turn(
        self,
        turn: Turn,
        done: Sequence[Turn],
        collection: str,
        outlets: Sequence[str] | None,
        since: str | None,
        until: str | None,
    ) -> Iterator[Any]:
        """Fills `turn` as the answer streams; yields the sources panel when it changes."""
        try:
            filters = Filters.from_user(outlets, since, until, WEB_DATE_NAMES)
            answerer = self.service.answerer(collection or None)
            history = [(item.question, item.answer) for item in done if item.ok]
            sentences: list[str] = []
            events = answerer.stream(turn.question, k=self.settings.top_k, filters=filters, history=history)
            for event in events:
                if isinstance(event, Retrieved):
                    turn.message = f"*Found {len(event.passages)} passages; writing the answer…*"
                    turn.sources = retrieved_panel(event.passages, event.search_query, turn.question)
                    yield turn.sources
                elif isinstance(event, Sentence | Draft):
                    if isinstance(event, Sentence):
                        sentences.append(event.text)
                    turn.message = draft_message(sentences, event.text if isinstance(event, Draft) else "")
                    yield gr.skip()
                elif isinstance(event, Done):
                    turn.answer = event.answer.answer
                    turn.ok = event.answer.error is None or bool(event.answer.citations)
                    turn.message = answer_message(event.answer, filters)
                    turn.section = asdict(section_of(event.answer))
                    turn.model = event.answer.llm.label()
                    turn.collection = collection or self.settings.collection
                    turn.sources = answer_panel(event.answer) + copy_briefing_block(turn)
        except RagError as err:
            turn.message = f"**Error:** {md_escape(str(err))}"
            turn.sources = panel("No sources", f'<p class="src-error">{esc(err)}</p>', "failed final")
        except Exception as err:  # a readable message in the chat, the details in the log
            traceback.print_exc()
            turn.message = f"**Unexpected error** ({type(err).__name__}): {md_escape(str(err))}"
            turn.sources = panel("No sources", f'<p class="src-error">{esc(err)}</p>', "failed final")
        yield turn.sources

    def briefing_downloads(self, turns: list[dict[str, Any]]) -> tuple[Any, Any]:
        """The download buttons, holding the conversation's briefing as Markdown and as DOCX."""
        briefing = conversation_briefing([Turn.load(turn) for turn in turns])
        if briefing is None:
            return gr.update(value=None, interactive=False), gr.update(value=None, interactive=False)
        folder = Path(tempfile.mkdtemp(prefix="briefing-", dir=self.export_dir))
        updates = []
        for fmt in ("md", "docx"):
            path = folder / briefing_filename(briefing, fmt)
            write_briefing(briefing, fmt, path)
            updates.append(gr.update(value=str(path), interactive=True))
        return updates[0], updates[1]

    def show_sources(self, turns: list[dict[str, Any]], event: gr.SelectData) -> Any:
        """Clicking an earlier message brings back the sources of its answer."""
        index = event.index if isinstance(event.index, int) else event.index[0]
        if 0 <= index // 2 < len(turns):
            return turns[index // 2]["sources"] or empty_panel()
        return gr.skip()

    def add_articles(
        self,
        files: list[str] | None,
        collection: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio's idiom
    ) -> tuple[Any, Any, Any, Any]:
        """(summary, header, outlets, file box): index the uploads into the current collection."""
        if not files:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        name = collection or self.settings.collection
        progress(0, desc="Reading the files…")
        try:
            summary, _ = add_files(self.service, name, files)
        except RagError as err:
            summary = f"**Error:** {md_escape(str(err))}"
        header, outlets = self.facts(name)
        return summary, header, outlets, None

    def add_url(
        self,
        url: str,
        collection: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio's idiom
    ) -> tuple[Any, Any, Any]:
        """(summary, header, outlets): fetch a feed or an article page into the current collection."""
        name = collection or self.settings.collection
        progress(0, desc="Fetching…")
        try:
            summary, _ = add_url(self.service, name, url or "")
        except RagError as err:
            summary = f"**Error:** {md_escape(str(err))}"
        header, outlets = self.facts(name)
        return summary, header, outlets

    def ask(
        self,
        question: str,
        collection: str = "",
        sources: list[str] | None = None,
        since: str = "",
        until: str = "",
        k: int = 0,
        history: list[list[str]] | None = None,
    ) -> dict[str, Any]:
        """Answer a question with [n] markers tied to verbatim quotes: the JSON of `rag ask --json`.

        history: earlier [question, answer] pairs, for follow-up questions.
        """
        try:
            answerer = self.service.answerer(collection or None)
            pairs = [(str(pair[0]), str(pair[1])) for pair in history or [] if len(pair) >= 2]
            answer = answerer.ask(
                question,
                k=min(max(k, 1), 50) if k else self.settings.top_k,
                filters=Filters.from_user(sources, since, until, WEB_DATE_NAMES),
                history=pairs,
            )
        except RagError as err:
            raise gr.Error(str(err)) from err
        return answer.to_json()


@dataclass
class Controls:
    """The components the events read and write."""

    header: Any
    chatbot: Any
    question: Any
    send: Any
    picker: Any
    outlets: Any
    since: Any
    until: Any
    files: Any
    url: Any
    fetch: Any
    upload_summary: Any
    sources: Any
    turns: Any
    download_md: Any
    download_docx: Any


def chat_column(settings_collection: str, max_upload_mb: int, allow_fetch: bool = False) -> dict[str, Any]:
    """The conversation, the question box, the filters and the upload box."""
    parts: dict[str, Any] = {}
    parts["chatbot"] = gr.Chatbot(
        elem_id="chat",
        label="Conversation",
        show_label=False,
        height=540,
        buttons=["copy"],  # copies the answer with its numbered sources, as Markdown
        feedback_options=None,
        placeholder="Ask about the news articles in the collection. "
        "Follow-up questions keep the conversation's context.",
        sanitize_html=True,
        allow_tags=False,
        latex_delimiters=[],
        layout="bubble",
    )
    with gr.Row(equal_height=True):
        parts["question"] = gr.Textbox(
            elem_id="question",
            show_label=False,
            placeholder="Ask a question about the articles…",
            lines=1,
            max_lines=4,
            scale=5,
            autofocus=True,
            submit_btn=False,
        )
        parts["send"] = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
    with gr.Row(elem_id="briefing-downloads"):
        parts["download_md"] = gr.DownloadButton(
            "Download briefing (Markdown)", size="sm", interactive=False, elem_id="download-md"
        )
        parts["download_docx"] = gr.DownloadButton(
            "Download briefing (Word)", size="sm", interactive=False, elem_id="download-docx"
        )
    with gr.Accordion("Filters and collection", open=False, elem_id="filters"):
        with gr.Row():
            parts["picker"] = gr.Dropdown(
                [settings_collection],
                value=settings_collection,
                label="Collection",
                visible=False,  # shown when there are several
                elem_id="collection",
            )
            parts["outlets"] = gr.Dropdown(
                [], multiselect=True, label="Outlets", info="All when empty", elem_id="outlets"
            )
        with gr.Row():
            parts["since"] = gr.DateTime(include_time=False, type="string", label="From", elem_id="since")
            parts["until"] = gr.DateTime(include_time=False, type="string", label="Until", elem_id="until")
    with gr.Accordion("Add articles", open=False, elem_id="add-articles"):
        parts["files"] = gr.File(
            label=f"Files (txt, md, html, json, jsonl, csv; up to {max_upload_mb} MB each): "
            "added to the current collection",
            file_count="multiple",
            file_types=UPLOAD_TYPES,
            elem_id="upload",
            height=140,
        )
        with gr.Row(equal_height=True):
            parts["url"] = gr.Textbox(
                label="Or a URL: a feed (RSS, Atom) or an article page"
                + ("" if allow_fetch else " (off: start the chat with RAG_ALLOW_FETCH=1)"),
                placeholder="https://outlet.example/feed.xml",
                lines=1,
                max_lines=1,
                scale=5,
                elem_id="add-url",
            )
            parts["fetch"] = gr.Button("Fetch", scale=1, min_width=80, elem_id="fetch-url")
        parts["upload_summary"] = gr.Markdown(elem_id="upload-summary")
    return parts


def layout(chat: WebChat) -> Controls:
    header = gr.HTML(chat.facts(chat.settings.collection)[0], elem_id="app-header")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            parts = chat_column(
                chat.settings.collection, chat.settings.max_upload_mb, chat.settings.allow_fetch
            )
        with gr.Column(scale=2, min_width=320):
            sources = gr.HTML(empty_panel(), elem_id="sources", max_height=720, js_on_load=COPY_BRIEFING_JS)
    return Controls(header=header, sources=sources, turns=gr.State([]), **parts)


def wire(chat: WebChat, ui: Controls, demo: gr.Blocks) -> None:
    private: dict[str, Any] = {"api_visibility": "private"}
    answering: dict[str, Any] = {"concurrency_id": "answer", "concurrency_limit": chat.answer_limit}
    inputs = [ui.question, ui.turns, ui.picker, ui.outlets, ui.since, ui.until]
    outputs = [ui.chatbot, ui.sources, ui.question, ui.turns]
    downloads = [ui.download_md, ui.download_docx]
    for trigger in (ui.question.submit, ui.send.click):
        trigger(chat.respond, inputs, outputs, show_progress="hidden", **private, **answering).then(
            chat.briefing_downloads, [ui.turns], downloads, show_progress="hidden", **private
        )
    ui.chatbot.select(chat.show_sources, [ui.turns], [ui.sources], show_progress="hidden", **private)
    ui.chatbot.clear(lambda: ([], empty_panel()), None, [ui.turns, ui.sources], **private).then(
        chat.briefing_downloads, [ui.turns], downloads, show_progress="hidden", **private
    )
    ui.picker.change(chat.facts, [ui.picker], [ui.header, ui.outlets], **private)
    ui.files.upload(
        chat.add_articles,
        [ui.files, ui.picker],
        [ui.upload_summary, ui.header, ui.outlets, ui.files],
        concurrency_id="index",
        **private,
    )
    for trigger in (ui.url.submit, ui.fetch.click):
        trigger(
            chat.add_url,
            [ui.url, ui.picker],
            [ui.upload_summary, ui.header, ui.outlets],
            concurrency_id="index",
            **private,
        )
    demo.load(chat.on_load, None, [ui.picker, ui.header, ui.outlets], **private)
    gr.api(chat.ask, api_name="ask", **answering)


def build_app(service: RagService) -> gr.Blocks:
    """The page over one shared service (its models and LLM server are reused by every user)."""
    chat = WebChat(service)
    with gr.Blocks(title="News Q&A", analytics_enabled=False) as demo:
        wire(chat, layout(chat), demo)
    return demo


CSS = """
.app-head { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between;
  gap: .25rem 1rem; padding: .25rem .25rem .5rem; border-bottom: 1px solid var(--border-color-primary); }
.app-title { font-size: 1.35rem; font-weight: 700; }
.app-title span { font-size: .9rem; font-weight: 400; color: var(--body-text-color-subdued);
  margin-left: .4rem; }
.app-status { font-size: .85rem; color: var(--body-text-color-subdued); }
.src-panel h3 { margin: 0 0 .5rem; font-size: 1rem; }
.src-panel.empty .src-note { font-size: .9rem; }
.src-card { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
  border-radius: 8px; padding: .6rem .75rem; margin-bottom: .75rem;
  background: var(--block-background-fill); }
.src-card header { display: flex; gap: .5rem; align-items: baseline; font-weight: 600; text-align: left; }
.src-n { color: var(--color-accent); font-weight: 700; white-space: nowrap; }
.src-title { flex: 1; text-align: left; color: var(--body-text-color); text-decoration: none; }
a.src-title:hover { text-decoration: underline; }
.src-meta { font-size: .8rem; color: var(--body-text-color-subdued); margin: .15rem 0 .35rem; }
.src-outlet { font-weight: 600; }
.src-passage { margin: 0; padding: .4rem .6rem; border-left: 2px solid var(--border-color-primary);
  font-size: .88rem; line-height: 1.45; color: var(--body-text-color-subdued); }
.src-gap { display: block; height: .5em; }
.src-quote { background: #fde68a; color: #1f2937; padding: 0 .1rem; border-radius: 2px; }
.src-url { font-size: .75rem; margin-top: .35rem; word-break: break-all; }
.src-list { padding-left: 1.2rem; margin: .25rem 0; }
.src-list li { margin-bottom: .45rem; }
.src-list.pending { opacity: .7; }
.src-snippet { font-size: .8rem; color: var(--body-text-color-subdued); max-height: 9rem; overflow-y: auto; }
.src-note { font-size: .8rem; color: var(--body-text-color-subdued); margin: .25rem 0 .5rem; }
.src-refusal { padding: .6rem .75rem; border-radius: 8px; background: var(--background-fill-secondary);
  border: 1px dashed var(--border-color-primary); }
.src-error { padding: .6rem .75rem; border-radius: 8px; background: #fee2e2; color: #7f1d1d; }
#sources { padding: .25rem .5rem; }
#chat hr { margin: .6rem 0; }
#chat hr ~ p, #chat hr ~ blockquote { font-size: .85em; margin: .3rem 0; }
.brief-copy { margin: .25rem 0 .5rem; }
.brief-copy textarea { width: 100%; font-size: .8rem; }
.copy-briefing { font-size: .8rem; padding: .2rem .6rem; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }
#briefing-downloads { gap: .5rem; }
#chat blockquote { border-left: 3px solid var(--color-accent); padding-left: .6rem; margin-left: 0;
  color: var(--body-text-color-subdued); }
"""


def launch(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    settings: Settings,
    **kwargs: Any,
) -> tuple[Any, str, str]:
    """Queue on (requests wait their turn; histories stay per session), then serve.

    RAG_AUTH turns on the login page; RAG_MAX_UPLOAD_MB caps each uploaded file.
    """
    login = settings.login()
    demo.queue(default_concurrency_limit=1, max_size=64)
    theme = gr.themes.Default(
        primary_hue="indigo",
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    return demo.launch(
        server_name=host,
        server_port=port,
        theme=theme,
        css=CSS,
        footer_links=["api"],
        run_history=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        auth=login,
        auth_message="Sign in to the News Q&A chat." if login else None,
        show_error=True,
        **kwargs,
    )


def has_display() -> bool:
    """A desktop to open a browser on (never a text browser taking over the server's terminal)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def serve(service: RagService, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False) -> None:
    """`rag serve` / `python app.py`: seeds indexed when the collection is empty, models warm, page up."""
    service.settings.login()  # a malformed RAG_AUTH stops here, before minutes of indexing
    ensure_indexed(service)
    warm_up(service)
    demo = build_app(service)
    print(f"Web chat on http://{host}:{port}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    launch(demo, host, port, settings=service.settings, inbrowser=open_browser and has_display())
