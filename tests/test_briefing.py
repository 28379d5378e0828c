"""Briefings: every quote in every format is verbatim and fully attributed; hostile text stays inert.

Each format is read back the way a reader meets it: Markdown rendered by markdown-it, HTML
parsed (and shown in a real chromium), DOCX opened with python-docx.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import docx
import pytest
from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from rag.answering.attribution import sentence_bounds
from rag.apps.cli.main import app
from rag.briefings.docx import render_docx
from rag.briefings.html import render_html
from rag.briefings.markdown import render_markdown
from rag.briefings.model import MAX_QUOTE_CHARS, Briefing, build_briefing, safe_url, trim_quote
from rag.briefings.output import format_for
from rag.briefings.questions import load_briefing_questions, parse_questions, questions_from_args
from rag.errors import UsageError
from rag.ingest.loaders import load_corpus
from rag.markdown import md_escape
from rag.service import RagService
from rag.types import Answer, Article, Citation, LlmInfo

from .conftest import GANJA_QUESTION, ROOT, SEEDS, WORLD_CUP_QUESTION

ARTIFACTS = ROOT / "test-artifacts"
BAYRAMOV_QUESTION = "Who did Bayramov speak with on the phone?"
THREE_QUESTIONS = [GANJA_QUESTION, BAYRAMOV_QUESTION, WORLD_CUP_QUESTION]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WHEN = date(2026, 3, 9)

HOSTILE = {
    "doc_id": "hostile-1",
    "title": "Port Elin harbour <img src=x onerror=\"window.pwned='title'\"> closed",
    "source": "Evil <b>Times</b>",
    "author": "[Mallory](javascript:window.pwned='author')",
    "published": "2022-03-01",
    "url": "javascript:window.pwned='url'",
    "text": (
        "The harbour of Port Elin was closed on Friday after a storm "
        "<script>window.pwned='script'</script> wrecked the main pier. "
        "Harbour officials said <img src=x onerror=\"window.pwned='img'\"> repairs of the pier "
        "would take six weeks. "
        "Fishermen of Port Elin can read the notice [here](javascript:window.pwned='link') "
        "or at <javascript:window.pwned='auto'> & in the *town hall* &amp; the __library__."
    ),
}
HOSTILE_QUESTIONS = [
    "Why was the harbour of Port Elin closed on Friday?",
    "How long will repairs of the pier in Port Elin harbour take?",
    "Where can fishermen of Port Elin read the notice?",
]


# ---------------------------------------------------------------------------------------------
# Reading a rendered briefing back


@dataclass
class ReadSource:
    n: int
    quoted: str  # as shown, with quotation marks (and ellipses)
    attribution: str


@dataclass
class ReadSection:
    question: str
    body: str  # the answer, or the refusal line
    sources: list[ReadSource] = field(default_factory=list)


def read_source_line(text: str, attribution: str) -> ReadSource:
    match = re.fullmatch(r"\[(\d+)\]\s+(“.*”)", text.strip(), re.DOTALL)
    assert match, f"not a numbered quote: {text!r}"
    return ReadSource(int(match[1]), match[2], attribution.strip())


def read_markdown(markdown: str) -> list[ReadSection]:
    """Render as a Markdown reader would (raw HTML allowed, links made), then read the text."""
    rendered = MarkdownIt("commonmark", {"html": True, "linkify": False}).render(markdown)
    soup = BeautifulSoup(rendered, "html.parser")
    sections: list[ReadSection] = []
    for heading in soup.find_all("h2"):
        question = re.sub(r"^\d+\.\s+", "", heading.get_text())
        section = ReadSection(question, "")
        for sibling in heading.find_next_siblings():
            if sibling.name in ("h2", "hr"):
                break
            text = sibling.get_text()
            if re.match(r"\[\d+\] “", text):
                quote_line, attribution = text.split("\n", 1)
                section.sources.append(read_source_line(quote_line, attribution))
            elif text != "Sources" and not section.body:
                section.body = text
        sections.append(section)
    return sections


def read_html(page: str) -> list[ReadSection]:
    soup = BeautifulSoup(page, "html.parser")
    sections = []
    for element in soup.select(".bf-section"):
        question = element.select_one(".bf-question")
        body = element.select_one(".bf-answer, .bf-refused, .bf-error")
        assert question is not None and body is not None
        section = ReadSection(question.get_text(), body.get_text())
        for source in element.select(".bf-source"):
            quote, attribution = source.select_one("blockquote"), source.select_one(".bf-attribution")
            assert quote is not None and attribution is not None
            section.sources.append(read_source_line(quote.get_text(), attribution.get_text()))
        sections.append(section)
    return sections


def read_docx(path: Path) -> list[ReadSection]:
    document = docx.Document(str(path))
    sections: list[ReadSection] = []
    paragraphs = list(document.paragraphs)
    for index, paragraph in enumerate(paragraphs):
        style = paragraph.style.name if paragraph.style is not None else ""
        if style == "Heading 1":
            sections.append(ReadSection(re.sub(r"^\d+\.\s+", "", paragraph.text), ""))
        elif not sections or style.startswith("Heading"):
            continue
        elif re.match(r"\[\d+\] “", paragraph.text):
            sections[-1].sources.append(read_source_line(paragraph.text, paragraphs[index + 1].text))
        elif not sections[-1].body:
            sections[-1].body = paragraph.text
    return sections


def docx_text(path: Path) -> str:
    return "\n".join(paragraph.text for paragraph in docx.Document(str(path)).paragraphs)


# ---------------------------------------------------------------------------------------------
# What a reader checks


def expected_attribution(article: Article) -> str:
    """Outlet, author, date, title, URL, doc_id; a missing field says so."""
    fields = [
        (article.source, "outlet not given"),
        (article.author, "author not given"),
        (article.published, "date not given"),
        (article.title, "untitled"),
        (article.url, "no URL"),
    ]
    return " · ".join([*(" ".join(value.split()) or missing for value, missing in fields),
                       f"doc_id {article.doc_id}"])  # fmt: skip


def unquote(quoted: str) -> tuple[str, bool, bool]:
    """(verbatim text, cut before, cut after) from “… text …”."""
    assert quoted.startswith("“") and quoted.endswith("”"), quoted
    inner = quoted[1:-1]
    before, after = inner.startswith("… "), inner.endswith(" …")
    return inner[2 if before else 0 : len(inner) - (2 if after else 0)], before, after


def check_sections(
    sections: Sequence[ReadSection], answers: Sequence[Answer], articles: dict[str, Article], fmt: str
) -> int:
    """Every quote verbatim (whole sentences; an ellipsis exactly where cut), every attribution
    the article's metadata; refusals with no sources. Returns the number of quotes checked."""
    assert [section.question for section in sections] == [answer.question for answer in answers], fmt
    checked = 0
    for section, answer in zip(sections, answers, strict=True):
        if answer.refused:
            assert section.body.startswith("Not answered."), (fmt, section.body)
            assert section.sources == [], fmt
            continue
        assert section.body == " ".join(answer.answer.split()), fmt
        assert [source.n for source in section.sources] == [citation.n for citation in answer.citations]
        for source, citation in zip(section.sources, answer.citations, strict=True):
            article = articles[citation.doc_id]
            quote, cut_before, cut_after = unquote(source.quoted)
            at = article.text.find(quote, max(0, citation.start - 1))
            assert at == citation.start, f"{fmt}: quote is not verbatim from {citation.doc_id}: {quote!r}"
            starts = {start for start, _ in sentence_bounds(article.text)}
            ends = {end for _, end in sentence_bounds(article.text)}
            assert at in starts and at + len(quote) in ends, f"{fmt}: not whole sentences: {quote!r}"
            assert cut_before == (at > citation.start), fmt
            assert cut_after == (at + len(quote) < citation.end), fmt
            assert source.attribution == expected_attribution(article), fmt
            checked += 1
    return checked


