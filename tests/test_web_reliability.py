"""Reliability and security of the web chat (rag/apps/web/app.py, app.py, `rag serve`): loopback by default,
RAG_AUTH login, size limits on questions and uploads, a Chroma server that goes down and comes back."""

from __future__ import annotations

import inspect
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client
from playwright.sync_api import Browser
from typer.testing import CliRunner

from rag.apps.cli import corpus as cli
from rag.apps.cli.main import app
from rag.apps.web import app as web
from rag.errors import ConfigError
from rag.net import free_port
from rag.service import RagService
from rag.settings import Settings

from .conftest import GANJA_QUESTION, make_settings
from .servers import ChromaServer
from .webapp import ARTIFACTS, ChatPage, serving

USER, PASSWORD = "analyst", "s3cret:with-colon"


def test_default_host_is_loopback() -> None:
    """Every way of starting the chat binds 127.0.0.1 unless told otherwise."""
    for func in (cli.serve, web.launch, web.serve):
        host = inspect.signature(func).parameters["host"].default
        default = getattr(host, "default", host)  # typer.Option wraps it in Annotated metadata
        assert default == "127.0.0.1", func


def test_rag_auth_is_user_colon_password() -> None:
    assert Settings(auth=f"{USER}:{PASSWORD}").login() == (USER, PASSWORD)  # type: ignore[arg-type]
    assert Settings().login() is None
    for bad in ("nocolon", ":password", "user:", " : "):
        with pytest.raises(ConfigError, match="RAG_AUTH must be user:password"):
            Settings(auth=bad).login()  # type: ignore[arg-type]


def test_rag_serve_refuses_a_malformed_rag_auth_before_indexing(tmp_path: Path) -> None:
    env = {"RAG_AUTH": "just-a-password", "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_LLM": "extractive"}
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port())], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: RAG_AUTH must be user:password")
    assert "Traceback" not in result.output
    assert not (tmp_path / "index").exists()  # stopped before indexing anything


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("web-auth"), llm="extractive", auth=f"{USER}:{PASSWORD}", max_upload_mb=1
    )
    with serving(RagService(settings)) as url:
        yield url


def log_in(chat_url: str, browser: Browser, password: str) -> ChatPage | None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(chat_url)
    page.get_by_label("username").fill(USER)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    try:
        page.wait_for_selector("#question textarea", timeout=10_000)
    except Exception:
        page.close()
        return None
    return ChatPage(page, chat_url)


@pytest.mark.browser
def test_login_guards_the_page_and_the_api(browser: Browser, guarded_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(guarded_url)
    page.wait_for_selector("text=Sign in to the News Q&A chat.")
    assert page.locator("#question").count() == 0 and page.locator("#chat").count() == 0
    page.get_by_label("username").fill(USER)
    page.get_by_label("password").fill("wrong")
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("text=Incorrect Credentials")
    page.screenshot(path=str(ARTIFACTS / "web-8-login.png"))
    page.close()

    with pytest.raises(urllib.error.HTTPError) as denied:  # the API needs the login too
        urllib.request.urlopen(guarded_url + "gradio_api/info", timeout=10)
    assert denied.value.code == 401
    with pytest.raises(Exception, match=r"(?i)log ?in|auth|401"):
        Client(guarded_url, verbose=False).predict(question=GANJA_QUESTION, api_name="/ask")
    client = Client(guarded_url, auth=(USER, PASSWORD), verbose=False)
    answer = client.predict(question=GANJA_QUESTION, api_name="/ask")
    assert "killing ten civilians" in answer["citations"][0]["quote"]
    client.close()

    chat = log_in(guarded_url, browser, PASSWORD)
    assert chat is not None
    chat.ask(GANJA_QUESTION)
    chat.wait_for_answer(1)
    assert "[1]" in chat.last_answer()
    chat.page.close()


@pytest.mark.browser
def test_a_huge_question_gets_a_message_and_the_chat_goes_on(browser: Browser, guarded_url: str) -> None:
    chat = log_in(guarded_url, browser, PASSWORD)
    assert chat is not None
    chat.ask("Why " + "really " * 15_000 + "?")  # ~100 KB pasted into the box
    chat.wait_for_answer(1)
    answer = chat.last_answer()
    assert answer.startswith("Error:") and "characters long; keep it under 2,000" in answer, answer[:300]
    assert "Traceback" not in chat.page.inner_text("body")
    chat.ask(GANJA_QUESTION)
    chat.wait_for_answer(2)
    assert "killing ten civilians" in chat.last_answer()
    chat.page.close()


@pytest.mark.browser
def test_an_upload_over_the_size_limit_is_refused(browser: Browser, guarded_url: str, tmp_path: Path) -> None:
    chat = log_in(guarded_url, browser, PASSWORD)
    assert chat is not None
    status = chat.page.inner_text("#app-status")
    big = tmp_path / "big.txt"
    body = "A sentence about nothing. " * 60_000
    big.write_text(f"By Big Outlet\n\nBig article\n\n{body}", encoding="utf-8")
    assert big.stat().st_size > 1024 * 1024
    chat.page.click("#add-articles .label-wrap")
    chat.page.wait_for_selector("#upload input[type=file]", state="attached")
    assert "up to 1 MB each" in chat.page.inner_text("#add-articles")
    chat.page.set_input_files("#upload input[type=file]", str(big))
    toast = chat.page.wait_for_selector("[data-testid='toast-text']", timeout=30_000)
    assert toast is not None and 'exceed the maximum allowed size of 1.0 Mb: "big.txt"' in toast.inner_text()
    chat.screenshot("web-9-upload-too-large")
    chat.page.reload()
    chat.page.wait_for_function("document.querySelector('#app-status') !== null")
    assert chat.page.inner_text("#app-status") == status  # nothing was indexed
    chat.page.close()


# --- a Chroma server that goes down and comes back ------------------------------------------------


@pytest.mark.browser
def test_chroma_server_down_then_back_in_the_page(browser: Browser, tmp_path: Path) -> None:
    server = ChromaServer(tmp_path / "server-data")
    server.start()
    try:
        settings = make_settings(tmp_path, llm="extractive", chroma_host="127.0.0.1", chroma_port=server.port)
        with serving(RagService(settings)) as url:
            chat = ChatPage(browser.new_page(viewport={"width": 1280, "height": 900}), url)
            chat.ask(GANJA_QUESTION)
            chat.wait_for_answer(1)
            assert "killing ten civilians" in chat.last_answer()

            server.stop()
            chat.ask(GANJA_QUESTION)
            chat.wait_for_answer(2)
            answer = chat.last_answer()
            assert answer.startswith("Error:") and "Chroma server" in answer and "Start it again" in answer
            assert "Traceback" not in chat.page.inner_text("body")
            chat.screenshot("web-10-chroma-down")

            server.start()  # same port, same data: the running app carries on
            chat.ask(GANJA_QUESTION)
            chat.wait_for_answer(3)
            assert "killing ten civilians" in chat.last_answer()
            chat.page.close()
    finally:
        server.stop()
