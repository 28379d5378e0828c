"""What every `rag` subcommand shares: the one-line errors, opening the pipeline, the filters.

`friendly_errors` turns any failure into one clear line and an exit code; `open_service`
checks what the user typed before the heavy stack (torch, chromadb, llama-index) loads (the
filters are checked by rag.inputs.check_filters, as light); the option types keep
`--collection`, `--k`, `--llm`, `--quiet` and the filters spelled the same in every command;
`finish_index` ends the commands that index (`rag index`, `rag feeds`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer

from rag.errors import RagError
from rag.inputs import check_collection_name
from rag.settings import load_settings

if TYPE_CHECKING:  # the heavy stack (torch, chromadb, llama-index) loads only once input is checked
    from rag.service import RagService

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
LlmOpt = Annotated[LlmOption | None, typer.Option("--llm", help="Generator [default: auto]")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
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
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # the command's own exit code (partial: 1, LLM failed: 4), or click's usage errors
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as err:
            if _debug_requested():
                raise
            typer.echo(
                f"error: unexpected {type(err).__name__}: {err} (set RAG_DEBUG=1 for details)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_service(**overrides: object) -> RagService:
    """The pipeline for these settings (heavy imports happen here, after the input checks)."""
    settings = load_settings(**overrides)
    check_collection_name(settings.collection)
    from rag.service import RagService

    return RagService(settings)


def _debug_requested() -> bool:
    """RAG_DEBUG=1: the traceback instead of the one-line error (False when settings are bad)."""
    try:
        return load_settings().debug
    except RagError:
        return False


def finish_index(collection: str, summary: str, problems: list[Any]) -> None:
    """The warnings, the summary line, and exit 1 ("partial") when anything was skipped."""
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    typer.echo(f"{collection}: {summary}")
    if problems:
        typer.echo(f"partial: {len(problems)} problem(s) above; the rest is indexed.", err=True)
        raise typer.Exit(EXIT_PARTIAL)
