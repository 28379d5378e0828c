"""Adding articles from the page: uploaded files and fetched URLs, indexed into a collection.

Uploads are copied under index_dir/uploads/<collection>/ before indexing; a URL (a feed or an
article page) is fetched only when RAG_ALLOW_FETCH=1. Either way the user gets the same
Markdown summary: the counts, one line per article read, and what was rejected and why.
"""

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.apps.web.render import md_escape
from rag.ingest.indexing import IndexReport
from rag.ingest.loaders import SUPPORTED_SUFFIXES, load_corpus
from rag.service import RagService
from rag.types import Article

UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson", ".csv"]


def upload_dir(service: RagService, collection: str) -> Path:
    return service.settings.index_dir / "uploads" / collection


def add_files(service: RagService, collection: str, files: Sequence[str]) -> tuple[str, IndexReport | None]:
    """Copy uploads under index_dir/uploads/<collection>/ and index them; a Markdown summary."""
    rejected: list[str] = []
    accepted: list[Path] = []
    target = upload_dir(service, collection)
    for file in files:
        path = Path(file)
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.suffix:
            rejected.append(f"{md_escape(path.name)}: not an article file (use {', '.join(UPLOAD_TYPES)})")
            continue
        target.mkdir(parents=True, exist_ok=True)
        accepted.append(Path(shutil.copyfile(path, target / path.name)))
    report = service.index(accepted, collection, show_progress=True) if accepted else None
    articles = load_corpus(accepted).articles if report is not None else []
    summary = index_summary(collection, report, articles, rejected, where=lambda path: Path(path).name)
    return summary or "No files.", report


def add_url(service: RagService, collection: str, url: str) -> tuple[str, IndexReport | None]:
    """Fetch a feed's articles or an article page into the collection (RAG_ALLOW_FETCH=1 only;
    public addresses only unless RAG_FETCH_ALLOW_PRIVATE=1); the same summary as uploads."""
    url = url.strip()
    if not url:
        return "Type the URL of a feed (RSS, Atom) or of an article.", None
    fetched = service.fetch_and_index([url], collection, web=True, show_progress=True)
    summary = index_summary(collection, fetched.index, fetched.articles, [], where=str)
    return summary, fetched.index


def index_summary(
    collection: str,
    report: IndexReport | None,
    articles: Sequence[Article],
    rejected: list[str],
    where: Callable[[str], str],
) -> str:
    """Markdown: the counts, one line per article read, and what was rejected and why."""
    lines: list[str] = []
    if report is not None:
        lines.append(
            f"**Added to “{md_escape(collection)}”:** {report.added} new, {report.updated} updated, "
            f"{report.unchanged} unchanged article(s); {report.chunks_embedded} chunks embedded, "
            f"{report.chunks_total} in the collection ({report.seconds:.1f} s)."
        )
        for article in articles:
            facts = ", ".join(md_escape(part) for part in (article.source, article.published) if part)
            lines.append(
                f"- *{md_escape(article.title or article.doc_id)}*"
                + (f" — {facts}" if facts else "")
                + f" ({md_escape(where(article.origin))})"
            )
        for problem in report.problems:
            place = where(problem.path) + (f":{problem.line}" if problem.line is not None else "")
            rejected.append(f"{md_escape(place)}: {md_escape(problem.message)}")
    if rejected:
        lines += ["", "**Rejected:**", *(f"- {line}" for line in rejected)]
    return "\n".join(lines)
