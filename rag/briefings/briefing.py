"""Briefings: answers with their quoted, attributed passages, ready to paste, mail or file.

A `Briefing` is built from `Answer`s plus a short header (title, date, collection, model) and
rendered as Markdown (for pasting), HTML (for mail: inline styles, no scripts) or DOCX (for
documents). Each answer keeps its `[n]` markers; below it come its numbered sources: the
verbatim quote in quotation marks, then outlet, author, date, title, URL and `doc_id`.

Quotes are verbatim slices of their articles (`Citation.quote == text[start:end]`). A long one
is shortened only at sentence boundaries, and an ellipsis outside the verbatim text marks the
cut. Article text and metadata are written by strangers: every renderer escapes them, and only
http(s) URLs become links.

Also here, for `rag brief`: `load_briefing_questions`, a small questions-file loader (one
question per line in .txt; JSONL / JSON / CSV / YAML records with a `question` field).
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

from rag.answering.answerer import Answer, check_question
from rag.answering.attribution import sentence_bounds
from rag.errors import RagError, UsageError
from rag.ingest.loaders import LoadProblem, decode_text
from rag.markdown import md_answer, md_escape
from rag.records import RECORD_SUFFIXES, Record, UnreadableRecords, read_records

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

Format = Literal["md", "html", "docx"]
FORMATS: tuple[Format, ...] = ("md", "html", "docx")
SUFFIXES: dict[str, Format] = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}


# ---------------------------------------------------------------------------------------------
# The briefing


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


def briefing_filename(briefing: Briefing, fmt: Format) -> str:
    """A download name such as `briefing-2025-11-25.docx`."""
    return f"briefing-{briefing.date.isoformat()}.{fmt}"


# ---------------------------------------------------------------------------------------------
# Markdown


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


# ---------------------------------------------------------------------------------------------
# HTML (for mail: inline styles, escaped text, no scripts, links only to http(s))

FONT = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
SERIF = "Georgia, 'Times New Roman', serif"
STYLE = {
    "page": f"margin:0;padding:32px 16px;background:#f3f3f1;font-family:{FONT};color:#1c1c1c;",
    "sheet": (
        f"max-width:760px;margin:0 auto;padding:40px 48px;background:#ffffff;font-family:{FONT};"
        "color:#1c1c1c;font-size:15px;line-height:1.55;border:1px solid #dddddd;"
    ),
    "kicker": "margin:0 0 4px;font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#8a5a00;",
    "h1": "margin:0 0 12px;font-size:26px;line-height:1.25;font-weight:700;",
    "meta": "margin:0;border-collapse:collapse;font-size:13px;color:#555555;",
    "meta_label": "padding:1px 14px 1px 0;font-weight:600;color:#333333;vertical-align:top;",
    "meta_value": "padding:1px 0;vertical-align:top;",
    "rule": "border:0;border-top:2px solid #1c1c1c;margin:20px 0 8px;",
    "section": "margin:0;padding:18px 0 10px;border-bottom:1px solid #e4e4e4;",
    "h2": "margin:0 0 10px;font-size:18px;line-height:1.35;font-weight:700;",
    "number": "color:#8a5a00;",
    "answer": "margin:0 0 14px;",
    "marker": "font-weight:600;color:#8a5a00;white-space:nowrap;",
    "refused": "margin:0 0 8px;color:#555555;font-style:italic;",
    "sources": "margin:0 0 6px;font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#777777;",
    "source": "margin:0 0 14px;",
    "quote": (
        f"margin:0;padding:2px 0 2px 14px;border-left:3px solid #d8c08a;font-family:{SERIF};"
        "font-size:15.5px;color:#222222;"
    ),
    "source_n": f"font-family:{FONT};font-weight:700;color:#8a5a00;padding-right:4px;",
    "attribution": "margin:4px 0 0 17px;font-size:12.5px;color:#555555;",
    "missing": "color:#999999;font-style:italic;",
    "doc_id": "font-family:Menlo,Consolas,monospace;font-size:12px;color:#444444;",
    "link": "color:#1a4f8a;text-decoration:underline;word-break:break-all;",
    "footer": "margin:18px 0 0;font-size:12px;color:#777777;",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def html_answer(text: str) -> str:
    return re.sub(r"\[(\d{1,3})\]", rf'<span style="{STYLE["marker"]}">[\1]</span>', esc(text))


def html_attribution(source: Source) -> str:
    parts = []
    for name, text, missing in source.attribution():
        css = f"bf-{name.replace('_', '-')}"
        if missing:
            parts.append(f'<span class="{css} bf-missing" style="{STYLE["missing"]}">{esc(text)}</span>')
        elif name == "doc_id":
            parts.append(f'doc_id <code class="{css}" style="{STYLE["doc_id"]}">{esc(text)}</code>')
        elif name == "url" and source.link:
            parts.append(
                f'<a class="{css}" href="{esc(source.link)}" rel="noopener noreferrer" '
                f'style="{STYLE["link"]}">{esc(text)}</a>'
            )
        elif name == "title":
            parts.append(f'<cite class="{css}">{esc(text)}</cite>')
        else:
            parts.append(f'<span class="{css}">{esc(text)}</span>')
    return FIELD_SEPARATOR.join(parts)


def html_source(source: Source) -> str:
    before = f"{ELLIPSIS} " if source.cut_before else ""
    after = f" {ELLIPSIS}" if source.cut_after else ""
    return (
        f'<div class="bf-source" style="{STYLE["source"]}">'
        f'<blockquote style="{STYLE["quote"]}"><span style="{STYLE["source_n"]}">[{source.n}]</span> '
        f'“{before}<span class="bf-quote">{esc(source.quote)}</span>{after}”</blockquote>'
        f'<p class="bf-attribution" style="{STYLE["attribution"]}">{html_attribution(source)}</p></div>'
    )


def html_section(number: int, section: Section) -> str:
    out = [
        f'<section class="bf-section" style="{STYLE["section"]}">',
        f'<h2 style="{STYLE["h2"]}"><span style="{STYLE["number"]}">{number}.</span> '
        f'<span class="bf-question">{esc(section.question)}</span></h2>',
    ]
    if section.status in ("refused", "error"):
        label = NOT_ANSWERED if section.status == "refused" else NO_ANSWER
        out.append(
            f'<p class="bf-{section.status}" style="{STYLE["refused"]}">{esc(label)} {esc(section.note)}</p>'
        )
    else:
        out.append(f'<p class="bf-answer" style="{STYLE["answer"]}">{html_answer(section.answer)}</p>')
        if section.note:
            out.append(f'<p class="bf-note" style="{STYLE["refused"]}">{esc(section.note)}</p>')
        out.append(f'<p style="{STYLE["sources"]}">Sources</p>')
        out.extend(html_source(source) for source in section.sources)
    out.append("</section>")
    return "\n".join(out)


def render_html(briefing: Briefing, *, fragment: bool = False) -> str:
    """A standalone HTML document for mail; `fragment=True` gives the styled block only
    (for the clipboard or to embed in a page)."""
    meta_rows = "".join(
        f'<tr><td style="{STYLE["meta_label"]}">{esc(label)}</td>'
        f'<td class="bf-{label.lower()}" style="{STYLE["meta_value"]}">{esc(value)}</td></tr>'
        for label, value in header_fields(briefing)
    )
    sections = "\n".join(html_section(n, section) for n, section in enumerate(briefing.sections, start=1))
    body = (
        f'<div class="bf-briefing" style="{STYLE["sheet"]}">\n'
        f'<p style="{STYLE["kicker"]}">Briefing</p>\n'
        f'<h1 class="bf-title" style="{STYLE["h1"]}">{esc(briefing.title)}</h1>\n'
        f'<table role="presentation" style="{STYLE["meta"]}">{meta_rows}</table>\n'
        f'<hr style="{STYLE["rule"]}">\n{sections}\n'
        f'<p style="{STYLE["footer"]}">Quotes are verbatim from the articles named; {ELLIPSIS} marks '
        "sentences left out. Markers [n] in an answer refer to the numbered sources below it.</p>\n"
        "</div>"
    )
    if fragment:
        return body
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(briefing.title)}</title>\n</head>\n"
        f'<body style="{STYLE["page"]}">\n{body}\n</body>\n</html>\n'
    )


# ---------------------------------------------------------------------------------------------
# DOCX (python-docx)

# Characters XML 1.0 cannot hold; python-docx refuses them. They never occur in real articles.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
ACCENT = (0x8A, 0x5A, 0x00)
GREY = (0x55, 0x55, 0x55)


def xml_safe(text: str) -> str:
    return XML_INVALID.sub("\ufffd", text)


def render_docx(briefing: Briefing, out: str | Path | IO[bytes]) -> None:
    """Write the briefing as a Word document to a path or a binary stream."""
    from docx import Document
    from docx.enum.text import WD_BREAK
    from docx.shared import Pt, RGBColor

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)
    properties = document.core_properties
    properties.title = xml_safe(briefing.title)[:255]
    properties.subject = "Briefing"
    properties.author = "rag-news"
    properties.comments = xml_safe(f"Collection: {briefing.collection}; model: {briefing.model}")[:255]

    document.add_heading(xml_safe(briefing.title), level=0)
    meta = document.add_paragraph()
    for index, (label, value) in enumerate(header_fields(briefing)):
        if index:
            meta.add_run().add_break(WD_BREAK.LINE)
        meta.add_run(f"{label}: ").bold = True
        meta.add_run(xml_safe(value))

    for number, section in enumerate(briefing.sections, start=1):
        document.add_heading(xml_safe(f"{number}. {section.question}"), level=1)
        if section.status != "answered":
            paragraph = document.add_paragraph()
            label = NOT_ANSWERED if section.status == "refused" else NO_ANSWER
            paragraph.add_run(label).italic = True
            paragraph.add_run(xml_safe(f" {section.note}".rstrip()))
            continue
        document.add_paragraph(xml_safe(section.answer))
        if section.note:
            document.add_paragraph().add_run(xml_safe(section.note)).italic = True
        document.add_heading("Sources", level=2)
        for source in section.sources:
            quote = document.add_paragraph()
            quote.paragraph_format.left_indent = Pt(12)
            quote.paragraph_format.space_after = Pt(2)
            number_run = quote.add_run(f"[{source.n}] ")
            number_run.bold = True
            number_run.font.color.rgb = RGBColor(*ACCENT)
            quote.add_run(xml_safe(quoted(source))).italic = True
            attribution = document.add_paragraph()
            attribution.paragraph_format.left_indent = Pt(12)
            for index, (name, text, missing) in enumerate(source.attribution()):
                if index:
                    _grey(attribution.add_run(FIELD_SEPARATOR), Pt(9), RGBColor(*GREY))
                if name == "url" and not missing and source.link:
                    _add_hyperlink(attribution, source.link, xml_safe(text))
                    continue
                run = attribution.add_run(xml_safe(f"doc_id {text}" if name == "doc_id" else text))
                _grey(run, Pt(9), RGBColor(*GREY))
                run.italic = missing or name == "title"
    footer = document.add_paragraph()
    note = footer.add_run(
        f"Quotes are verbatim from the articles named; {ELLIPSIS} marks sentences left out. "
        "Markers [n] in an answer refer to the numbered sources below it."
    )
    _grey(note, Pt(9), RGBColor(*GREY))
    document.save(out if not isinstance(out, Path) else str(out))


def _grey(run: Any, size: Any, color: Any) -> None:
    run.font.size = size
    run.font.color.rgb = color


def _add_hyperlink(paragraph: Any, url: str, text: str) -> None:
    """A real Word hyperlink (python-docx has no API for one): w:hyperlink around a styled run."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    relationship = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), relationship)
    run = OxmlElement("w:r")
    properties = OxmlElement("w:rPr")
    for tag, attribute, value in (
        ("w:color", "w:val", "1A4F8A"),
        ("w:u", "w:val", "single"),
        ("w:sz", "w:val", "18"),
    ):
        element = OxmlElement(tag)
        element.set(qn(attribute), value)
        properties.append(element)
    run.append(properties)
    text_element = OxmlElement("w:t")
    text_element.text = text
    text_element.set(qn("xml:space"), "preserve")
    run.append(text_element)
    link.append(run)
    paragraph._p.append(link)


