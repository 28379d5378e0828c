"""Checks on what a user types, light enough to run before any model or store is loaded."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rag.errors import UsageError
from rag.ingest.loaders import decode_text
from rag.ingest.parsing import normalise_date
from rag.types import Filters

MAX_QUESTION_CHARS = 2000
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


def check_question(question: str) -> str:
    question = " ".join(_valid_text(question).split())
    if not question:
        raise UsageError("The question is empty: type a question about the news articles.")
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"The question is {len(question):,} characters long; keep it under {MAX_QUESTION_CHARS:,}."
        )
    if not re.search(r"\w", question):
        raise UsageError("The question has no words: type a question about the news articles.")
    return question


def _valid_text(text: str) -> str:
    """Text with no lone surrogates: those are bytes a terminal sent that were not UTF-8 (Python
    keeps them as surrogates in argv: decoded here like a corpus file), or broken JSON escapes."""
    if not SURROGATE.search(text):
        return text
    try:
        return decode_text(text.encode("utf-8", "surrogateescape"))[0]
    except UnicodeEncodeError:
        return SURROGATE.sub("\ufffd", text)


SURROGATE = re.compile("[\ud800-\udfff]")


def check_collection_name(name: str) -> str:
    if not COLLECTION_NAME.match(name):
        raise UsageError(
            f"Invalid collection name {name!r}: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit."
        )
    return name


def existing_questions_file(path: Path) -> Path:
    """A questions file that exists, checked before the heavy evaluation modules load."""
    if not path.is_file():
        raise UsageError(f"No such questions file: {path}")
    return path


def check_date_range(
    since: str | None, until: str | None, names: tuple[str, str] = ("--since", "--until")
) -> tuple[str | None, str | None]:
    """Both dates as YYYY-MM-DD (None stays None); `names` name them in the error as the user
    typed them (CLI flags or the web chat's fields)."""
    for name, value in zip(names, (since, until), strict=True):
        if value and not normalise_date(value):
            raise UsageError(f"{name} {value!r} is not a date: use YYYY-MM-DD.")
    return (normalise_date(since) if since else None, normalise_date(until) if until else None)


def check_filters(
    sources: Sequence[str] | None,
    since: str | None,
    until: str | None,
    date_names: tuple[str, str] = ("--since", "--until"),
) -> Filters | None:
    """The user's outlet and date filters, checked; None when none is set."""
    since, until = check_date_range(since, until, date_names)
    if not (sources or since or until):
        return None
    return Filters(sources=tuple(sources or ()), since=since, until=until)


LANGUAGE_HINT = "The articles are in English: asking in English may find the answer."
# Words nearly every English question has (not "a", "an", "in", "was", "do": other languages'
# words too).
ENGLISH_WORDS = frozenset(
    """the of on at to is are were be been has have had how what who whom whose when where why
    which did does many much and or for with by from""".split()  # noqa: SIM905
)


def not_english(question: str) -> bool:
    """Mostly non-Latin letters, or four words and more with none of English's common ones."""
    letters = [char for char in question if char.isalpha()]
    if not letters:
        return False
    if sum(not ("a" <= char.lower() <= "z") for char in letters) > 0.3 * len(letters):
        return True
    words = re.findall(r"[^\W\d_]+", question.lower())
    return len(words) >= 4 and not ENGLISH_WORDS.intersection(words)
