"""One conversation's state: the turns kept in the user's `gr.State`, and those turns as a briefing.

A `Turn` is stored as a plain dict between events (`asdict` / `Turn.load`), so that every
user's conversation stays in their own session and never in a module. The answered, refused
and failed turns make the briefing a user can copy (one answer) or download (the conversation).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rag.briefings.model import DEFAULT_TITLE, Briefing, Section


@dataclass
class Turn:
    """One question and its answer, as kept in the user's gr.State."""

    question: str
    answer: str = ""  # the raw answer (history for follow-ups)
    message: str = ""  # the Markdown shown in the chat (and copied)
    sources: str = ""  # the HTML of the sources panel for this turn
    ok: bool = False  # answered or refused without an error: usable as history
    section: dict[str, Any] | None = None  # the turn as a briefing section (briefing.Section)
    model: str = ""  # the LLM that wrote the answer
    collection: str = ""

    @classmethod
    def load(cls, data: dict[str, Any]) -> "Turn":
        return cls(**data)


def conversation_briefing(turns: Sequence[Turn], when: date | None = None) -> Briefing | None:
    """The answered, refused and failed turns as one briefing, in order; None before any."""
    briefed = [turn for turn in turns if turn.section is not None]
    if not briefed:
        return None
    return Briefing(
        title=DEFAULT_TITLE,
        date=when or date.today(),
        collection=", ".join(dict.fromkeys(turn.collection for turn in briefed if turn.collection)),
        model="; ".join(dict.fromkeys(turn.model for turn in briefed if turn.model)) or "none",
        sections=tuple(Section.from_dict(turn.section) for turn in briefed if turn.section),
    )