def render_all(briefing: Briefing, folder: Path, stem: str) -> dict[str, list[ReadSection]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.md").write_text(render_markdown(briefing), encoding="utf-8")
    (folder / f"{stem}.html").write_text(render_html(briefing), encoding="utf-8")
    render_docx(briefing, folder / f"{stem}.docx")
    return {
        "md": read_markdown(render_markdown(briefing)),
        "html": read_html(render_html(briefing)),
        "docx": read_docx(folder / f"{stem}.docx"),
    }


def screenshot(html_file: Path, png: Path) -> dict[str, object]:
    """Open the HTML in a real chromium; report scripts, dialogs and the hostile flag."""
    from playwright.sync_api import Dialog, sync_playwright

    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.on("dialog", on_dialog)
            page.goto(html_file.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)  # an onerror handler would have run by now
            state = page.evaluate(
                """() => ({
                    pwned: window.pwned === undefined ? null : String(window.pwned),
                    scripts: document.scripts.length,
                    images: document.images.length,
                    handlers: [...document.querySelectorAll('*')].filter(
                        e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
                    hrefs: [...document.querySelectorAll('a[href]')].map(a => a.href),
                })"""
            )
            png.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    return {**state, "dialogs": dialogs}


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def seed_articles() -> dict[str, Article]:
    return {article.doc_id: article for article in load_corpus([SEEDS]).articles}


@pytest.fixture(scope="module")
def extractive_answers(seeded_service: RagService) -> list[Answer]:
    answerer = seeded_service.answerer(backend="extractive")
    return [answerer.ask(question) for question in THREE_QUESTIONS]


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    records = [
        HOSTILE,
        json.loads((Path(__file__).parent / "data/articles/records.jsonl").read_text().split("\n")[0]),
    ]
    (folder / "records.jsonl").write_text("\n".join(json.dumps(record) for record in records) + "\n")
    return folder


@pytest.fixture(scope="module")
def hostile_answers(seeded_service: RagService, hostile_folder: Path) -> list[Answer]:
    """Answers quoting an article full of markup and script URLs, through the real pipeline."""
    seeded_service.index([hostile_folder], collection="hostile", show_progress=False)
    answerer = seeded_service.answerer(collection="hostile", backend="extractive")
    return [
        answerer.ask(question) for question in [*HOSTILE_QUESTIONS, "How much did the Danube bridge cost?"]
    ]


@pytest.fixture(scope="module")
def hostile_articles(hostile_folder: Path) -> dict[str, Article]:
    return {article.doc_id: article for article in load_corpus([hostile_folder]).articles}


# ---------------------------------------------------------------------------------------------
# The seed article, extractive answers: every format


def test_every_format_quotes_verbatim_with_full_attribution(
    extractive_answers: list[Answer], seed_articles: dict[str, Article]
) -> None:
    assert [answer.refused for answer in extractive_answers] == [False, False, True]
    briefing = build_briefing(extractive_answers, collection="seeds", title="Ganja, 11 October", when=WHEN)
    read = render_all(briefing, ARTIFACTS / "briefing", "extractive")
    counts = {
        fmt: check_sections(sections, extractive_answers, seed_articles, fmt)
        for fmt, sections in read.items()
    }
    assert counts == {"md": 2, "html": 2, "docx": 2}
    # The seed has no date or URL: the attribution says so rather than leaving a gap.
    assert (
        read["html"][0]
        .sources[0]
        .attribution.startswith("Azernews · Ayya Lmahamad · date not given · Azerbaijani Armed force")
    )
    assert "killing ten civilians" in read["docx"][0].sources[0].quoted


def test_header_has_title_date_collection_and_model(extractive_answers: list[Answer], tmp_path: Path) -> None:
    briefing = build_briefing(extractive_answers, collection="seeds", title="Ganja, 11 October", when=WHEN)
    assert briefing.model == "extractive: none (quoted sentences)"
    markdown = render_markdown(briefing)
    assert markdown.startswith("# Ganja, 11 October\n")
    for line in (
        "**Date:** 9 March 2026",
        "**Collection:** seeds",
        "**Model:** extractive: none (quoted sentences)",
    ):
        assert line in markdown
    soup = BeautifulSoup(render_html(briefing), "html.parser")
    assert soup.title is not None and soup.title.get_text() == "Ganja, 11 October"
    assert [cell.get_text() for cell in soup.select(".bf-date, .bf-collection, .bf-model")] == [
        "9 March 2026", "seeds", "extractive: none (quoted sentences)",
    ]  # fmt: skip
    render_docx(briefing, tmp_path / "b.docx")
    document = docx.Document(str(tmp_path / "b.docx"))
    title = document.paragraphs[0]
    assert title.text == "Ganja, 11 October" and title.style is not None and title.style.name == "Title"
    assert document.paragraphs[1].text.split("\n") == [
        "Date: 9 March 2026", "Collection: seeds", "Model: extractive: none (quoted sentences)",
    ]  # fmt: skip
    assert document.core_properties.title == "Ganja, 11 October"


def test_refusal_says_so_with_no_sources(extractive_answers: list[Answer]) -> None:
    briefing = build_briefing(extractive_answers[2:], collection="seeds")
    assert briefing.sections[0].status == "refused" and briefing.sections[0].sources == ()
    markdown = render_markdown(briefing)
    assert "*Not answered.* The indexed articles do not answer this question." in markdown
    assert "Sources" not in markdown and "“" not in markdown


def test_pieces_for_the_web_chat(extractive_answers: list[Answer], tmp_path: Path) -> None:
    one = build_briefing(extractive_answers[:1], collection="seeds")
    snippet = render_markdown(one, header=False)
    assert snippet.startswith(f"**Q:** {GANJA_QUESTION}\n") and "# " not in snippet
    assert "killing ten civilians" in snippet and "doc_id `000_fdd942f0bee30b84.txt`" in snippet
    fragment = render_html(one, fragment=True)
    assert fragment.startswith('<div class="bf-briefing"') and "<html" not in fragment
    stream = io.BytesIO()
    render_docx(one, stream)
    assert docx.Document(io.BytesIO(stream.getvalue())).paragraphs[0].text == "News briefing"


def test_an_answer_that_failed_says_why(extractive_answers: list[Answer]) -> None:
    failed = Answer(
        GANJA_QUESTION, "", False, [], [], LlmInfo("local", "m"), error="The model did not answer."
    )
    briefing = build_briefing([failed], collection="seeds")
    assert "*No answer could be produced:* The model did not answer." in render_markdown(briefing)
    assert 'class="bf-error"' in render_html(briefing)
    # Cut off after a sentence: that sentence and its source stay, with a note that more may be missing.
    cut = extractive_answers[0]
    partial = Answer(cut.question, cut.answer, False, cut.citations, [], cut.llm, error="Timed out.")
    section = build_briefing([partial], collection="seeds").sections[0]
    assert section.status == "answered" and len(section.sources) == len(cut.citations)
    assert section.note == "The answer may be incomplete: Timed out."
    assert "*The answer may be incomplete: Timed out.*" in render_markdown(
        build_briefing([partial], collection="s")
    )


# ---------------------------------------------------------------------------------------------
# Long quotes are shortened at sentence boundaries only


def test_long_quote_is_cut_at_a_sentence_boundary_with_an_ellipsis(
    seed_articles: dict[str, Article], tmp_path: Path
) -> None:
    (article,) = seed_articles.values()
    paragraph = next(p for p in article.text.split("\n\n") if p.startswith("Bayramov briefed Lavrov"))
    start = article.text.index(paragraph)
    sentences = sentence_bounds(paragraph)
    assert len(sentences) == 3
    citation = Citation(
        1, article.doc_id, article.title, article.source, article.author, article.published, article.url,
        paragraph, start, start + len(paragraph), 0.9,
    )  # fmt: skip
    answer = Answer(
        BAYRAMOV_QUESTION, "Bayramov briefed Lavrov [1].", False, [citation], [], LlmInfo("x", "y")
    )
    limit = sentences[1][1] + 5  # room for two sentences, not three
    briefing = build_briefing([answer], collection="seeds", max_quote_chars=limit)
    (source,) = briefing.sections[0].sources
    assert source.quote == paragraph[: sentences[1][1]] and source.cut_after and not source.cut_before
    assert article.text[source.start : source.end] == source.quote
    read = render_all(briefing, tmp_path, "long")
    for fmt, sections in read.items():
        assert sections[0].sources[0].quoted.endswith(" …”"), fmt
        assert check_sections(sections, [answer], seed_articles, fmt) == 1
    # Even a limit shorter than one sentence keeps that whole sentence: never a cut inside one.
    assert trim_quote(paragraph, 10)[:2] == sentences[0]
    assert trim_quote(paragraph)[:2] == (0, len(paragraph)) and len(paragraph) < MAX_QUOTE_CHARS


def test_a_quote_never_runs_across_a_line_break() -> None:
    text = "First sentence here. Second one.\nNext paragraph starts."
    start, end, before, after = trim_quote(text, 1000)
    assert text[start:end] == "First sentence here. Second one." and after and not before


# ---------------------------------------------------------------------------------------------
# Article text is written by strangers


def test_hostile_article_is_quoted_verbatim_in_every_format(
    hostile_answers: list[Answer], hostile_articles: dict[str, Article]
) -> None:
    answered = [answer for answer in hostile_answers if not answer.refused]
    assert len(answered) == len(hostile_answers), [a.question for a in hostile_answers if a.refused]
    quotes = " ".join(citation.quote for answer in answered for citation in answer.citations)
    for payload in ("<script>", "<img src=x onerror=", "](javascript:", "<javascript:"):
        assert payload in quotes, f"the test should quote the payload {payload!r}"
    briefing = build_briefing(hostile_answers, collection="hostile", title="<script>alert(1)</script>")
    read = render_all(briefing, ARTIFACTS / "briefing", "hostile")
    for fmt, sections in read.items():
        assert check_sections(sections, hostile_answers, hostile_articles, fmt) >= 4, fmt


def test_hostile_html_is_inert(hostile_answers: list[Answer]) -> None:
    briefing = build_briefing(hostile_answers, collection="hostile", title="<script>alert(1)</script>")
    page = render_html(briefing)
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find_all(["script", "img", "iframe", "object", "embed", "form"]) == []
    assert not [tag for tag in soup.find_all(True) if any(name.startswith("on") for name in tag.attrs)]
    hrefs = [str(a["href"]) for a in soup.find_all("a")]
    assert hrefs == ["https://example.org/danube-bridge"]
    assert "Content-Security-Policy" in page
    # The markup is shown as text, exactly.
    assert "<script>window.pwned='script'</script>" in soup.get_text()
    assert "javascript:window.pwned='url'" in soup.get_text()  # shown, not linked


def test_hostile_markdown_renders_no_markup_and_no_script_links(hostile_answers: list[Answer]) -> None:
    markdown = render_markdown(build_briefing(hostile_answers, collection="hostile"))
    for renderer in (
        MarkdownIt("commonmark", {"html": True}),
        MarkdownIt("gfm-like", {"html": True, "linkify": False}),
    ):
        soup = BeautifulSoup(renderer.render(markdown), "html.parser")
        assert soup.find_all(["script", "img", "b"]) == []
        assert [str(a["href"]) for a in soup.find_all("a")] == ["https://example.org/danube-bridge"]
        assert "<script>window.pwned='script'</script>" in soup.get_text()
        assert "*town hall*" in soup.get_text() and soup.find_all("em") != []  # titles only


def test_hostile_docx_links_only_http(hostile_answers: list[Answer], tmp_path: Path) -> None:
    render_docx(build_briefing(hostile_answers, collection="hostile"), tmp_path / "h.docx")
    document = docx.Document(str(tmp_path / "h.docx"))
    targets = [rel.target_ref for rel in document.part.rels.values() if rel.reltype.endswith("/hyperlink")]
    assert targets == ["https://example.org/danube-bridge"]
    assert "<script>window.pwned='script'</script>" in docx_text(tmp_path / "h.docx")


@pytest.mark.browser
def test_hostile_html_in_a_real_browser_runs_nothing(hostile_answers: list[Answer]) -> None:
    briefing = build_briefing(hostile_answers, collection="hostile", title="<script>alert(1)</script>")
    folder = ARTIFACTS / "briefing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hostile.html").write_text(render_html(briefing), encoding="utf-8")
    state = screenshot(folder / "hostile.html", folder / "hostile.png")
    assert state == {
        "pwned": None, "scripts": 0, "images": 0, "handlers": 0, "dialogs": [],
        "hrefs": ["https://example.org/danube-bridge"],
    }  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "Q4_K_M and snake_case_ and __init__ and _em_ and a__b",
        "*stars* **bold** `code` ``two`` ~~gone~~ | a | b |",
        "[link](https://x.org) ![img](x.png) [ref][1] <https://x.org> <b>tag</b> <!-- c -->",
        "&amp; &#60; &copy; & AT&T 5 > 3 < 4 \\ back\\slash \\*",
        "[1] a marker-like [2](javascript:x) thing",
    ],
)
def test_markdown_escaping_renders_back_the_exact_text(text: str) -> None:
    for preset in ("commonmark", "gfm-like"):
        rendered = MarkdownIt(preset, {"html": True, "linkify": False}).render(md_escape(text))
        soup = BeautifulSoup(rendered, "html.parser")
        assert soup.get_text().strip() == text, preset
        assert soup.find_all(["a", "img", "b", "em", "strong", "code", "s", "table"]) == []


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a?b=1&c=2", True),
        ("HTTP://EXAMPLE.ORG/", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ('https://example.org/"onmouseover=alert(1)', False),
        ("//example.org/x", False),
        ("https:///nohost", False),
        ("", False),
    ],
)
def test_only_http_urls_become_links(url: str, safe: bool) -> None:
    assert (safe_url(url) is not None) == safe