# ---------------------------------------------------------------------------------------------
# Writing


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


# ---------------------------------------------------------------------------------------------
# Questions files (for `rag brief FILE`). rag/evaluation/questions.py has its own loader for now; the two
# may be merged.

TEXT_QUESTION_SUFFIXES = {".txt", ".text", ""}
QUESTION_FILE_SUFFIXES = TEXT_QUESTION_SUFFIXES | {".jsonl", ".ndjson", ".json", ".csv", ".yaml", ".yml"}
MAX_QUESTIONS_FILE_BYTES = 8 * 1024 * 1024


@dataclass
class QuestionsFile:
    questions: list[str] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


def load_briefing_questions(path: Path) -> QuestionsFile:
    """Questions from a file: one a line (.txt; blank lines and `#` comments skipped), or records
    with a `question` field (JSONL, JSON, CSV, YAML; plain strings also accepted in lists).

    Bad lines are reported as problems with their line numbers (JSON: item numbers); the rest load.
    """
    result = QuestionsFile()
    name = str(path)
    try:
        if path.stat().st_size > MAX_QUESTIONS_FILE_BYTES:
            result.problems.append(LoadProblem(name, "larger than 8 MB; not read"))
            return result
        text, note = decode_text(path.read_bytes())
    except OSError as err:
        result.problems.append(LoadProblem(name, f"cannot read: {err.strerror or err}"))
        return result
    if note:
        result.problems.append(LoadProblem(name, note))
    parsed = parse_questions(text, path.suffix.lower(), name)
    result.questions, result.problems = parsed.questions, result.problems + parsed.problems
    return result


