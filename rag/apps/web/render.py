"""What the web chat shows, as strings: the chat's Markdown and the sources panel's HTML.

The answer message with its numbered sources (or the refusal, or the error), the draft while it
streams, the sources panel (a card per citation with the quote highlighted inside its passage,
the retrieved passages while the answer is written), the "Copy as briefing" block and the page
header. Pure functions with no gradio import. Everything taken from an article or typed by a
user is escaped before it reaches HTML or Markdown.
"""

import html
import re
from collections.abc import Sequence

from rag import markdown
from rag.apps.web.conversation import Turn, conversation_briefing
from rag.briefings.markdown import render_markdown
from rag.briefings.model import one_line, safe_url
from rag.store.chroma import Facets
from rag.types import Answer, Citation, Filters, Passage

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


# --- the chat's messages -----------------------------------------------------------------


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


# --- one answer to copy as a briefing, and the page's header ---------------------------------


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


def header_html(llm_label: str, name: str, facets: Facets) -> str:
    span = f", {esc(facets.first)} – {esc(facets.last)}" if facets.first else ""
    return (
        '<div class="app-head"><div class="app-title">News Q&amp;A <span>answers quoted from the '
        "articles, every claim with its source</span></div>"
        f'<div class="app-status" id="app-status">Answers by <b>{esc(llm_label)}</b> · collection '
        f"<b>{esc(name)}</b>: {facets.articles:,} article{'s' if facets.articles != 1 else ''}, "
        f"{facets.chunks:,} chunk{'s' if facets.chunks != 1 else ''}{span}</div></div>"
    )
