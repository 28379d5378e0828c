"""The data that passes between the stages: light types any stage (and the CLI, before anything
heavy loads) can import without pulling in Chroma, llama-index or a model.

`Passage` is what retrieval hands the answerer, `Filters` what a user (or a question set's date)
asks retrieval to keep to, `PassageSource` what the answerer needs of a retriever. An `Answer`
carries its `Citation`s; `Answerer.stream` yields the `Event`s (Retrieved, Draft, Sentence, Done)
that the CLI and the web chat show as the answer forms. `Article` is what ingest loads (with a
`LoadProblem` for what it could not).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Protocol


def day_number(iso_date: str) -> int:
    """Days since 0001-01-01 (0 when unknown): lets the store filter date ranges numerically."""
    try:
        return date.fromisoformat(iso_date).toordinal()
    except ValueError:
        return 0


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk: a verbatim span `text == article.text[start:end]` of a named article."""

    doc_id: str
    title: str
    source: str
    author: str
    published: str
    url: str
    text: str
    start: int
    end: int
    score: float
    chunk_id: str = ""
    similarity: float = 0.0  # the vector side's score (0 when only BM25 found it)

    def public(self) -> dict[str, object]:
        """The fields `rag search --json` prints."""
        data = asdict(self)
        data.pop("chunk_id")
        data.pop("similarity")
        return data


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    since: str | None = None  # ISO date, inclusive
    until: str | None = None
    # The date the question was asked: "this week" resolves against it, later news is excluded.
    as_of: str | None = None

    def hard_bounds(self) -> tuple[int | None, int | None]:
        """The user's date range, applied inside both searches."""
        return (
            day_number(self.since) if self.since else None,
            day_number(self.until) if self.until else None,
        )

    def published_by_then(self, passage: Passage) -> bool:
        """As of the question's date: news published later cannot be what it asks about.

        Applied to a doubled candidate pool rather than in Chroma's query: a `where` clause
        costs Chroma ~100 ms at 19k chunks, the pool costs nothing. Undated articles stay.
        """
        day = day_number(passage.published)
        return not self.as_of or day == 0 or day <= day_number(self.as_of)


class PassageSource(Protocol):
    """What the answerer needs of a retriever (rag eval wraps one to record what it found)."""

    def retrieve(self, question: str, k: int, filters: Filters | None = None) -> list[Passage]: ...


@dataclass(frozen=True)
class LlmInfo:
    backend: str  # local | openai | openai-compatible | extractive
    model: str

    def label(self) -> str:
        return f"{self.backend}: {self.model}"


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    source: str
    author: str
    published: str
    url: str
    quote: str  # == article.text[start:end]
    start: int
    end: int
    score: float


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    llm: LlmInfo
    timings: dict[str, float] = field(default_factory=dict)
    search_query: str = ""
    error: str | None = None
    draft: str = ""  # what the model wrote, before attribution kept or dropped its sentences

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "answer": self.answer,
            "draft": self.draft,
            "refused": self.refused,
            "citations": [asdict(citation) for citation in self.citations],
            "llm": {"backend": self.llm.backend, "model": self.llm.model},
            "timings": self.timings,
            "error": self.error,
        }


@dataclass(frozen=True)
class Retrieved:
    passages: list[Passage]
    search_query: str


@dataclass(frozen=True)
class Draft:
    text: str  # the sentence being written, provisional


@dataclass(frozen=True)
class Sentence:
    text: str  # final, with its marker


@dataclass(frozen=True)
class Done:
    answer: Answer


Event = Retrieved | Draft | Sentence | Done


@dataclass(frozen=True)
class Article:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    author: str = ""
    published: str = ""  # ISO date (YYYY-MM-DD) or "" when unknown
    url: str = ""
    origin: str = ""  # absolute path of the file it came from

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is embedded or shown changes."""
        payload = "\x1f".join(
            [self.doc_id, self.title, self.source, self.author, self.published, self.url, self.text]
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class LoadProblem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"
