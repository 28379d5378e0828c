"""Feeds and article URLs (issue #16), against a real news site on 127.0.0.1 (tests/newssite.py),
the real embedding model and a real embedded Chroma in a temporary folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.apps.web.articles import add_files, add_url
from rag.errors import UsageError
from rag.ingest import fetch as fetch_module
from rag.ingest.feeds import book_path
from rag.ingest.fetch import FetchPolicy, extract_article, fetch
from rag.service import RagService
from rag.store.chroma import stored_articles

from .conftest import DATA, ctrl_c_as_in_a_terminal, make_settings
from .newssite import CAFE, LIGHTHOUSE, MARKET, NewsSite, item, news_site
from .webapp import ChatPage, serving

FAST = {"llm": "extractive", "fetch_timeout": 1.5, "fetch_max_bytes": 100_000}
LIGHTHOUSE_FACT = "Engineers replaced 112 cracked granite blocks in the tower"


@pytest.fixture(scope="module")
def server() -> Iterator[NewsSite]:
    with news_site() as site:
        yield site


@pytest.fixture()
def site(server: NewsSite) -> NewsSite:
    server.reset()
    return server


def policy(**changes: object) -> FetchPolicy:
    base = {"timeout": 1.5, "max_bytes": 100_000, "max_redirects": 5, "user_agent": "rag-news-test"}
    return FetchPolicy(**{**base, "allow_private": True, **changes})  # type: ignore[arg-type]


def texts_of(service: RagService, doc_id: str) -> list[str]:
    found = service.collection().get(where={"doc_id": doc_id}, include=["documents"])
    return list(found["documents"] or [])


# --- extraction, without the index ---------------------------------------------------------------


def test_the_article_is_extracted_without_nav_ads_or_comments(site: NewsSite) -> None:
    page = fetch(site.url(LIGHTHOUSE), policy())
    article, notes = extract_article(page)
    assert article is not None and notes == []
    assert LIGHTHOUSE_FACT in article.text
    assert "schooner Marigold, lost with nine crew in 1887" in article.text
    assert '"The answer is this weekend."' in article.text
    for outside in ("SeaDog77", "potholes", "ADVERTISEMENT", "Most read", "Subscribe", "Cookie settings"):
        assert outside not in article.text, outside
    assert article.title == "Storm-hit Brannock lighthouse to reopen after two-year repair"
    assert (article.author, article.source, article.published) == (
        "Mara Okonkwo",
        "The Coastline Courier",
        "2022-10-14",
    )
    assert article.doc_id == article.url == site.url(LIGHTHOUSE)  # the canonical URL
    assert site.seen(LIGHTHOUSE)[0].headers["User-Agent"] == "rag-news-test"


def test_a_windows_1252_page_is_read_by_its_declared_charset(site: NewsSite) -> None:
    article, notes = extract_article(fetch(site.url(CAFE), policy()))
    assert article is not None
    assert "prize money of 2,000 € would pay" in article.text and "“tarte fine aux pommes”" in article.text
    assert "before dawn – the queue" in article.text
    assert (article.title, article.author) == ("Café Dupré wins the regional pastry prize", "Léa Fontaine")
    # Its canonical URL differs from the one fetched: the canonical one is the doc_id.
    assert article.doc_id == site.url("/2022/10/16/cafe-dupre-pastry-prize")
    assert [note.message for note in notes] == ["not UTF-8; read as windows-1252 (the declared charset)"]


# --- feeds: refresh, edits, conditional GET -----------------------------------------------------------


def test_refresh_is_incremental_conditional_and_replaces_an_edited_page(
    tmp_path: Path, site: NewsSite
) -> None:
    service = RagService(make_settings(tmp_path, **FAST))
    first = service.add_feed(site.url("/feed.xml"), show_progress=False)
    assert (first.index.added, first.index.updated, first.index.problems) == (2, 0, [])
    assert first.index.chunks_embedded == first.index.chunks_total > 2
    assert book_path(service.settings.index_dir, "seeds").exists()

    # A question about a fetched article is answered from it, its URL in the citation.
    answer = service.answerer().ask(
        "How many cracked granite blocks were replaced in the Brannock lighthouse?"
    )
    assert not answer.refused and answer.citations
    assert answer.citations[0].url == site.url(LIGHTHOUSE)
    assert "112 cracked granite blocks" in answer.citations[0].quote
    assert answer.citations[0].source == "The Coastline Courier"

    # Nothing changed: one conditional GET of the feed, answered 304; nothing else fetched or embedded.
    site.requests.clear()
    second = service.refresh_feeds(show_progress=False)
    assert (second.feeds, second.feeds_not_modified) == (1, 1)
    assert second.index.chunks_embedded == 0 and second.index.added == second.index.updated == 0
    (feed_request,) = site.requests
    assert feed_request.path == "/feed.xml" and feed_request.status == 304
    assert feed_request.headers["If-None-Match"].startswith('"')
    assert feed_request.headers["If-Modified-Since"].endswith("GMT")

    # The lighthouse page is edited and the feed gains a story: the feed and its pages are read
    # again, each page with a conditional GET; the unchanged market page answers 304.
    before = stored_articles(service.collection())[site.url(LIGHTHOUSE)].chunk_ids
    site.edit(LIGHTHOUSE, "112 cracked granite blocks", "118 cracked granite blocks")
    site.add_items("/feed.xml", item(site.url(CAFE), "Café Dupré"))
    site.requests.clear()
    third = service.refresh_feeds(show_progress=False)
    assert (third.index.added, third.index.updated, third.index.unchanged) == (1, 1, 1)
    (market,) = site.seen(MARKET)
    assert market.status == 304 and "If-None-Match" in market.headers
    after = stored_articles(service.collection())[site.url(LIGHTHOUSE)].chunk_ids
    assert set(after).isdisjoint(before)
    texts = texts_of(service, site.url(LIGHTHOUSE))
    assert any("118 cracked granite blocks" in text for text in texts)
    assert not any("112 cracked granite blocks" in text for text in texts)
    assert [problem.message for problem in third.index.problems] == [
        "not UTF-8; read as windows-1252 (the declared charset)"
    ]


def test_dropped_articles_stay_one_story_two_feeds_and_remove(tmp_path: Path, site: NewsSite) -> None:
    service = RagService(make_settings(tmp_path, **FAST))
    service.add_feed(site.url("/feed.xml"), show_progress=False)
    # The Atom feed links the lighthouse story by another URL: the same canonical URL, one article.
    atom = service.add_feed(site.url("/heritage.atom"), show_progress=False)
    assert (atom.index.added, atom.index.unchanged) == (0, 1)
    assert len(stored_articles(service.collection())) == 2

    # The lighthouse story drops out of the RSS feed: it stays.
    site.edit("/feed.xml", f"<link>{site.url(LIGHTHOUSE)}</link>", f"<link>{site.url('/gallery')}</link>")
    dropped = service.refresh_feeds(show_progress=False)
    assert dropped.index.removed == 0 and dropped.index.chunks_deleted == 0
    assert site.url(LIGHTHOUSE) in stored_articles(service.collection())

    # Removing the RSS feed removes its own article; the lighthouse story stays (the Atom feed has it).
    removal = service.remove_feed(site.url("/feed.xml"))
    assert (removal.articles, removal.kept) == (1, 1) and removal.chunks > 0
    assert set(stored_articles(service.collection())) == {site.url(LIGHTHOUSE)}
    assert list(service.followed_feeds()) == [site.url("/heritage.atom")]
    service.remove_feed(site.url("/heritage.atom"))
    assert stored_articles(service.collection()) == {} and service.followed_feeds() == {}
    with pytest.raises(UsageError, match="Not following"):
        service.remove_feed(site.url("/feed.xml"))


# --- bad input --------------------------------------------------------------------------------------


def test_each_bad_input_is_a_named_warning_and_the_rest_is_indexed(tmp_path: Path, site: NewsSite) -> None:
    service = RagService(make_settings(tmp_path, **FAST, fetch_max_redirects=3))
    service.index([], urls=[site.url(LIGHTHOUSE)], show_progress=False)
    bad = {
        "ftp://files.example/story.txt": "not an http(s) URL",
        site.url("/missing"): "HTTP 404 Not Found",
        site.url("/slow"): "timed out after 1.5 s",
        site.url("/big"): "page is 195 KB, over the 98 KB cap",
        site.url("/big-stream"): "page is over the 98 KB cap",
        site.url("/gallery"): "no article text on the page",
        site.url("/loop-a"): "redirect loop",
        site.url(CAFE): "not UTF-8; read as windows-1252",
    }
    site.add_items("/feed.xml", "\n".join(item(link) for link in [*bad, site.url("/go/market")]))
    started = time.monotonic()
    report = service.add_feed(site.url("/feed.xml"), show_progress=False)
    assert time.monotonic() - started < 15  # the slow page cost its timeout, no more
    warnings = {problem.path: problem.message for problem in report.index.problems}
    for url, message in bad.items():
        assert message in warnings.get(url, ""), (url, warnings)
    assert len(warnings) == len(bad)
    # Indexed: the market story (behind a redirect) and the cafe; the lighthouse was already there.
    assert (report.index.added, report.index.unchanged) == (2, 1)
    stored = stored_articles(service.collection())
    assert set(stored) == {
        site.url(LIGHTHOUSE),
        site.url(MARKET),
        site.url("/2022/10/16/cafe-dupre-pastry-prize"),
    }
    assert report.partial

    # A page that is not a feed is not followed; nothing already indexed is lost.
    not_a_feed = service.add_feed(site.url(MARKET), show_progress=False)
    assert [problem.message for problem in not_a_feed.index.problems] == [
        "not a feed (no RSS or Atom in the response); not followed"
    ]
    assert list(service.followed_feeds()) == [site.url("/feed.xml")]
    assert set(stored_articles(service.collection())) == set(stored)


def test_too_many_redirects_is_named(site: NewsSite) -> None:
    site.redirects.update({"/r1": "/r2", "/r2": "/r3", "/r3": MARKET})
    with pytest.raises(fetch_module.FetchError, match=r"too many redirects \(more than 1\)"):
        fetch(site.url("/r1"), policy(max_redirects=1))
    assert fetch(site.url("/r1"), policy(max_redirects=3)).url == site.url(MARKET)


# --- the web chat's URL field: off by default, public addresses only --------------------------------


def test_web_fetching_is_off_unless_allowed(tmp_path: Path, site: NewsSite) -> None:
    service = RagService(make_settings(tmp_path, **FAST))
    with pytest.raises(UsageError, match="RAG_ALLOW_FETCH=1"):
        add_url(service, "seeds", site.url(LIGHTHOUSE))
    assert site.requests == []


def test_web_refuses_loopback_by_resolved_address_and_on_redirect(
    tmp_path: Path, site: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = RagService(make_settings(tmp_path, **FAST, allow_fetch=True))
    port = site.base.rsplit(":", 1)[1]
    for url in (site.url(LIGHTHOUSE), f"http://localhost:{port}{LIGHTHOUSE}"):
        summary, report = add_url(service, "seeds", url)
        assert "Rejected" in summary and "is a loopback address (127.0.0.1)" in summary, summary
        assert report is not None and report.added == 0
    assert site.requests == []  # refused before connecting: the name was resolved and checked

    # Every redirect hop is checked: with 127.0.0.1 taken as public, a hop to 127.0.0.2 is refused.
    real = fetch_module.refused_reason
    monkeypatch.setattr(
        fetch_module, "refused_reason", lambda address: None if str(address) == "127.0.0.1" else real(address)
    )
    site.redirects["/elsewhere"] = f"http://127.0.0.2:{port}{MARKET}"
    summary, _ = add_url(service, "seeds", site.url("/elsewhere"))
    assert f"redirected to http://127.0.0.2:{port}{MARKET}: refused" in summary, summary
    assert [request.path for request in site.requests] == ["/elsewhere"]


def test_web_fetches_private_addresses_when_allowed(tmp_path: Path, site: NewsSite) -> None:
    service = RagService(make_settings(tmp_path, **FAST, allow_fetch=True, fetch_allow_private=True))
    summary, report = add_url(service, "seeds", site.url(LIGHTHOUSE))
    assert report is not None and report.added == 1, summary
    assert "**Added to “seeds”:** 1 new" in summary
    assert "Storm-hit Brannock lighthouse to reopen" in summary and site.url(LIGHTHOUSE) in summary
    # Uploads share the summary: files are named by file name, pages by URL.
    uploaded, _ = add_files(service, "seeds", [str(DATA / "articles" / "volcano.md")])
    assert "**Added to “seeds”:** 1 new, 0 updated, 0 unchanged" in uploaded and "(volcano.md)" in uploaded


# --- the `rag` command ------------------------------------------------------------------------------


def rag(args: list[str], index_dir: Path) -> subprocess.Popen[str]:
    """The real `rag` command in its own process."""
    environment = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_FETCH_TIMEOUT": "3"}
    environment.pop("OPENAI_API_KEY", None)
    command = [sys.executable, "-m", "rag.apps.cli.main", *args]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )


def test_the_rag_command_indexes_urls_and_follows_feeds(tmp_path: Path, site: NewsSite) -> None:
    index_dir = tmp_path / "index"
    runner, env = CliRunner(), {"RAG_INDEX_DIR": str(index_dir), "RAG_FETCH_TIMEOUT": "3"}
    result = runner.invoke(app, ["index", site.url(MARKET), "ftp://files.example/x", "-q"], env=env)
    assert result.exit_code == 1, result.output  # partial: the ftp URL
    assert "1 added" in result.stdout
    assert "warning: ftp://files.example/x: not an http(s) URL" in result.stderr

    result = runner.invoke(app, ["feeds", "add", site.url("/feed.xml"), "-q"], env=env)
    assert result.exit_code == 0, result.output
    assert "following " + site.url("/feed.xml") in result.stderr
    assert "1 new, 0 updated, 1 unchanged" in result.stdout

    result = runner.invoke(app, ["feeds", "list"], env=env)
    assert result.exit_code == 0 and site.url("/feed.xml") in result.stdout, result.output
    assert "2 article(s); checked" in result.stdout

    # --every: one summary line per refresh until Ctrl-C, which exits 130 without a traceback.
    looping = rag(["feeds", "refresh", "--every", "1s"], index_dir)
    assert looping.stdout is not None
    line = looping.stdout.readline()
    assert "feeds: 1 read (1 not modified)" in line and "0 new, 0 updated" in line, line
    looping.send_signal(signal.SIGINT)
    out, err = looping.communicate(timeout=60)
    assert looping.returncode == 130 and "interrupted" in err and "Traceback" not in err + out

    result = runner.invoke(app, ["feeds", "remove", site.url("/feed.xml")], env=env)
    assert result.exit_code == 0 and "2 article(s) removed" in result.stdout, result.output
    result = runner.invoke(app, ["feeds", "refresh"], env=env)
    assert result.exit_code == 2 and "follows no feeds" in result.stderr
    result = runner.invoke(app, ["feeds", "refresh", "--every", "soon"], env=env)
    assert result.exit_code == 2 and "is not a duration" in result.stderr


@pytest.mark.browser
def test_the_web_url_field_adds_a_feed(browser: Browser, tmp_path: Path, site: NewsSite) -> None:
    service = RagService(make_settings(tmp_path, **FAST, allow_fetch=True, fetch_allow_private=True))
    with serving(service) as url:
        chat = ChatPage(browser.new_page(viewport={"width": 1280, "height": 1100}), url)
        chat.page.click("#add-articles .label-wrap")
        field = chat.page.locator("#add-url textarea, #add-url input").first
        field.fill(site.url("/feed.xml"))
        chat.page.click("#fetch-url")
        chat.page.wait_for_selector("#upload-summary :text('Added to')", timeout=60_000)
        summary = chat.page.inner_text("#upload-summary")
        assert "2 new" in summary, summary
        assert "Storm-hit Brannock lighthouse" in summary and "Night market returns" in summary
        chat.page.wait_for_function("document.querySelector('#app-status').innerText.includes('3 articles')")
        chat.screenshot("feeds-web-url")
        assert chat.outside_requests == []
        chat.page.close()