# ---------------------------------------------------------------------------------------------
# Questions files


def test_questions_files_in_every_format_report_bad_lines(tmp_path: Path) -> None:
    files = {
        "q.txt": f"# seed questions\n{GANJA_QUESTION}\n\n   \n{BAYRAMOV_QUESTION}\n???\n",
        "q.jsonl": f'{{"question": "{GANJA_QUESTION}"}}\n{{"q": 1}}\nnot json\n"{BAYRAMOV_QUESTION}"\n',
        "q.json": json.dumps({"questions": [GANJA_QUESTION, {"question": BAYRAMOV_QUESTION}, {"x": 1}]}),
        "q.csv": f'id,question\n1,"{GANJA_QUESTION}"\n2,\n3,{BAYRAMOV_QUESTION}\n',
        "q.yaml": f"questions:\n  - {GANJA_QUESTION}\n  - answer: nope\n  - question: {BAYRAMOV_QUESTION}\n",
    }
    expected_problems: dict[str, list[tuple[int | None, str]]] = {
        "q.txt": [(6, "The question has no words")],
        "q.jsonl": [(2, "no 'question' field"), (3, "invalid JSON line")],
        "q.json": [(1, "item 3: no 'question' field")],
        "q.csv": [(3, "The question is empty")],
        "q.yaml": [(3, "no 'question' field")],
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        loaded = load_briefing_questions(tmp_path / name)
        assert loaded.questions == [GANJA_QUESTION, BAYRAMOV_QUESTION], name
        problems = [(problem.line, problem.message) for problem in loaded.problems]
        assert len(problems) == len(expected_problems[name]), (name, problems)
        for (line, message), (want_line, want) in zip(problems, expected_problems[name], strict=True):
            assert line == want_line and message.startswith(want), (name, line, message)


def test_broken_questions_files(tmp_path: Path) -> None:
    assert parse_questions("{not json", ".json", "b.json").problems[0].message.startswith("invalid JSON")
    assert parse_questions("a: [1", ".yaml", "b.yaml").problems[0].message.startswith("invalid YAML")
    assert (
        str(parse_questions("x,y\n1,2\n", ".csv", "b.csv").problems[0])
        == "b.csv:1: CSV has no 'question' column"
    )
    assert (
        str(parse_questions("\n# only a comment\n", ".txt", "e.txt").problems[0])
        == "e.txt: no questions in the file"
    )


def test_arguments_are_questions_or_files(tmp_path: Path) -> None:
    (tmp_path / "q.txt").write_text(f"{GANJA_QUESTION}\n", encoding="utf-8")
    loaded = questions_from_args([BAYRAMOV_QUESTION, str(tmp_path / "q.txt")])
    assert loaded.questions == [BAYRAMOV_QUESTION, GANJA_QUESTION]
    assert questions_from_args(["-"], stdin=io.StringIO("a question?\n\n")).questions == ["a question?"]
    with pytest.raises(UsageError, match="No such questions file"):
        questions_from_args([str(tmp_path / "missing.jsonl")])
    with pytest.raises(UsageError, match="is a folder"):
        questions_from_args([str(tmp_path)])
    assert format_for(Path("x.docx"), None) == "docx" and format_for(None, None) == "md"
    assert format_for(Path("x.docx"), "html") == "html"


# ---------------------------------------------------------------------------------------------
# The command line


def run_brief(args: list[str], index_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAG_INDEX_DIR": str(index_dir)}
    environment.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "rag.apps.cli.main", "brief", *args],
        capture_output=True, text=True, env=environment, timeout=300, check=False, cwd=cwd,
    )  # fmt: skip


