"""Reliability of the web chat (rag/web.py, app.py, `rag serve`)."""

import inspect

from rag import cli, web


def test_default_host_is_loopback() -> None:
    """Every way of starting the chat binds 127.0.0.1 unless told otherwise."""
    for func in (cli.serve, web.launch, web.serve):
        host = inspect.signature(func).parameters["host"].default
        default = getattr(host, "default", host)  # typer.Option wraps it in Annotated metadata
        assert default == "127.0.0.1", func
