"""The web chat's event handlers: ask and stream an answer, follow-ups, sources, uploads, briefings.

`WebChat` holds the one shared `RagService` it is given (its models and LLM server are reused
by every user); all per-user state (the turns of one conversation) comes in as inputs from
`gr.State` and goes back out as outputs, never kept here. The handlers build nothing visual
themselves: the strings come from `render`, the turns from `conversation`.

No `from __future__ import annotations` here: `gr.api` reads the `/ask` type hints at runtime,
and gradio finds the `gr.Progress` and `gr.SelectData` parameters by their annotations.
"""

import tempfile
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gradio as gr

from rag.apps.web.articles import add_files, add_url
from rag.apps.web.conversation import Turn, conversation_briefing
from rag.apps.web.render import (
    answer_message,
    answer_panel,
    chat_messages,
    copy_briefing_block,
    draft_message,
    empty_panel,
    esc,
    header_html,
    md_escape,
    of_turn,
    panel,
    retrieved_panel,
)
from rag.briefings.model import section_of
from rag.briefings.output import briefing_filename, write_briefing
from rag.errors import RagError
from rag.inputs import check_filters
from rag.service import RagService
from rag.store.chroma import collection_facets
from rag.types import Done, Draft, Retrieved, Sentence

# The web chat's names for the two dates, in its error messages.
WEB_DATE_NAMES = ("The “From” date", "The “Until” date")


def llm_label(service: RagService) -> str:
    generator = service.generator()
    return generator.info.label() if generator else "extractive: quoted sentences, no LLM"


