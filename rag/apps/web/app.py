"""The web chat's page and its server: the layout, the events wired to their handlers, launch.

`build_app(service)` makes the page over one shared `RagService` (the handlers are in
`handlers`, the strings they show in `render`); `serve()` indexes seeds/ when the collection is
empty, warms the models and launches it. The page's CSS and the copy button's JS are files in
static/, read when the page is built and launched.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr

from rag.answering.reader import ReaderContext
from rag.apps.web.articles import UPLOAD_TYPES
from rag.apps.web.handlers import WebChat
from rag.apps.web.render import empty_panel
from rag.errors import LlmError
from rag.net import free_port
from rag.service import RagService
from rag.settings import Settings

STATIC = Path(__file__).with_name("static")  # package data: shipped by a non-editable install too


def static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


# --- startup -----------------------------------------------------------------------------------


def ensure_indexed(service: RagService, collection: str | None = None) -> None:
    """Index seeds/ (with a progress bar) when the collection is empty."""
    name = collection or service.settings.collection
    if service.stats(name).chunks:
        return
    seeds = service.settings.seeds_dir
    print(f"Collection {name!r} is empty: indexing {seeds} first…", file=sys.stderr, flush=True)
    report = service.index([seeds], name, show_progress=True)
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{name}: {report.summary()}", file=sys.stderr, flush=True)


def warm_up(service: RagService, collection: str | None = None) -> None:
    """Load the embedding model and the LLM now, so that the first question is fast."""
    service.search("warm up", 1, collection)
    generator = service.generator()
    if generator is None:
        return
    print(f"Warming up {generator.info.label()}…", file=sys.stderr, flush=True)
    messages = service.prompts.reader_messages("Is it ready?", ReaderContext(()), None)
    try:
        for count, _ in enumerate(generator.stream(messages)):
            if count >= 2:  # the weights are in memory; the system prompt and examples are cached
                break
    except LlmError as err:
        print(f"warning: the LLM is not answering yet: {err}", file=sys.stderr)


# --- the page ----------------------------------------------------------------------------------


@dataclass
class Controls:
    """The components the events read and write."""

    header: Any
    chatbot: Any
    question: Any
    send: Any
    picker: Any
    outlets: Any
    since: Any
    until: Any
    files: Any
    url: Any
    fetch: Any
    upload_summary: Any
    sources: Any
    turns: Any
    download_md: Any
    download_docx: Any


def chat_column(settings_collection: str, max_upload_mb: int, allow_fetch: bool = False) -> dict[str, Any]:
    """The conversation, the question box, the filters and the upload box."""
    parts: dict[str, Any] = {}
    parts["chatbot"] = gr.Chatbot(
        elem_id="chat",
        label="Conversation",
        show_label=False,
        height=540,
        buttons=["copy"],  # copies the answer with its numbered sources, as Markdown
        feedback_options=None,
        placeholder="Ask about the news articles in the collection. "
        "Follow-up questions keep the conversation's context.",
        sanitize_html=True,
        allow_tags=False,
        latex_delimiters=[],
        layout="bubble",
    )
    with gr.Row(equal_height=True):
        parts["question"] = gr.Textbox(
            elem_id="question",
            show_label=False,
            placeholder="Ask a question about the articles…",
            lines=1,
            max_lines=4,
            scale=5,
            autofocus=True,
            submit_btn=False,
        )
        parts["send"] = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
    with gr.Row(elem_id="briefing-downloads"):
        parts["download_md"] = gr.DownloadButton(
            "Download briefing (Markdown)", size="sm", interactive=False, elem_id="download-md"
        )
        parts["download_docx"] = gr.DownloadButton(
            "Download briefing (Word)", size="sm", interactive=False, elem_id="download-docx"
        )
    with gr.Accordion("Filters and collection", open=False, elem_id="filters"):
        with gr.Row():
            parts["picker"] = gr.Dropdown(
                [settings_collection],
                value=settings_collection,
                label="Collection",
                visible=False,  # shown when there are several
                elem_id="collection",
            )
            parts["outlets"] = gr.Dropdown(
                [], multiselect=True, label="Outlets", info="All when empty", elem_id="outlets"
            )
        with gr.Row():
            parts["since"] = gr.DateTime(include_time=False, type="string", label="From", elem_id="since")
            parts["until"] = gr.DateTime(include_time=False, type="string", label="Until", elem_id="until")
    with gr.Accordion("Add articles", open=False, elem_id="add-articles"):
        parts["files"] = gr.File(
            label=f"Files (txt, md, html, json, jsonl, csv; up to {max_upload_mb} MB each): "
            "added to the current collection",
            file_count="multiple",
            file_types=UPLOAD_TYPES,
            elem_id="upload",
            height=140,
        )
        with gr.Row(equal_height=True):
            parts["url"] = gr.Textbox(
                label="Or a URL: a feed (RSS, Atom) or an article page"
                + ("" if allow_fetch else " (off: start the chat with RAG_ALLOW_FETCH=1)"),
                placeholder="https://outlet.example/feed.xml",
                lines=1,
                max_lines=1,
                scale=5,
                elem_id="add-url",
            )
            parts["fetch"] = gr.Button("Fetch", scale=1, min_width=80, elem_id="fetch-url")
        parts["upload_summary"] = gr.Markdown(elem_id="upload-summary")
    return parts


def layout(chat: WebChat) -> Controls:
    header = gr.HTML(chat.facts(chat.settings.collection)[0], elem_id="app-header")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            parts = chat_column(
                chat.settings.collection, chat.settings.max_upload_mb, chat.settings.allow_fetch
            )
        with gr.Column(scale=2, min_width=320):
            sources = gr.HTML(
                empty_panel(), elem_id="sources", max_height=720, js_on_load=static_text("copy_briefing.js")
            )
    return Controls(header=header, sources=sources, turns=gr.State([]), **parts)


def wire(chat: WebChat, ui: Controls, demo: gr.Blocks) -> None:
    private: dict[str, Any] = {"api_visibility": "private"}
    answering: dict[str, Any] = {"concurrency_id": "answer", "concurrency_limit": chat.answer_limit}
    inputs = [ui.question, ui.turns, ui.picker, ui.outlets, ui.since, ui.until]
    outputs = [ui.chatbot, ui.sources, ui.question, ui.turns]
    downloads = [ui.download_md, ui.download_docx]
    for trigger in (ui.question.submit, ui.send.click):
        trigger(chat.respond, inputs, outputs, show_progress="hidden", **private, **answering).then(
            chat.briefing_downloads, [ui.turns], downloads, show_progress="hidden", **private
        )
    ui.chatbot.select(chat.show_sources, [ui.turns], [ui.sources], show_progress="hidden", **private)
    ui.chatbot.clear(lambda: ([], empty_panel()), None, [ui.turns, ui.sources], **private).then(
        chat.briefing_downloads, [ui.turns], downloads, show_progress="hidden", **private
    )
    ui.picker.change(chat.facts, [ui.picker], [ui.header, ui.outlets], **private)
    ui.files.upload(
        chat.add_articles,
        [ui.files, ui.picker],
        [ui.upload_summary, ui.header, ui.outlets, ui.files],
        concurrency_id="index",
        **private,
    )
    for trigger in (ui.url.submit, ui.fetch.click):
        trigger(
            chat.add_url,
            [ui.url, ui.picker],
            [ui.upload_summary, ui.header, ui.outlets],
            concurrency_id="index",
            **private,
        )
    demo.load(chat.on_load, None, [ui.picker, ui.header, ui.outlets], **private)
    gr.api(chat.ask, api_name="ask", **answering)


def build_app(service: RagService) -> gr.Blocks:
    """The page over one shared service (its models and LLM server are reused by every user)."""
    chat = WebChat(service)
    with gr.Blocks(title="News Q&A", analytics_enabled=False) as demo:
        wire(chat, layout(chat), demo)
    return demo


def launch(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    settings: Settings,
    **kwargs: Any,
) -> tuple[Any, str, str]:
    """Queue on (requests wait their turn; histories stay per session), then serve.

    RAG_AUTH turns on the login page; RAG_MAX_UPLOAD_MB caps each uploaded file.
    """
    login = settings.login()
    demo.queue(default_concurrency_limit=1, max_size=64)
    theme = gr.themes.Default(
        primary_hue="indigo",
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    return demo.launch(
        server_name=host,
        server_port=port,
        theme=theme,
        css=static_text("app.css"),
        footer_links=["api"],
        run_history=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        auth=login,
        auth_message="Sign in to the News Q&A chat." if login else None,
        show_error=True,
        **kwargs,
    )


@contextmanager
def serving_in_background(service: RagService) -> Iterator[str]:
    """The app as `rag serve` runs it (seeds indexed when empty, models warm), on a free local
    port in this process, for `rag bench load` and the browser tests; yields its URL."""
    ensure_indexed(service)
    warm_up(service)
    demo = build_app(service)
    port = free_port()
    launch(demo, "127.0.0.1", port, settings=service.settings, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def has_display() -> bool:
    """A desktop to open a browser on (never a text browser taking over the server's terminal)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def serve(service: RagService, host: str = "127.0.0.1", port: int = 7860, open_browser: bool = False) -> None:
    """`rag serve` / `python app.py`: seeds indexed when the collection is empty, models warm, page up."""
    service.settings.login()  # a malformed RAG_AUTH stops here, before minutes of indexing
    ensure_indexed(service)
    warm_up(service)
    demo = build_app(service)
    print(f"Web chat on http://{host}:{port}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    launch(demo, host, port, settings=service.settings, inbrowser=open_browser and has_display())