def test_cli_brief_writes_each_format(
    seeded_service: RagService, seed_articles: dict[str, Article], tmp_path: Path
) -> None:
    index_dir = seeded_service.settings.index_dir
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join([*THREE_QUESTIONS, "!!!"]) + "\n", encoding="utf-8")
    answers = [seeded_service.answerer(backend="extractive").ask(q) for q in THREE_QUESTIONS]

    result = run_brief(
        [str(questions), "--llm", "extractive", "--out", "b.docx", "--title", "Ganja"], index_dir, tmp_path
    )
    assert result.returncode == 1, result.stderr  # partial: one bad line, the rest briefed
    assert f"warning: {questions}:4: The question has no words" in result.stderr
    assert "[3/3] refused" in result.stderr and "wrote b.docx (docx, 3 question(s))" in result.stderr
    assert check_sections(read_docx(tmp_path / "b.docx"), answers, seed_articles, "cli docx") == 2
    assert docx.Document(str(tmp_path / "b.docx")).paragraphs[0].text == "Ganja"

    # The other formats in this process (the same CLI, without another interpreter's start-up).
    runner, env = CliRunner(), {"RAG_INDEX_DIR": str(index_dir), "OPENAI_API_KEY": None}
    markdown = runner.invoke(app, ["brief", GANJA_QUESTION, "--llm", "extractive"], env=env)
    assert markdown.exit_code == 0, markdown.output
    assert markdown.stdout.startswith("# News briefing\n") and "**Collection:** seeds" in markdown.stdout
    assert check_sections(read_markdown(markdown.stdout), answers[:1], seed_articles, "cli md") == 1

    page_file = tmp_path / "b.out"
    html = runner.invoke(
        app, ["brief", *THREE_QUESTIONS, "--llm", "extractive", "-f", "html", "-o", str(page_file)], env=env
    )
    assert html.exit_code == 0, html.output
    page = page_file.read_text(encoding="utf-8")
    assert check_sections(read_html(page), answers, seed_articles, "cli html") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a question?", "--format", "docx"], "--format docx writes a file: add --out briefing.docx"),
        (["qs.jsonl"], "No such questions file: qs.jsonl"),
        (["   "], "The question is empty"),
        (["a?", "--format", "pdf"], "Invalid value for '--format'"),
        (
            ["a?", "--out", "no/such/dir/b.md"],
            "cannot write no/such/dir/b.md: there is no folder no/such/dir",
        ),
    ],
)
def test_cli_brief_errors_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_brief(args, tmp_path / "index", tmp_path)  # each fails before the index is opened
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# The real local model: three questions over the seed, every format, rendered and looked at


@pytest.mark.llm
@pytest.mark.browser
def test_local_model_briefing_of_three_questions(
    seeded_service: RagService, seed_articles: dict[str, Article]
) -> None:
    answerer = seeded_service.answerer(backend="local")
    answers = [answerer.ask(question) for question in THREE_QUESTIONS]
    assert [answer.error for answer in answers] == [None, None, None]
    assert [answer.refused for answer in answers] == [False, False, True]
    assert "Qwen2.5" in answers[0].llm.model
    assert "ten" in answers[0].answer.lower() or "10" in answers[0].answer
    assert "lavrov" in answers[1].answer.lower()

    briefing = build_briefing(answers, collection="seeds", title="Ganja and the Lavrov call")
    folder = ARTIFACTS / "briefing"
    read = render_all(briefing, folder, "local")
    for fmt, sections in read.items():
        assert check_sections(sections, answers, seed_articles, fmt) >= 2, fmt
    (folder / "local-docx.txt").write_text(docx_text(folder / "local.docx"), encoding="utf-8")
    state = screenshot(folder / "local.html", folder / "local.png")
    assert state["scripts"] == 0 and state["dialogs"] == [] and state["pwned"] is None
    assert (folder / "local.png").stat().st_size > 10_000