class WebChat:
    """The page's event handlers over one shared service; all per-user state comes in as inputs."""

    def __init__(self, service: RagService) -> None:
        self.service = service
        self.settings = service.settings
        self.label = llm_label(service)
        # The bundled model serves one request at a time; remote backends take a few in parallel.
        self.answer_limit = 1 if self.label.startswith("local") else 4
        # Briefings offered for download are written here (one folder per download, never shared).
        self.export_dir = Path(tempfile.mkdtemp(prefix="rag-briefings-"))

    def facts(self, name: str) -> tuple[str, Any]:
        """The header and the outlet choices of a collection."""
        facets = collection_facets(self.service.collection(name, create=True))
        return header_html(self.label, name, facets), gr.update(choices=facets.sources, value=[])

    def on_load(self) -> tuple[Any, str, Any]:
        names = self.service.collections() or [self.settings.collection]
        name = self.settings.collection if self.settings.collection in names else names[0]
        header, outlets = self.facts(name)
        return gr.update(choices=names, value=name, visible=len(names) > 1), header, outlets

    def respond(
        self,
        question: str,
        turns: list[dict[str, Any]],
        collection: str,
        outlets: list[str] | None,
        since: str | None,
        until: str | None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Streams (chat, sources panel, question box, turns): passages first, then the answer."""
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        done = [Turn.load(turn) for turn in turns]
        number = len(done) + 1
        turn = Turn(question, message="*Searching the articles…*", sources=panel("Searching…", ""))
        busy = gr.update(value="", interactive=False)
        yield chat_messages([*done, turn]), of_turn(number, turn.sources), busy, gr.skip()
        for update in self.answer_turn(turn, done, collection, outlets, since, until):
            sources = of_turn(number, update) if isinstance(update, str) else update
            yield chat_messages([*done, turn]), sources, gr.skip(), gr.skip()
        turn.sources = of_turn(number, turn.sources)
        saved = [asdict(item) for item in [*done, turn]]
        yield chat_messages([*done, turn]), turn.sources, gr.update(interactive=True), saved

    def answer_turn(
        self,
        turn: Turn,
        done: Sequence[Turn],
        collection: str,
        outlets: Sequence[str] | None,
        since: str | None,
        until: str | None,
    ) -> Iterator[Any]:
        """Fills `turn` as the answer streams; yields the sources panel when it changes."""
        try:
            filters = check_filters(outlets, since, until, WEB_DATE_NAMES)
            answerer = self.service.answerer(collection or None)
            history = [(item.question, item.answer) for item in done if item.ok]
            sentences: list[str] = []
            events = answerer.stream(turn.question, k=self.settings.top_k, filters=filters, history=history)
            for event in events:
                if isinstance(event, Retrieved):
                    turn.message = f"*Found {len(event.passages)} passages; writing the answer…*"
                    turn.sources = retrieved_panel(event.passages, event.search_query, turn.question)
                    yield turn.sources
                elif isinstance(event, Sentence | Draft):
                    if isinstance(event, Sentence):
                        sentences.append(event.text)
                    turn.message = draft_message(sentences, event.text if isinstance(event, Draft) else "")
                    yield gr.skip()
                elif isinstance(event, Done):
                    turn.answer = event.answer.answer
                    turn.ok = event.answer.error is None or bool(event.answer.citations)
                    turn.message = answer_message(event.answer, filters)
                    turn.section = asdict(section_of(event.answer))
                    turn.model = event.answer.llm.label()
                    turn.collection = collection or self.settings.collection
                    turn.sources = answer_panel(event.answer) + copy_briefing_block(turn)
        except RagError as err:
            turn.message = f"**Error:** {md_escape(str(err))}"
            turn.sources = panel("No sources", f'<p class="src-error">{esc(err)}</p>', "failed final")
        except Exception as err:  # a readable message in the chat, the details in the log
            traceback.print_exc()
            turn.message = f"**Unexpected error** ({type(err).__name__}): {md_escape(str(err))}"
            turn.sources = panel("No sources", f'<p class="src-error">{esc(err)}</p>', "failed final")
        yield turn.sources

    def briefing_downloads(self, turns: list[dict[str, Any]]) -> tuple[Any, Any]:
        """The download buttons, holding the conversation's briefing as Markdown and as DOCX."""
        briefing = conversation_briefing([Turn.load(turn) for turn in turns])
        if briefing is None:
            return gr.update(value=None, interactive=False), gr.update(value=None, interactive=False)
        folder = Path(tempfile.mkdtemp(prefix="briefing-", dir=self.export_dir))
        updates = []
        for fmt in ("md", "docx"):
            path = folder / briefing_filename(briefing, fmt)
            write_briefing(briefing, fmt, path)
            updates.append(gr.update(value=str(path), interactive=True))
        return updates[0], updates[1]

    def show_sources(self, turns: list[dict[str, Any]], event: gr.SelectData) -> Any:
        """Clicking an earlier message brings back the sources of its answer."""
        index = event.index if isinstance(event.index, int) else event.index[0]
        if 0 <= index // 2 < len(turns):
            return turns[index // 2]["sources"] or empty_panel()
        return gr.skip()

    def add_articles(
        self,
        files: list[str] | None,
        collection: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio's idiom
    ) -> tuple[Any, Any, Any, Any]:
        """(summary, header, outlets, file box): index the uploads into the current collection."""
        if not files:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        name = collection or self.settings.collection
        progress(0, desc="Reading the files…")
        try:
            summary, _ = add_files(self.service, name, files)
        except RagError as err:
            summary = f"**Error:** {md_escape(str(err))}"
        header, outlets = self.facts(name)
        return summary, header, outlets, None

    def add_url(
        self,
        url: str,
        collection: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 - gradio's idiom
    ) -> tuple[Any, Any, Any]:
        """(summary, header, outlets): fetch a feed or an article page into the current collection."""
        name = collection or self.settings.collection
        progress(0, desc="Fetching…")
        try:
            summary, _ = add_url(self.service, name, url or "")
        except RagError as err:
            summary = f"**Error:** {md_escape(str(err))}"
        header, outlets = self.facts(name)
        return summary, header, outlets

    def ask(
        self,
        question: str,
        collection: str = "",
        sources: list[str] | None = None,
        since: str = "",
        until: str = "",
        k: int = 0,
        history: list[list[str]] | None = None,
    ) -> dict[str, Any]:
        """Answer a question with [n] markers tied to verbatim quotes: the JSON of `rag ask --json`.

        history: earlier [question, answer] pairs, for follow-up questions.
        """
        try:
            answerer = self.service.answerer(collection or None)
            pairs = [(str(pair[0]), str(pair[1])) for pair in history or [] if len(pair) >= 2]
            answer = answerer.ask(
                question,
                k=min(max(k, 1), 50) if k else self.settings.top_k,
                filters=check_filters(sources, since, until, WEB_DATE_NAMES),
                history=pairs,
            )
        except RagError as err:
            raise gr.Error(str(err)) from err
        return answer.to_json()
