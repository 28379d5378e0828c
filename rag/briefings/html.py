"""A briefing as HTML, for mail: one self-contained page with inline styles and no scripts.

Every piece of text is HTML-escaped, links go only to http(s) URLs, and a Content-Security-Policy
forbids scripts, images and forms, so a hostile article cannot reach the reader's mail client.
`fragment=True` gives the styled block alone (for the clipboard or to embed in a page). The
`bf-*` class names are for readers and tests that pick the parts out again.
"""

from __future__ import annotations

import html
import re

from rag.briefings.model import (
    ELLIPSIS,
    FIELD_SEPARATOR,
    NO_ANSWER,
    NOT_ANSWERED,
    Briefing,
    Section,
    Source,
    header_fields,
)

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
