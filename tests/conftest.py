"""Shared fixtures: real Chroma in a temporary folder, the real bundled embedding model."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from rag.service import RagService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_fdd942f0bee30b84.txt"
DATA = Path(__file__).resolve().parent / "data"
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
GANJA_QUESTION = "How many civilians were killed in the attack on Ganja on October 11?"
WORLD_CUP_QUESTION = "Who won the 2018 football World Cup final?"


def ctrl_c_as_in_a_terminal() -> None:
    """`preexec_fn` for a child that a test interrupts with SIGINT: a job started in the
    background ignores SIGINT and hands that on to its children (so would this test run's, under
    `cmd &`); a terminal's Ctrl-C reaches a program with the default handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_settings(tmp: Path, **overrides: object) -> Settings:
    return Settings(index_dir=tmp / "index", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, driven by Playwright; one per test module."""
    from .webapp import launch_chromium

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rag")


@pytest.fixture(scope="session")
def seeded_service(session_tmp: Path) -> Iterator[RagService]:
    """One service over the seed article, shared by the tests that only read."""
    with RagService(make_settings(session_tmp, llm="extractive")) as service:
        report = service.index([SEEDS], show_progress=False)
        assert report.added == 1
        yield service


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the seed plus the hand-made articles."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED_FILE, folder / SEED_FILE.name)
    for file in (DATA / "articles").iterdir():
        shutil.copy(file, folder / file.name)
    return folder
