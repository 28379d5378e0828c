"""The `rag` command: the root Typer app, its subcommands in help order, and the entry point.

The commands live in their own modules (corpus: index, search, ask, serve; brief; feeds; eval;
bench), which never import this one; here they are registered, and `main()` makes SIGTERM
unwind like Ctrl-C before running the app.
"""

from __future__ import annotations

import signal

import typer

from rag.apps.cli.bench import bench_app
from rag.apps.cli.brief import brief
from rag.apps.cli.corpus import ask, index, search, serve
from rag.apps.cli.eval import eval_app
from rag.apps.cli.feeds import feeds_app

app = typer.Typer(
    help="Question answering with cited passages over a corpus of news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (index, search, ask, serve, brief):
    app.command()(command)
app.add_typer(feeds_app, name="feeds")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")


def main() -> None:
    # SIGTERM unwinds like Ctrl-C (exit 143), so every `with RagService` stops the local model.
    signal.signal(signal.SIGTERM, terminate)
    app()


def terminate(signum: int, frame: object) -> None:
    typer.echo("terminated", err=True)
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
