"""The `rag` command: index, search, ask (and serve)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rag.answer import Answer, Done, Retrieved, Sentence
from rag.errors import RagError, UsageError
from rag.retrieve import Filters, Passage
from rag.service import RagService
from rag.settings import load_settings

app = typer.Typer(
    help="Question answering with cited passages over a corpus of news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])
EXIT_PARTIAL = 1


class LlmOption(StrEnum):
    auto = "auto"
    local = "local"
    openai = "openai"
    extractive = "extractive"


CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Chroma collection [default: seeds]")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KOpt = Annotated[int | None, typer.Option("--k", min=1, max=50, help="Passages to retrieve.")]
SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only this outlet (repeatable).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Published on or after YYYY-MM-DD.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Published on or before YYYY-MM-DD.")]


def friendly_errors(command: F) -> F:
    """One clear line and a non-zero exit instead of a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RagError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as err:
            if os.environ.get("RAG_DEBUG"):
                raise
            typer.echo(
                f"error: unexpected {type(err).__name__}: {err} (set RAG_DEBUG=1 for details)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def make_filters(source: list[str] | None, since: str | None, until: str | None) -> Filters | None:
    from rag.articles import normalise_date

    for label, value in (("--since", since), ("--until", until)):
        if value and not normalise_date(value):
            raise UsageError(f"{label} {value!r} is not a date: use YYYY-MM-DD.")
    if not (source or since or until):
        return None
    return Filters(
        sources=tuple(source or ()),
        since=normalise_date(since) if since else None,
        until=normalise_date(until) if until else None,
    )


@app.command()
@friendly_errors
def index(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders [default: seeds/]")] = None,
    collection: CollectionOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Index articles (txt, md, html, json, jsonl, csv); unchanged ones are skipped."""
    service = RagService(load_settings(collection=collection))
    targets = paths or [service.settings.seeds_dir]
    missing = [str(path) for path in targets if not path.exists()]
    if len(missing) == len(targets):
        raise UsageError(f"No such file or folder: {', '.join(missing)}")
    report = service.index(targets, show_progress=not quiet and sys.stderr.isatty())
    for problem in report.problems:
        typer.echo(f"warning: {problem}", err=True)
    typer.echo(f"{service.settings.collection}: {report.summary()}")
    if report.partial:
        typer.echo(f"partial: {len(report.problems)} problem(s) above; the rest is indexed.", err=True)
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
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
    service = RagService(load_settings(collection=collection))
    if not query.strip():
        raise UsageError("The query is empty.")
    passages = service.search(query, k, filters=make_filters(source, since, until))
    if as_json:
        typer.echo(json.dumps([passage.public() for passage in passages], ensure_ascii=False, indent=2))
        return
    if not passages:
        typer.echo("No passages found.")
    for rank, passage in enumerate(passages, start=1):
        typer.echo(f"{rank}. {describe(passage)} score {passage.score:.3f}")
        typer.echo(f"   {' '.join(passage.text.split())[:400]}\n")


@app.command()
@friendly_errors
def ask(
    question: Annotated[str, typer.Argument(help="A question about the articles.")],
    as_json: JsonOpt = False,
    k: KOpt = None,
    llm: Annotated[LlmOption | None, typer.Option("--llm", help="Generator [default: auto]")] = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Answer a question with [n] markers tied to verbatim, attributed quotes."""
    settings = load_settings(collection=collection, llm=llm.value if llm else None)
    service = RagService(settings)
    filters = make_filters(source, since, until)
    answerer = service.answerer()
    answer: Answer | None = None
    printed = False
    for event in answerer.stream(question, k=k or settings.top_k, filters=filters):
        if isinstance(event, Sentence) and not as_json:
            typer.echo(("" if not printed else " ") + event.text, nl=False)
            printed = True
        elif isinstance(event, Retrieved) and not as_json and not event.passages:
            typer.echo("The collection is empty: run `rag index` first.", err=True)
        elif isinstance(event, Done):
            answer = event.answer
    assert answer is not None
    if as_json:
        typer.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
    else:
        print_answer_tail(answer, printed)
    if answer.error:
        raise typer.Exit(4)


def print_answer_tail(answer: Answer, printed: bool) -> None:
    if printed:
        typer.echo("")
    if answer.error:
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
    typer.echo(f"\n({answer.llm.label()}; {answer.timings.get('total_ms', 0) / 1000:.1f} s)", err=True)


def describe(passage: Passage) -> str:
    parts = [passage.title or passage.doc_id, passage.source, passage.published]
    return " · ".join(part for part in parts if part)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
