"""Check that the questions in unanswerable.jsonl are absent from the RealTime QA corpus.

For each question, count the articles whose title + text contain ALL its key terms
(case- and accent-insensitive, whole words; a trailing "*" in a term allows any word ending).

- "not-covered": no article may contain all the key terms; the script exits 1 if one does.
- "false-premise": co-occurrence is allowed (the topic is in the corpus); the script prints
  ~200 characters around the first key term of each such article, for a reader to confirm
  that none asserts the false premise.

Usage: python tests/data/check_unanswerable.py [corpus.jsonl ...]
(default: articles.jsonl and articles_full.jsonl of the shared benchmark directory)
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parent / "unanswerable.jsonl"
CORPUS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks" / "realtimeqa"
DEFAULT_CORPORA = [CORPUS_DIR / "articles.jsonl", CORPUS_DIR / "articles_full.jsonl"]
KINDS = ("not-covered", "false-premise")
WINDOW = 100  # characters printed on each side of a false-premise match

Article = tuple[str, str, str, str]  # doc_id, publish_date, title, folded title + text


def fold(text: str) -> str:
    """Lower-case, strip accents, and use a plain apostrophe."""
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


class Term:
    """A key term: a quick substring test, then a whole-word regex."""

    def __init__(self, term: str) -> None:
        folded = fold(term)
        self.literal = folded.removesuffix("*")
        tail = "" if folded.endswith("*") else r"(?!\w)"
        self.pattern = re.compile(r"(?<!\w)" + re.escape(self.literal) + tail)

    def search(self, body: str) -> re.Match[str] | None:
        return self.pattern.search(body) if self.literal in body else None


def load_articles(path: Path) -> list[Article]:
    articles = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            a = json.loads(line)
            title = a.get("title") or ""
            body = fold(title + "\n" + (a.get("text") or ""))
            articles.append((a["doc_id"], a.get("publish_date") or "", title, body))
    return articles


def matching(articles: list[Article], terms: list[Term]) -> list[Article]:
    return [a for a in articles if all(t.search(a[3]) for t in terms)]


def main(argv: list[str]) -> int:
    corpora = [Path(p) for p in argv] or DEFAULT_CORPORA
    loaded = {path.name: load_articles(path) for path in corpora}
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]

    names = list(loaded)
    print(f"{'id':<10} {'kind':<14} " + " ".join(f"{n:>20}" for n in names))
    failures, to_read = [], {}
    for q in questions:
        assert q["kind"] in KINDS and q["answers"] == [] and q["unanswerable"] is True, q["question_id"]
        assert 2 <= len(q["key_terms"]) <= 4, q["question_id"]
        terms = [Term(t) for t in q["key_terms"]]
        hits = {n: matching(arts, terms) for n, arts in loaded.items()}
        print(f"{q['question_id']:<10} {q['kind']:<14} " + " ".join(f"{len(hits[n]):>20}" for n in names))
        found = {a[0]: a for arts in hits.values() for a in arts}  # dedup across corpora
        if found and q["kind"] == "not-covered":
            failures.append(q["question_id"])
        elif found:
            to_read[q["question_id"]] = (q, terms[0], list(found.values()))

    for qid, (q, first, arts) in to_read.items():
        print(f"\n== {qid} {q['question']}  key terms: {q['key_terms']}")
        for doc_id, date, title, body in arts:
            m = first.search(body)
            start, end = (m.start(), m.end()) if m else (0, 0)
            passage = body[max(0, start - WINDOW) : end + WINDOW].replace("\n", " ")
            print(f"  {doc_id} {date} {title[:70]}\n      ...{passage}...")

    kinds = [q["kind"] for q in questions]
    print(
        f"\n{len(questions)} questions ({kinds.count('not-covered')} not-covered, "
        f"{kinds.count('false-premise')} false-premise) in {len(names)} corpora; "
        f"not-covered with all key terms in an article: {len(failures)} {failures}; "
        f"false-premise questions with passages to read: {len(to_read)} "
        f"({sum(len(v[2]) for v in to_read.values())} articles)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
