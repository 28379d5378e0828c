"""Stage 4b: the pure ranking steps retrieval applies to its candidates, in order.

Fuse the vector and BM25 lists by weighted reciprocal rank, favour the question's date window,
keep a few passages per article (wire copies of one story once), and merge a chosen passage
with its overlapping neighbours. No store, no model: each step is a function of passages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from rag.types import Passage, day_number

RRF_K = 60.0


WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def date_window(question: str, as_of: str | None) -> tuple[date, date] | None:
    """The days a question's relative date means, counted back from the day it was asked."""
    if not as_of:
        return None
    try:
        asked = date.fromisoformat(as_of)
    except ValueError:
        return None
    text = question.lower()
    if "yesterday" in text:
        return asked - timedelta(days=1), asked - timedelta(days=1)
    if "today" in text or "tonight" in text:
        return asked - timedelta(days=1), asked
    if "last week" in text:
        return asked - timedelta(days=14), asked - timedelta(days=6)
    for index, name in enumerate(WEEKDAYS):
        if re.search(rf"\b(last|on|this past) {name}\b", text):
            back = (asked.weekday() - index) % 7 or 7
            day = asked - timedelta(days=back)
            return day - timedelta(days=1), day + timedelta(days=1)
    if "this month" in text or "last month" in text:
        return asked - timedelta(days=35), asked
    if "this year" in text:
        return asked - timedelta(days=365), asked
    # "this week", "recently", or nothing said: a news question is about the days before it.
    return asked - timedelta(days=8), asked


def fuse(ranked_lists: list[tuple[float, list[Passage]]]) -> list[Passage]:
    """Weighted reciprocal-rank fusion; a passage keeps its best vector similarity.

    (llama-index's QueryFusionRetriever has RRF too, but without weights, and it wants an LLM.)
    """
    scores: dict[str, float] = {}
    best: dict[str, Passage] = {}
    for weight, passages in ranked_lists:
        for rank, passage in enumerate(passages):
            scores[passage.chunk_id] = scores.get(passage.chunk_id, 0.0) + weight / (RRF_K + rank + 1)
            known = best.get(passage.chunk_id)
            if known is None or passage.similarity > known.similarity:
                best[passage.chunk_id] = passage
    if len(ranked_lists) == 1:
        return ranked_lists[0][1]
    ordered = sorted(scores, key=lambda chunk_id: scores[chunk_id], reverse=True)
    return [replace(best[chunk_id], score=round(scores[chunk_id], 6)) for chunk_id in ordered]


def boost_window(passages: list[Passage], window: tuple[date, date], boost: float) -> list[Passage]:
    first, last = window[0].toordinal(), window[1].toordinal()

    def boosted(passage: Passage) -> Passage:
        inside = first <= day_number(passage.published) <= last
        return replace(passage, score=round(passage.score * (1 + boost), 6)) if inside else passage

    return sorted((boosted(p) for p in passages), key=lambda p: p.score, reverse=True)


@dataclass
class _Seen:
    per_article: dict[str, int] = field(default_factory=dict)
    shingles: list[frozenset[str]] = field(default_factory=list)


def diversify(passages: list[Passage], k: int, per_article: int, max_overlap: float) -> list[Passage]:
    """Top k with at most `per_article` passages of one article, and no wire copies.

    When too few other articles qualify (a one-article corpus), the article's further
    passages fill the remaining places, in rank order.
    """
    seen = _Seen()
    chosen: list[Passage] = []
    held_back: list[Passage] = []
    for passage in passages:
        marks = shingles(passage.text)
        if any(overlap(marks, other) >= max_overlap for other in seen.shingles):
            continue  # the same story, already chosen from another outlet or chunk
        if seen.per_article.get(passage.doc_id, 0) >= per_article:
            held_back.append(passage)
            continue
        chosen.append(passage)
        seen.per_article[passage.doc_id] = seen.per_article.get(passage.doc_id, 0) + 1
        seen.shingles.append(marks)
        if len(chosen) == k:
            return chosen
    order = {passage.chunk_id: rank for rank, passage in enumerate(passages)}
    chosen += held_back[: k - len(chosen)]
    return sorted(chosen, key=lambda passage: order[passage.chunk_id])


def merge_neighbours(chosen: list[Passage], candidates: list[Passage], limit: int) -> list[Passage]:
    """Each chosen passage grown by up to `limit` unchosen candidates of its article that overlap
    or touch its span (chunks overlap by design), so the text stays `article.text[start:end]`."""
    if limit <= 0:
        return chosen
    taken = {passage.chunk_id for passage in chosen}
    merged = []
    for passage in chosen:
        pool = [c for c in candidates if c.doc_id == passage.doc_id and c.chunk_id not in taken]
        added = 0
        grew = True
        while grew and added < limit:
            grew = False
            for other in pool:
                joined = join_spans(passage, other)
                if other.chunk_id not in taken and joined is not None:
                    passage, added, grew = joined, added + 1, True
                    taken.add(other.chunk_id)
                    break
        merged.append(passage)
    return merged


def join_spans(passage: Passage, other: Passage) -> Passage | None:
    """The union of two spans of one article when they overlap or touch; None otherwise."""
    if other.start > passage.end or other.end < passage.start:
        return None
    if other.start < passage.start:
        text = other.text[: passage.start - other.start] + passage.text
        start = other.start
    else:
        text, start = passage.text, passage.start
    end = start + len(text)
    if other.end > end:
        text += other.text[end - other.start :]
        end = other.end
    return replace(passage, text=text, start=start, end=end)


def shingles(text: str, size: int = 5) -> frozenset[str]:
    words = re.findall(r"\w+", text.lower())
    return frozenset(" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1)))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0
