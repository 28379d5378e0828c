"""Bad questions: empty, 100 KB long, only punctuation, another language. Each gets a clear
message or a clear answer, through the Answerer and through `rag ask`; never a traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rag.apps.cli.main import app
from rag.errors import UsageError
from rag.inputs import LANGUAGE_HINT
from rag.service import RagService

from .fake_openai import fake_openai

RUSSIAN = "Сколько мирных жителей погибло при обстреле Гянджи 11 октября?"
AZERBAIJANI = "Oktyabrın 11-də Gəncəyə hücumda neçə mülki şəxs öldürüldü?"
REJECTED = [
    ("", "The question is empty"),
    (" \n\t ", "The question is empty"),
    ("x" * 100_000, "The question is 100,000 characters long; keep it under 2,000."),
    ("How many? " * 10_240, "characters long; keep it under 2,000."),  # 100 KB of words
    ("?!… — ¿¡ ... ;;", "The question has no words"),
    ("🙂🙂🙂", "The question has no words"),
]


@pytest.mark.parametrize(("question", "message"), REJECTED, ids=lambda v: repr(v)[:16])
def test_bad_questions_get_one_clear_message(seeded_service: RagService, question: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("?", r"\?")):
        seeded_service.answerer(backend="extractive").ask(question)


@pytest.mark.parametrize("question", [RUSSIAN, AZERBAIJANI])
def test_a_question_in_another_language_is_refused_with_a_hint(
    seeded_service: RagService, question: str
) -> None:
    answer = seeded_service.answerer(backend="extractive").ask(question)
    assert answer.refused and answer.citations == [] and answer.error is None
    assert answer.answer.startswith("The indexed articles do not answer this question.")
    assert answer.answer.endswith(LANGUAGE_HINT)


def test_an_english_refusal_has_no_language_hint(seeded_service: RagService) -> None:
    answer = seeded_service.answerer(backend="extractive").ask("Who won the 2018 football World Cup final?")
    assert answer.refused and LANGUAGE_HINT not in answer.answer


def test_a_model_answering_in_another_language_is_not_cited_blindly(seeded_service: RagService) -> None:
    """The model may reply in the question's language: unsupported sentences are still dropped."""
    settings = seeded_service.settings.model_copy(update={"llm": "auto", "llm_timeout": 5.0})
    with fake_openai("ok", answer="Десять мирных жителей погибли в Гяндже 11 октября.") as fake:
        local = RagService(settings.model_copy(update={"llm_base_url": fake.base_url}))
        local._retrievers = seeded_service._retrievers
        answer = local.answerer().ask(RUSSIAN)
    assert answer.error is None and answer.refused and answer.answer.endswith(LANGUAGE_HINT)


def test_a_question_with_bytes_that_are_not_utf8(seeded_service: RagService) -> None:
    """A terminal that sends Latin-1: Python hands such argv bytes over as lone surrogates."""
    latin1_terminal = "How many civilians were killed in Ganja on October 11? Caf\udce9"
    answer = seeded_service.answerer(backend="extractive").ask(latin1_terminal)
    assert answer.question.endswith("Café") and not answer.refused
    json.dumps(answer.to_json(), ensure_ascii=False).encode("utf-8")  # printable, storable
    broken_escape = seeded_service.answerer(backend="extractive").ask("Ganja attack \ud800")
    assert broken_escape.question == "Ganja attack \ufffd"


@pytest.fixture(scope="module")
def cli_env(seeded_service: RagService) -> dict[str, str | None]:
    return {"RAG_INDEX_DIR": str(seeded_service.settings.index_dir), "RAG_LLM": "extractive"}


@pytest.mark.parametrize(("question", "message"), REJECTED, ids=lambda v: repr(v)[:16])
def test_rag_ask_bad_question(cli_env: dict[str, str | None], question: str, message: str) -> None:
    result = CliRunner().invoke(app, ["ask", question], env=cli_env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


def test_rag_ask_with_non_utf8_bytes(cli_env: dict[str, str | None]) -> None:
    question = "How many civilians were killed in Ganja on October 11? Z\udcfcrich"
    result = CliRunner().invoke(app, ["ask", question, "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["question"].endswith("Zürich")


@pytest.mark.parametrize("question", [RUSSIAN, AZERBAIJANI])
def test_rag_ask_in_another_language(cli_env: dict[str, str | None], question: str) -> None:
    result = CliRunner().invoke(app, ["ask", question], env=cli_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(LANGUAGE_HINT) and "Traceback" not in result.output


def test_the_cli_and_the_web_chat_check_filters_alike() -> None:
    from rag.apps.web.handlers import WEB_DATE_NAMES
    from rag.inputs import check_filters

    assert check_filters(None, None, None) is None
    both = check_filters(["cnn.com"], "2022-6-1", "2022-06-30")
    assert both is not None and (both.sources, both.since, both.until) == (
        ("cnn.com",),
        "2022-06-01",
        "2022-06-30",
    )
    with pytest.raises(UsageError, match=r"^--until '2022-13-01' is not a date: use YYYY-MM-DD\.$"):
        check_filters(None, None, "2022-13-01")
    with pytest.raises(UsageError, match=r"^The “From” date 'June' is not a date"):
        check_filters(None, "June", None, WEB_DATE_NAMES)


def test_rag_debug_shows_the_traceback_of_an_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.apps.cli import common as cli

    @cli.friendly_errors
    def broken() -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.delenv("RAG_DEBUG", raising=False)
    with pytest.raises(cli.typer.Exit):
        broken()
    monkeypatch.setenv("RAG_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        broken()
