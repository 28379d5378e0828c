"""`rag brief`: questions answered into one briefing (Markdown, HTML or DOCX).

Reads the questions (arguments, files of them, or standard input), answers each with its
progress on standard error, and prints or writes the briefing; a failed answer exits 4 and a
skipped input line exits 1 ("partial"). Rendering the briefing is rag.briefings' job.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rag.apps.cli.common import (
    EXIT_PARTIAL,
    CollectionOpt,
    KOpt,
    LlmOpt,
    SinceOpt,
    SourceOpt,
    UntilOpt,
    friendly_errors,
    open_service,
)
from rag.errors import UsageError
from rag.inputs import check_filters

if TYPE_CHECKING:  # the heavy stack (torch, chromadb, llama-index) loads only once input is checked
    from rag.answering.answerer import Answerer
    from rag.types import Answer, Filters


class BriefFormat(StrEnum):
    md = "md"
    html = "html"
    docx = "docx"


@friendly_errors
def brief(
    questions: Annotated[
        list[str],
        typer.Argument(
            help="Questions, or files of them: .txt one a line; .jsonl/.json/.csv/.yaml with a "
            "'question' field; - reads lines from standard input. One briefing, a section each.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        BriefFormat | None,
        typer.Option("--format", "-f", help="md, html or docx (default: --out's suffix, else md)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here (default: standard output; docx needs a file)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The header's title (default: News briefing).")
    ] = None,
    k: KOpt = None,
    llm: LlmOpt = None,
    collection: CollectionOpt = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Answer questions into a briefing (md, html, docx): answers with verbatim, attributed quotes."""
    from rag.briefings.model import build_briefing
    from rag.briefings.output import format_for, render_text, write_briefing
    from rag.briefings.questions import questions_from_args

    chosen = format_for(out, fmt.value if fmt else None)
    if chosen == "docx" and out is None:
        raise UsageError("--format docx writes a file: add --out briefing.docx")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: there is no folder {out.parent}")
    loaded = questions_from_args(questions)
    for problem in loaded.problems:
        typer.echo(f"warning: {problem}", err=True)
    if not loaded.questions:
        raise UsageError("No questions to brief (see the warnings above).")
    filters = check_filters(source, since, until)
    with open_service(collection=collection, llm=llm.value if llm else None) as service:
        settings = service.settings
        answerer = service.answerer()
        answers = [
            brief_one(answerer, question, number, len(loaded.questions), k or settings.top_k, filters)
            for number, question in enumerate(loaded.questions, start=1)
        ]
    if not any(answer.passages for answer in answers):
        typer.echo("The collection is empty: run `rag index` first.", err=True)
    briefing = build_briefing(
        answers, collection=settings.collection, title=title, model=answerer.info.label()
    )
    if out is None:
        typer.echo(render_text(briefing, chosen), nl=False)
    else:
        write_briefing(briefing, chosen, out)
        typer.echo(f"wrote {out} ({chosen}, {len(answers)} question(s))", err=True)
    failed = [answer for answer in answers if answer.error]
    if failed:
        typer.echo(f"error: {len(failed)} question(s) could not be answered: {failed[0].error}", err=True)
        raise typer.Exit(4)
    if loaded.problems:
        typer.echo(f"partial: {len(loaded.problems)} problem(s) above; the rest is briefed.", err=True)
        raise typer.Exit(EXIT_PARTIAL)


def brief_one(
    answerer: Answerer, question: str, number: int, total: int, k: int, filters: Filters | None
) -> Answer:
    answer = answerer.ask(question, k=k, filters=filters)
    status = "error" if answer.error else "refused" if answer.refused else "answered"
    seconds = answer.timings.get("total_ms", 0) / 1000
    typer.echo(f"[{number}/{total}] {status} ({seconds:.1f} s): {question}", err=True)
    return answer