def parse_questions(text: str, suffix: str, name: str) -> QuestionsFile:
    """Questions from a file's text; `suffix` picks the format (anything unknown: one a line)."""
    result = QuestionsFile()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if suffix in RECORD_SUFFIXES:
        try:
            records = list(read_records(text, suffix, list_key="questions", csv_columns=("question",)))
        except UnreadableRecords as err:
            records = [Record(None, err.line, problem=str(err))]
    else:  # one question a line
        records = [
            Record(line, number)
            for number, line in enumerate(text.split("\n"), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    for record in records:
        if record.problem:
            result.problems.append(LoadProblem(name, f"{record.where}{record.problem}", record.line))
            continue
        question = _question_of(record.value)
        if question is None:
            result.problems.append(
                LoadProblem(name, f"{record.where}no 'question' field; skipped", record.line)
            )
            continue
        try:
            result.questions.append(check_question(question))
        except UsageError as err:
            result.problems.append(LoadProblem(name, f"{record.where}{err}; skipped", record.line))
    if not result.questions and not result.problems:
        result.problems.append(LoadProblem(name, "no questions in the file"))
    return result


def _question_of(record: Any) -> str | None:
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        for key, value in record.items():
            if str(key).strip().lower() == "question" and isinstance(value, str | int | float):
                return str(value)
    return None


def questions_from_args(args: Sequence[str], stdin: IO[str] | None = None) -> QuestionsFile:
    """`rag brief` arguments: each is a questions file when it names one (`-`: standard input),
    else a question."""
    result = QuestionsFile()
    for arg in args:
        path = Path(arg)
        if arg == "-" or path.is_file():
            if arg == "-":
                loaded = parse_questions((stdin or sys.stdin).read(), ".txt", "<stdin>")
            else:
                loaded = load_briefing_questions(path)
            result.questions += loaded.questions
            result.problems += loaded.problems
        elif path.is_dir():
            raise UsageError(f"{arg} is a folder, not a questions file.")
        elif " " not in arg.strip() and path.suffix.lower() in QUESTION_FILE_SUFFIXES - {""}:
            raise UsageError(f"No such questions file: {arg}")
        else:
            result.questions.append(check_question(arg))
    return result
