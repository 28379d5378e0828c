"""Generated corpora for the reliability tests: many small, distinct, deterministic articles."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

TOWNS = ["Arden", "Belmora", "Castlereach", "Dunmore", "Elsworth", "Farrow", "Glenrock", "Harlow"]
TOPICS = [
    ("bridge", "engineers", "opened a new bridge", "cost {n} million euros"),
    ("flood", "rescue teams", "evacuated {n} residents", "after the river rose two metres"),
    ("election", "voters", "elected a new mayor", "with {n} percent of the vote"),
    ("festival", "organisers", "counted {n} visitors", "over three days of music"),
    ("factory", "workers", "went on strike", "demanding a raise of {n} percent"),
    ("school", "teachers", "opened {n} new classrooms", "funded by the regional council"),
]
FILLER = [
    "Officials said the work would continue through the winter.",
    "Residents gathered in the square to hear the announcement.",
    "The regional council is expected to review the budget next month.",
    "Local businesses reported a rise in trade during the week.",
    "A spokesperson declined to comment on the timetable.",
    "Police closed two roads near the town centre for several hours.",
    "The weather service forecast heavy rain for the coming days.",
    "Historians noted that the town had faced similar events before.",
]


def article_text(number: int) -> str:
    rng = random.Random(number)
    town = TOWNS[number % len(TOWNS)]
    topic, who, did, detail = TOPICS[number % len(TOPICS)]
    amount = rng.randint(2, 900)
    month = rng.choice(["March", "April", "May", "June"])
    lines = [
        "By The Test Courier",
        "",
        f"By Reporter {number:03d}",
        "",
        f"{who.capitalize()} in {town} {did.format(n=amount)} on {month} {number % 27 + 1}, "
        f"{detail.format(n=amount)}, in story number {number}.",
    ]
    body = rng.sample(FILLER, k=len(FILLER))
    for paragraph in range(rng.randint(2, 4)):
        lines += ["", " ".join(body[paragraph * 2 : paragraph * 2 + 2])]
    if number % 3 == 0:  # a longer story: several chunks, so it can straddle two writes
        for paragraph in range(12):
            lines += ["", f"Update {paragraph + 1} on story {number}: " + " ".join(rng.sample(FILLER, k=3))]
    lines += ["", f"The {topic} in {town} was the town's main news item number {number} this season."]
    return "\n".join(lines) + "\n"


def write_corpus(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (folder / f"story_{number:04d}.txt").write_text(article_text(number), encoding="utf-8")
    return folder


def stored_ids(index_dir: Path) -> set[str] | None:
    """The chunk ids Chroma holds, read straight from its SQLite file; None while it is locked."""
    database = index_dir / "chroma.sqlite3"
    if not database.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return {row[0] for row in connection.execute("SELECT embedding_id FROM embeddings")}
    except sqlite3.Error:
        return None


def stored_rows(index_dir: Path) -> int:
    """Chunks Chroma has taken in so far, read straight from its SQLite file (read-only)."""
    database = index_dir / "chroma.sqlite3"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return int(connection.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.Error:
        return 0
