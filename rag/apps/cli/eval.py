"""`rag eval`: run a scripted evaluation, or compare two runs.

`rag eval FILE ...` is short for `rag eval run FILE ...` (EvalGroup adds the `run`); the
scoring, reports and comparison are rag.evaluation's job, this module only parses the options
and prints the summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from rag.apps.cli.common import (
    EXIT_PARTIAL,
    CollectionOpt,
    LlmOption,
    QuietOpt,
    SinceOpt,
    SourceOpt,
    UntilOpt,
    friendly_errors,
)
from rag.inputs import check_filters, existing_questions_file
from rag.settings import load_settings


class EvalGroup(TyperGroup):
    """`rag eval FILE ...` runs an evaluation (the `run` command); `rag eval compare A B` compares."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=EvalGroup,
    no_args_is_help=True,
    help="Scripted evaluation: `rag eval QUESTIONS_FILE` (options: rag eval run --help), "
    "`rag eval compare RUN_A RUN_B`.",
)


@eval_app.command("run")
@friendly_errors
def eval_run(
    questions_file: Annotated[
        Path, typer.Argument(help="Questions: .jsonl, .json (a list), .csv or .yaml", show_default=False)
    ],
    collection: CollectionOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default: runs/TIMESTAMP/).")
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", min=1, max=50, help="Passages the answer is made from (default: 5).")
    ] = None,
    llm: Annotated[LlmOption | None, typer.Option("--llm", help="Generator (default: auto).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over instead of resuming.")] = False,
    judge: Annotated[
        bool, typer.Option("--judge", help="Also let the LLM judge answers that strict matching misses.")
    ] = False,
    retrieval_only: Annotated[
        bool, typer.Option("--retrieval-only", help="Retrieve only: retrieval metrics, no answers (fast).")
    ] = False,
    no_dates: Annotated[
        bool, typer.Option("--no-dates", help="Ignore question dates (normally: no later news).")
    ] = False,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a question set; score retrieval, answers, refusals, citations; write the reports.

    --source/--since/--until narrow the search for every question, as in `rag ask`."""
    existing_questions_file(questions_file)
    from rag.evaluation.report import format_summary
    from rag.evaluation.runner import EvalOptions, run_eval

    settings = load_settings(collection=collection, llm=llm.value if llm else None)
    options = EvalOptions(
        questions_file=questions_file,
        out=out,
        k=k,
        limit=limit,
        fresh=fresh,
        judge=judge,
        retrieval_only=retrieval_only,
        use_dates=not no_dates,
        progress=not quiet,
        filters=check_filters(source, since, until),
    )
    outcome = run_eval(settings, options, log=lambda text: typer.echo(text, err=True))
    typer.echo(format_summary(outcome.report))
    typer.echo(f"\n{outcome.report['count']} questions; reports in {outcome.out}/ (report.html, report.md)")
    errors = outcome.report["metrics"].get("errors", 0)
    if errors or outcome.problems:
        typer.echo(
            f"partial: {errors} question(s) failed (see results.jsonl), "
            f"{len(outcome.problems)} input line(s) skipped.",
            err=True,
        )
        raise typer.Exit(EXIT_PARTIAL)


@eval_app.command("compare")
@friendly_errors
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="The earlier run folder.", show_default=False)],
    run_b: Annotated[Path, typer.Argument(help="The later run folder.", show_default=False)],
) -> None:
    """Metric deltas (B - A) and the questions that flipped between two runs."""
    from rag.evaluation.compare import compare_runs
    from rag.evaluation.report import format_comparison

    typer.echo(format_comparison(compare_runs(run_a, run_b)))
