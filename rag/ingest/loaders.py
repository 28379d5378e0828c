"""Stage 1: load news articles from files (txt, md, html, json, jsonl, csv) into `Article`s.

A loader never raises on bad input: each problem becomes a `LoadProblem` naming the file (and
line), and everything else loads.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.parsing import (
    MAX_ARTICLE_BYTES,
    human_size,
    parse_html,
    parse_markdown,
    parse_plain_text,
    parse_records,
)
from rag.types import Article, LoadProblem

TEXT_SUFFIXES = {".txt", ".text", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES


MAX_FILE_BYTES = 64 * 1024 * 1024  # a file of records (JSONL, CSV, …) may hold a whole corpus


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


def load_corpus(paths: Iterable[Path]) -> LoadResult:
    """Load every supported file under the given files/directories; duplicate doc_ids keep the first."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            broken = "a symbolic link loop or a broken link" if path.is_symlink() else None
            result.problems.append(LoadProblem(str(path), broken or "no such file or directory"))
            continue
        root = path.resolve() if path.is_dir() else path.resolve().parent
        result.roots.append(path.resolve())
        for file in _iter_files(path, result.problems):
            for item in load_file(file, root):
                if isinstance(item, LoadProblem):
                    result.problems.append(item)
                elif item.doc_id in seen:
                    result.problems.append(
                        LoadProblem(
                            str(file),
                            f"duplicate doc_id {item.doc_id!r} (first in {seen[item.doc_id]}); skipped",
                        )
                    )
                else:
                    seen[item.doc_id] = str(file)
                    result.articles.append(item)
    return result


def _iter_files(path: Path, problems: list[LoadProblem]) -> Iterator[Path]:
    if path.is_file():
        yield path
        return

    def unreadable(err: OSError) -> None:
        problems.append(LoadProblem(str(err.filename or path), f"cannot read folder: {err.strerror or err}"))

    # followlinks=False: a symlink loop cannot send the walk round in circles; linked folders
    # are reported, not silently passed over.
    for dirpath, dirnames, filenames in os.walk(path, onerror=unreadable, followlinks=False):
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            dirnames.remove(name)
            if not name.startswith("."):
                problems.append(LoadProblem(os.path.join(dirpath, name), _link_problem(dirpath, name)))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = Path(dirpath) / name
            if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(LoadProblem(str(file), f"unsupported file type {file.suffix!r}; skipped"))
                continue
            yield file


def _link_problem(dirpath: str, name: str) -> str:
    try:
        target = Path(dirpath, name).resolve(strict=True)
        here = Path(dirpath).resolve()
    except (OSError, RuntimeError):
        return "symbolic link loop (or a broken link); skipped"
    if target == here or target in here.parents:
        return "symbolic link loop (to a folder that contains it); skipped"
    return "symbolic link to a folder, not followed; skipped (index its target directly)"


def load_file(file: Path, root: Path) -> Iterator[Article | LoadProblem]:
    """Articles (or problems) from one file; `root` makes file doc_ids relative paths."""
    suffix = file.suffix.lower()
    limit = MAX_FILE_BYTES if suffix in RECORD_SUFFIXES else MAX_ARTICLE_BYTES
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            yield LoadProblem(str(file), "not a regular file (a pipe, socket or device); skipped")
            return
        if info.st_size > limit:
            what = "a file of records" if suffix in RECORD_SUFFIXES else "one article (split it)"
            size = f"{human_size(info.st_size)}, over the {human_size(limit)} limit for {what}"
            yield LoadProblem(str(file), f"{size}; skipped")
            return
        raw = file.read_bytes()
        origin = str(file.resolve())
    except (OSError, RuntimeError) as err:  # RuntimeError: pathlib's "Symlink loop"
        yield LoadProblem(str(file), f"cannot read: {getattr(err, 'strerror', None) or err}")
        return
    if b"\x00" in raw[:8192]:
        yield LoadProblem(str(file), "binary file, not text; skipped")
        return
    text, encoding_note = decode_text(raw)
    if encoding_note:
        yield LoadProblem(str(file), encoding_note)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        yield LoadProblem(str(file), "empty file, no article text; skipped")
        return
    try:
        doc_id = file.resolve().relative_to(root).as_posix()
    except ValueError:
        doc_id = file.name
    if suffix in RECORD_SUFFIXES:
        yield from parse_records(text, suffix, str(file), origin)
        return
    if suffix in HTML_SUFFIXES:
        article = parse_html(text, doc_id, origin)
    elif suffix in MARKDOWN_SUFFIXES:
        article = parse_markdown(text, doc_id, origin)
    else:
        article = parse_plain_text(text, doc_id, origin)
    if not article.text.strip():
        yield LoadProblem(str(file), "no article text; skipped")
    else:
        yield article


def decode_text(raw: bytes) -> tuple[str, str | None]:
    """UTF-8 when it is; else Windows-1251 when the text reads as Cyrillic, else cp1252 (a
    superset of latin-1 for text), with a note saying so."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    # Bytes 0xC0-0xFF are Cyrillic letters in cp1251 and accented Latin ones in cp1252: in
    # Western text they are a few among ASCII letters; in Russian, Ukrainian, … most letters.
    high_letters = len(raw) - len(raw.translate(None, _CP1251_LETTERS))
    ascii_letters = len(raw) - len(raw.translate(None, _ASCII_LETTERS))
    if high_letters > ascii_letters:
        try:
            return raw.decode("cp1251"), "not UTF-8; read as Windows-1251 (Cyrillic)"
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("cp1252"), "not UTF-8; read as Windows-1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "not UTF-8; read as Latin-1"


_CP1251_LETTERS = bytes(range(0xC0, 0x100)) + b"\xa8\xb8"  # А-я, Ё, ё
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
