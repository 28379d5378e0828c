"""Helpers for the web tests: serve the real app on a free port, drive it with Debian's chromium."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

from rag.apps.web.app import serving_in_background
from rag.service import RagService

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ANSWER_TIMEOUT_MS = 180_000  # the local model on 2 shared cores: ~5-20 s an answer, more under load

# Every distinct text of the newest assistant message, recorded in the page as it changes.
WATCH_STREAM = """() => {
  window.__states = [];
  const chat = document.querySelector('#chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    const text = bots.length ? bots[bots.length - 1].innerText : '';
    if (window.__states[window.__states.length - 1] !== text) window.__states.push(text);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def serving(service: RagService) -> AbstractContextManager[str]:
    """The app as `rag serve` runs it, in this process (the product's own background server)."""
    return serving_in_background(service)


def launch_chromium(playwright: Playwright) -> Browser:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make browser` (apt-get install chromium)"
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class ChatPage:
    """The page as a user sees it, plus what the browser did (dialogs, outside requests)."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.outside_requests: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("request", self._on_request)
        page.goto(url)
        page.wait_for_selector("#question textarea")
        page.wait_for_function("document.querySelector('#app-status') !== null")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_request(self, request: Any) -> None:
        if not request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            self.outside_requests.append(request.url)

    def ask(self, question: str) -> None:
        self.page.evaluate(WATCH_STREAM)
        self.page.fill("#question textarea", question)
        self.page.click("#ask")

    def new_conversation(self) -> None:
        """The chat's Clear button: no history, an empty sources panel."""
        self.page.click("#chat button[aria-label='Clear']")
        self.page.wait_for_selector("#sources .src-panel.empty")
        assert self.page.locator('#chat [data-testid="user"]').count() == 0

    def wait_for_retrieved(self) -> None:
        self.page.wait_for_selector(
            "#sources .src-panel.pending, #sources .src-panel.final", timeout=ANSWER_TIMEOUT_MS
        )

    def wait_for_draft(self) -> None:
        """Until the answer is being written (the draft ends with the cursor ▍)."""
        self.page.wait_for_function(
            """() => { const bots = document.querySelectorAll('#chat [data-testid="bot"]');
                       return bots.length && bots[bots.length - 1].innerText.includes('▍'); }""",
            timeout=ANSWER_TIMEOUT_MS,
        )

    def wait_for_answer(self, turn: int) -> None:
        """Until the `turn`-th answer (1-based) is final and the question box is usable again."""
        self.page.wait_for_function(
            f"""() => document.querySelector('#sources [data-turn="{turn}"] .src-panel.final') !== null
                && !document.querySelector('#question textarea').disabled""",
            timeout=ANSWER_TIMEOUT_MS,
        )
        time.sleep(0.3)  # let the last render settle before screenshots

    def streamed_states(self) -> list[str]:
        return list(self.page.evaluate("window.__states || []"))

    def last_answer(self) -> str:
        return str(self.page.locator('#chat [data-testid="bot"]').last.inner_text())

    def sources_text(self) -> str:
        return str(self.page.inner_text("#sources"))

    def card(self, number: int) -> Any:
        return self.page.locator(f"#sources .src-card[data-n='{number}']")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
