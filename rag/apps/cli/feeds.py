"""`rag feeds`: the feeds a collection follows (add, list, refresh, remove).

Each command opens the collection's pipeline and prints what changed; `refresh --every` repeats
until Ctrl-C, with the interval parsed here (`90s`, `15m`, `1h`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from rag.apps.cli.common import CollectionOpt, QuietOpt, finish_index, friendly_errors, open_service
from rag.errors import UsageError

feeds_app = typer.Typer(
    help="Feeds a collection follows: add, list, refresh (conditional GET), remove.", no_args_is_help=True
)
FeedUrlArg = Annotated[str, typer.Argument(help="The feed's URL (RSS or Atom).", show_default=False)]


@feeds_app.command("add")
@friendly_errors
def feeds_add(
    url: FeedUrlArg,
    collection: CollectionOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Follow a feed and index its articles now."""
    service = open_service(collection=collection)
    report = service.add_feed(url, show_progress=not quiet)
    if url.strip() in service.followed_feeds():
        typer.echo(f"following {url.strip()}", err=True)
    finish_index(service.settings.collection, report.summary(), report.index.problems)


@feeds_app.command("list")
@friendly_errors
def feeds_list(collection: CollectionOpt = None) -> None:
    """The feeds the collection follows, with their article counts and last check."""
    service = open_service(collection=collection)
    feeds = service.followed_feeds()
    if not feeds:
        typer.echo(f"{service.settings.collection}: no feeds (add one with `rag feeds add URL`)")
        return
    for url, record in sorted(feeds.items()):
        title = f"  {record.title}" if record.title else ""
        typer.echo(f"{url}{title}")
        typer.echo(
            f"    {len(record.doc_ids)} article(s); checked {record.checked or 'never'}: "
            f"{record.status or 'not yet'}"
        )


@feeds_app.command("refresh")
@friendly_errors
def feeds_refresh(
    collection: CollectionOpt = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Refresh again after this long, until Ctrl-C: 90s, 15m, 1h.")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Fetch the followed feeds (unchanged ones cost a 304) and index new and edited articles."""
    import time
    from datetime import datetime

    interval = parse_interval(every) if every else None
    service = open_service(collection=collection)
    name = service.settings.collection
    if interval is None:
        report = service.refresh_feeds(show_progress=not quiet)
        finish_index(name, report.summary(), report.index.problems)
        return
    while True:  # Ctrl-C: friendly_errors prints "interrupted" and exits 130
        report = service.refresh_feeds(show_progress=False)
        for problem in report.index.problems:
            typer.echo(f"warning: {problem}", err=True)
        typer.echo(f"{datetime.now():%Y-%m-%d %H:%M:%S} {name}: {report.summary()}")
        time.sleep(interval)


def parse_interval(text: str) -> float:
    """Seconds in `90`, `90s`, `15m`, `1h` (at least 1 s)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text.lower())
    if not match or float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]] < 1:
        raise UsageError(f"--every {text!r} is not a duration: use e.g. 90s, 15m or 1h.")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@feeds_app.command("remove")
@friendly_errors
def feeds_remove(url: FeedUrlArg, collection: CollectionOpt = None) -> None:
    """Stop following a feed and delete its articles (not those another followed feed brought)."""
    service = open_service(collection=collection)
    removal = service.remove_feed(url)
    kept = f"; {removal.kept} kept (also in another followed feed)" if removal.kept else ""
    typer.echo(
        f"{service.settings.collection}: no longer following {url.strip()}; "
        f"{removal.articles} article(s) removed ({removal.chunks} chunks){kept}"
    )
