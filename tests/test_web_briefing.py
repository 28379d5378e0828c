"""Briefings from the web chat: "Copy as briefing" on an answer, "Download briefing" (Markdown and
Word) for the conversation, in a real chromium; every quote checked against its article."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest
from playwright.sync_api import Browser

from rag.briefings.model import MISSING
from rag.ingest.loaders import load_corpus
from rag.service import RagService

from .conftest import GANJA_QUESTION, SEEDS, WORLD_CUP_QUESTION, make_settings
from .webapp import ARTIFACTS, ChatPage, serving

SECOND_QUESTION = "Who is Hikmat Hajiyev?"


@pytest.fixture(scope="module")
def briefing_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = RagService(make_settings(tmp_path_factory.mktemp("web-briefing"), llm="extractive"))
    with serving(service) as url:  # indexes seeds/ first, as `make chat` does
        yield url


def seed_article() -> tuple[str, dict[str, str]]:
    article = load_corpus([SEEDS]).articles[0]
    fields = {
        "outlet": article.source,
        "author": article.author,
        "published": article.published,
        "title": article.title,
        "url": article.url,
        "doc_id": article.doc_id,
    }
    return article.text, fields


def assert_quotes_verbatim(text: str, quotes: list[str], article_text: str) -> None:
    assert quotes, text
    for quote in quotes:
        inner = quote.removeprefix("… ").removesuffix(" …")
        assert inner in article_text, inner


def markdown_quotes(markdown: str) -> list[str]:
    """The quotes of a Markdown briefing, unescaped (it backslash-escapes Markdown's characters)."""
    found = re.findall(r"\*\*\[\d+\]\*\* “(.+?)”  $", markdown, re.M)
    return [re.sub(r"\\(.)", r"\1", quote) for quote in found]


@pytest.mark.browser
def test_copy_an_answer_and_download_the_conversation(browser: Browser, briefing_url: str) -> None:
    article_text, fields = seed_article()
    context = browser.new_context(
        permissions=["clipboard-read", "clipboard-write"],
        accept_downloads=True,
        viewport={"width": 1280, "height": 1000},
    )
    chat = ChatPage(context.new_page(), briefing_url)
    assert chat.page.locator("#download-md").is_disabled()  # nothing to download before an answer

    chat.ask(GANJA_QUESTION)
    chat.wait_for_answer(1)
    chat.page.click("#sources button.copy-briefing")
    chat.page.wait_for_function(
        "document.querySelector('#sources button.copy-briefing').innerText.includes('Copied')"
    )
    copied = str(chat.page.evaluate("navigator.clipboard.readText()"))
    assert copied.startswith(f"**Q:** {GANJA_QUESTION}"), copied
    assert "[1]" in copied and "**Sources**" in copied
    assert_quotes_verbatim(copied, markdown_quotes(copied), article_text)
    assert "killing ten civilians" in copied
    for name, value in fields.items():  # the article's metadata, or a note that it is missing
        shown = (value if name != "title" else value.split()[0]) if value else MISSING[name]
        assert shown in copied, name
    chat.screenshot("web-briefing-copy")

    chat.ask(SECOND_QUESTION)
    chat.wait_for_answer(2)
    chat.ask(WORLD_CUP_QUESTION)
    chat.wait_for_answer(3)
    chat.page.wait_for_function("!document.querySelector('#download-md').disabled")

    with chat.page.expect_download() as markdown_download:
        chat.page.click("#download-md")
    assert re.fullmatch(r"briefing-\d{4}-\d{2}-\d{2}\.md", markdown_download.value.suggested_filename)
    markdown = Path(markdown_download.value.path()).read_text(encoding="utf-8")
    (ARTIFACTS / "briefing").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "briefing" / "web-conversation.md").write_text(markdown, encoding="utf-8")
    assert markdown.startswith("# News briefing")
    assert "**Collection:** seeds" in markdown and "**Model:** extractive" in markdown
    headings = re.findall(r"^## (\d)\. (.+)$", markdown, re.M)
    assert [question for _, question in headings] == [GANJA_QUESTION, SECOND_QUESTION, WORLD_CUP_QUESTION]
    answered, refused = markdown.split("## 2.")[1].split("## 3.")
    assert "**Sources**" in answered
    assert "*Not answered.*" in refused and "**Sources**" not in refused
    assert_quotes_verbatim(markdown, markdown_quotes(markdown), article_text)
    assert f"doc_id `{fields['doc_id']}`" in markdown

    with chat.page.expect_download() as word_download:
        chat.page.click("#download-docx")
    assert word_download.value.suggested_filename.endswith(".docx")
    saved = ARTIFACTS / "briefing" / "web-conversation.docx"
    word_download.value.save_as(saved)
    document = docx.Document(str(saved))
    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    body = "\n".join(paragraphs)
    assert GANJA_QUESTION in body and WORLD_CUP_QUESTION in body and SECOND_QUESTION in body
    quotes = [match for text in paragraphs for match in re.findall(r"^\[\d+\]\s*“(.+)”$", text)]
    assert_quotes_verbatim(body, quotes, article_text)
    for name, value in fields.items():
        assert value in body or MISSING.get(name, "") in body, name

    chat.screenshot("web-briefing-downloads")
    chat.new_conversation()  # a new conversation has nothing to download
    chat.page.wait_for_function("document.querySelector('#download-md').disabled")
    context.close()
