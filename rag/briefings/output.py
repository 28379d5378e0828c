"""Which format a briefing is written in (md, html, docx), and writing it to a file or to text.

`rag brief` picks the format from --format or --out's suffix; the web chat names its downloads
with `briefing_filename`. A file is written whole or not at all: a half-written one never
replaces a good one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rag.briefings.docx import render_docx
from rag.briefings.html import render_html
from rag.briefings.markdown import render_markdown
from rag.briefings.model import Briefing
from rag.errors import RagError, UsageError

Format = Literal["md", "html", "docx"]
FORMATS: tuple[Format, ...] = ("md", "html", "docx")
SUFFIXES: dict[str, Format] = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}


def briefing_filename(briefing: Briefing, fmt: Format) -> str:
    """A download name such as `briefing-2025-11-25.docx`."""
    return f"briefing-{briefing.date.isoformat()}.{fmt}"


def render_text(briefing: Briefing, fmt: Format) -> str:
    if fmt == "md":
        return render_markdown(briefing)
    if fmt == "html":
        return render_html(briefing)
    raise UsageError("DOCX is a binary format: write it to a file with --out.")


def write_briefing(briefing: Briefing, fmt: Format, path: Path) -> None:
    """Render to a file; a half-written file never replaces a good one."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        if fmt == "docx":
            render_docx(briefing, partial)
        else:
            partial.write_text(render_text(briefing, fmt), encoding="utf-8")
        partial.replace(path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise RagError(f"cannot write {path}: {err.strerror or err}") from None


def format_for(out: Path | None, fmt: str | None) -> Format:
    """The explicit format, else the one --out's suffix names, else Markdown."""
    if fmt:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}: use md, html or docx.")
        return fmt  # type: ignore[return-value]
    if out is not None and out.suffix.lower() in SUFFIXES:
        return SUFFIXES[out.suffix.lower()]
    return "md"
