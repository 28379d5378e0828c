"""The commands on one collection: `rag index`, `rag search`, `rag ask` and `rag serve`.

Index articles into it, retrieve passages from it, answer a question from it (the sentences
printed as they are written, then the cited sources), or start the web chat over it; and how a
passage is named in this output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag.apps.cli.common import (
    CollectionOpt,
    JsonOpt,
    KOpt,
    LlmOpt,
    QuietOpt,
    SinceOpt,
    SourceOpt,
    UntilOpt,
    finish_index,
    friendly_errors,
    open_service,
)
from rag.errors import UsageError
from rag.inputs import check_filters, check_question

if TYPE_CHECKING:  # the heavy stack (torch, chromadb, llama-index) loads only once input is checked
    from rag.service import RagService
    from rag.types import Answer, Filters, Passage


@friendly_errors
def index(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files, folders, or URLs of feeds and articles [default: seeds/]"),
    ] = None,
    collection: CollectionOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Index articles (txt, md, html, json, jsonl, csv; feed or article URLs); unchanged ones are skipped."""
    from rag.ingest.fetch import is_url

    service = open_service(collection=collection)
    urls = [target for target in paths or [] if is_url(target)]
    files = [Path(target) for target in paths or [] if not is_url(target)]
    if not paths:
        files = [service.settings.seeds_dir]
    missing = [str(path) for path in files if not path.exists()]
    if files and len(missing) == len(files) and not urls:
        raise UsageError(f"No such file or folder: {', '.join(missing)}")
    report = service.index(files, urls=urls, show_progress=not quiet)
    finish_index(service.settings.collection, report.summary(), report.problems)


@friendly_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    as_json: JsonOpt = False,
    k: KOpt = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Retrieve passages only, in rank order (no answer)."""
    service = open_service(collection=collection)
    if not query.strip():
        raise UsageError("The query is empty.")
    passages = service.search(query, k, filters=check_filters(source, since, until))
    if as_json:
        typer.echo(json.dumps([passage.public() for passage in passages], ensure_ascii=False, indent=2))
        return
    if not passages:
        typer.echo("No passages found.")
    for rank, passage in enumerate(passages, start=1):
        typer.echo(f"{rank}. {describe(passage)} score {passage.score:.3f}")
        typer.echo(f"   {' '.join(passage.text.split())[:400]}\n")


@friendly_errors
def ask(
    question: Annotated[str, typer.Argument(help="A question about the articles.")],
    as_json: JsonOpt = False,
    k: KOpt = None,
    llm: LlmOpt = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Answer a question with [n] markers tied to verbatim, attributed quotes."""
    question = check_question(question)  # before any model loads: a bad question answers at once
    filters = check_filters(source, since, until)
    with open_service(collection=collection, llm=llm.value if llm else None) as service:
        answer, printed = stream_answer(service, question, k or service.settings.top_k, filters, as_json)
    if as_json:
        typer.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    else:
        print_answer_tail(answer, printed)
    if answer.error:
        raise typer.Exit(4)


def stream_answer(
    service: RagService, question: str, k: int, filters: Filters | None, quiet: bool
) -> tuple[Answer, bool]:
    """The answer, its sentences printed as they are written (unless `quiet`), and whether any was."""
    from rag.types import Done, Retrieved, Sentence

    answer: Answer | None = None
    printed = False
    for event in service.answerer().stream(question, k=k, filters=filters):
        if isinstance(event, Sentence) and not quiet:
            typer.echo(("" if not printed else " ") + event.text, nl=False)
            printed = True
        elif isinstance(event, Retrieved) and not quiet and not event.passages:
            typer.echo("The collection is empty: run `rag index` first.", err=True)
        elif isinstance(event, Done):
            answer = event.answer
    assert answer is not None
    return answer, printed


@friendly_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    collection: CollectionOpt = None,
    llm: LlmOpt = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """Start the web chat (indexes seeds/ first when the collection is empty)."""
    from rag.apps.web.app import serve as serve_web  # gradio is slow to import: only for this command

    with open_service(collection=collection, llm=llm.value if llm else None) as service:
        serve_web(service, host=host, port=port, open_browser=open_browser)


def print_answer_tail(answer: Answer, printed: bool) -> None:
    if printed:
        typer.echo("")
    if answer.error and not answer.citations:
        typer.echo(f"error: {answer.error}", err=True)
        if answer.passages:
            typer.echo("\nRetrieved passages (not an answer):")
            for rank, passage in enumerate(answer.passages, start=1):
                typer.echo(f"  {rank}. {describe(passage)}")
        return
    if answer.refused:
        typer.echo(answer.answer)
        return
    typer.echo("\nSources:")
    for citation in answer.citations:
        typer.echo(f"[{citation.n}] “{citation.quote}”")
        details = ", ".join(
            part for part in (citation.title, citation.source, citation.author, citation.published) if part
        )
        typer.echo(f"    — {details}")
        typer.echo(f"    {citation.url or '(no URL)'}  doc_id: {citation.doc_id}")
    if answer.error:  # cut off mid-answer: the finished sentences and their sources stand
        typer.echo(f"error: {answer.error} The answer above is incomplete.", err=True)
        return
    typer.echo(f"\n({answer.llm.label()}; {answer.timings.get('total_ms', 0) / 1000:.1f} s)", err=True)


def describe(passage: Passage) -> str:
    parts = [passage.title or passage.doc_id, passage.source, passage.published]
    return " · ".join(part for part in parts if part)
