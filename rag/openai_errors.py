"""Retries and the line a user reads, for any server spoken to through the OpenAI protocol.

The LLM (rag/answering/llm.py) and the embedding server (rag/store/embed_server.py) fail in
the same ways: a wrong key, a rate limit, a missing model, a server down, a reply in another
format. One mapping turns each into a sentence that names the server and the setting to check;
a `ServerKind` holds the words that differ between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import openai

# Retried before the first word arrives: rate limits, server errors, a refused connection.
RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
MAX_RETRIES = 3  # after 0.5, 1 and 2 s (or what Retry-After asks), within the time budget
FIRST_BACKOFF = 0.5


@dataclass(frozen=True)
class ServerKind:
    """What a message says about one kind of server."""

    name: str  # "LLM server"
    short: str  # "LLM": "Cannot reach the LLM at …"
    api: str  # "chat API": "… has no chat API or no model …"
    serves: str  # "chat completions": "… check that it serves chat completions"
    base_url_setting: str
    model_setting: str
    key_setting: str
    timeout_setting: str
    unreachable_hint: str  # after "is it running?"
    rate_limit_hint: str  # how to send less, or wait longer
    verb: str  # "ask" again, "run" again
    reply: str  # the connection broke off mid-"answer"


def failure_message(
    err: Exception,
    kind: ServerKind,
    *,
    where: str,
    model: str,
    tries: int,
    spent: float,
    timeout: float,
    asked: float = 0.0,
    servers: str | None = None,
) -> str:
    """The one line a user reads for a failed request (`asked`: a Retry-After too long to wait).

    A timeout is the caller's own message (it names the budget spent); everything else is here.
    """
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        return (
            f"The {kind.name} at {where} rejected the API key ({err.status_code}): check {kind.key_setting}."
        )
    if isinstance(err, openai.RateLimitError):
        if asked:
            return (
                f"The {kind.name} is rate-limiting (429) and asks to wait {asked:.0f} s, longer than "
                f"{kind.timeout_setting} ({timeout:g} s) allows: {kind.verb} again later."
            )
        return (
            f"The {kind.name} at {where} is still rate-limiting (429) after {tries} tries in {spent:.1f} s: "
            f"wait a minute and {kind.verb} again ({kind.rate_limit_hint})."
        )
    if isinstance(err, openai.NotFoundError):
        return (
            f"The {kind.name} at {where} has no {kind.api} or no model {model!r} (404): "
            f"check {kind.base_url_setting} (it usually ends in /v1) and {kind.model_setting}."
        )
    if isinstance(err, openai.APIConnectionError):
        return f"Cannot reach the {kind.short} at {servers or where}: is it running? {kind.unreachable_hint}"
    if isinstance(err, openai.APIStatusError):
        again = f" {tries} times" if tries > 1 else ""
        return (
            f"The {kind.name} at {where} failed{again} ({err.status_code}: {err.message}): "
            f"{kind.verb} again later."
        )
    if isinstance(err, openai.APIError):
        return f"The {kind.name} at {where} failed: {err.message}"
    if isinstance(err, httpx.TransportError):
        return (
            f"The connection to the {kind.name} broke off mid-{kind.reply} ({type(err).__name__}): "
            f"{kind.verb} again."
        )
    return (
        f"The {kind.name} at {where} sent a reply that is not in the OpenAI format "
        f"({type(err).__name__}): check {kind.base_url_setting} and that it serves {kind.serves}."
    )


def is_timeout(err: Exception) -> bool:
    return isinstance(err, openai.APITimeoutError | httpx.TimeoutException)


def retry_wait(err: Exception, tries: int) -> float:
    """Seconds before the next try: the server's Retry-After when it gives one, else exponential."""
    asked = retry_after(err)
    return asked if asked is not None else FIRST_BACKOFF * 2 ** (tries - 1)


def retry_after(err: Exception) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name)) * scale)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return None
