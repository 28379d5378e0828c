"""A briefing as a Word document (python-docx), for filing.

The same parts as the other renderers: a title heading and header lines, a heading per question,
the answer, then each source's numbered quote and its grey attribution line with the URL as a
real hyperlink. Text is written as text (python-docx escapes it); characters XML cannot hold are
replaced, since python-docx refuses them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Any

from rag.briefings.model import (
    ELLIPSIS,
    FIELD_SEPARATOR,
    NO_ANSWER,
    NOT_ANSWERED,
    Briefing,
    header_fields,
    quoted,
)

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
