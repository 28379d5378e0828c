"""A briefing as Markdown, for pasting: headings, escaped text, `[n]` markers kept readable.

All text goes through the shared escaping in rag/markdown.py (the web chat uses the same rules),
so article text shows as typed; only http(s) URLs become autolinks. `header=False` renders the
sections alone, as the web chat's "Copy as briefing" does for one answer.
"""

from __future__ import annotations

import re

from rag.briefings.model import (
    FIELD_SEPARATOR,
    NO_ANSWER,
    NOT_ANSWERED,
    Briefing,
    Source,
    header_fields,
    quoted,
)
from rag.markdown import md_answer, md_escape


def md_code(text: str) -> str:
    ticks = max((len(run) for run in re.findall(r"`+", text)), default=0) + 1
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{'`' * ticks}{pad}{text}{pad}{'`' * ticks}"


def md_attribution(source: Source) -> str:
    parts = []
    for name, text, missing in source.attribution():
        if name == "doc_id":
            parts.append(f"doc_id {md_code(text)}")
        elif name == "url" and not missing and source.link:
            parts.append(f"<{source.link}>")
        elif name == "title" and not missing:
            parts.append(f"*{md_escape(text)}*")
        else:
            parts.append(md_escape(text))
    return FIELD_SEPARATOR.join(parts)


def render_markdown(briefing: Briefing, *, header: bool = True) -> str:
    """Markdown for pasting; `header=False` gives the sections only (e.g. to copy one answer)."""
    lines: list[str] = []
    if header:
        lines += [f"# {md_escape(briefing.title)}", ""]
        meta = [f"**{label}:** {md_escape(value)}" for label, value in header_fields(briefing)]
        lines += ["  \n".join(meta), "", "---", ""]
    for number, section in enumerate(briefing.sections, start=1):
        heading = f"## {number}. " if header or len(briefing.sections) > 1 else "**Q:** "
        lines += [heading + md_escape(section.question), ""]
        if section.status == "refused":
            lines += [f"*{NOT_ANSWERED}* {md_escape(section.note)}".rstrip(), ""]
            continue
        if section.status == "error":
            lines += [f"*{NO_ANSWER}* {md_escape(section.note)}", ""]
            continue
        lines += [md_answer(section.answer), ""]
        if section.note:
            lines += [f"*{md_escape(section.note)}*", ""]
        lines += ["**Sources**", ""]
        for source in section.sources:
            lines += [f"**[{source.n}]** {md_escape(quoted(source))}  ", md_attribution(source), ""]
    return "\n".join(lines).rstrip() + "\n"
