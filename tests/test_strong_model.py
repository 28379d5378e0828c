"""A strong OpenAI-compatible model writes its own [n] markers and paraphrases: its right
citations survive attribution, and its unsupported claim is still dropped.

The model is `tests/fake_openai.py` replaying such an answer over the real protocol; the
store, the embedding model and the retrieval are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answering.claims import restates_the_question
from rag.ingest.loaders import load_corpus
from rag.service import RagService
from rag.types import Answer, Done, Sentence

from .conftest import GANJA_QUESTION, SEED_FILE, make_settings
from .fake_openai import fake_openai

# Paraphrased (no sentence of the article says "lost their lives" or "were hurt"), markers by
# the model itself; the last claim is in no article.
PARAPHRASE = (
    "Ten civilians lost their lives in Armenia's overnight missile strike on Ganja [1]. "
    "Dozens of others were hurt in the same strike on Azerbaijan's second-largest city [1]. "
    "The United Nations sent 40 doctors to the city [2]."
)


@pytest.mark.parametrize("reader", ["articles", "passages"])
def test_paraphrased_answer_with_its_own_markers_keeps_its_citations(
    tmp_path: Path, corpus: Path, reader: str
) -> None:
    articles = {article.doc_id: article for article in load_corpus([corpus]).articles}
    with fake_openai("ok", answer=PARAPHRASE) as fake:
        settings = make_settings(
            tmp_path, llm="auto", llm_base_url=fake.base_url, llm_timeout=20.0, reader=reader
        )
        with RagService(settings) as service:
            service.index([corpus], show_progress=False)
            answer = service.answerer().ask(GANJA_QUESTION)
    prompt = fake.requests[0]["messages"][-1]["content"]
    assert "[1] “Azerbaijani Armed force act" in prompt and "(Azernews, by Ayya Lmahamad" in prompt
    assert not answer.refused and answer.error is None
    assert answer.answer.startswith("Ten civilians lost their lives")
    assert "Dozens of others were hurt" in answer.answer
    assert "United Nations" not in answer.answer  # unsupported: dropped, markers or not
    assert answer.answer.count("[1]") == 2
    (citation,) = answer.citations
    assert citation.doc_id == SEED_FILE.name
    assert "killing ten civilians and injuring dozens of others" in citation.quote
    assert articles[citation.doc_id].text[citation.start : citation.end] == citation.quote
    assert answer.draft == PARAPHRASE


def test_a_refused_first_reading_is_read_again_from_the_passages(tmp_path: Path, corpus: Path) -> None:
    """RAG_READER=sentences-then-passages: the sentences first; their refusal asks again over the
    headed passages, and that answer is cited as any other."""
    with fake_openai("ok", first_answers=["NOT_IN_CORPUS"], answer=PARAPHRASE) as fake:
        settings = make_settings(
            tmp_path,
            llm="auto",
            llm_base_url=fake.base_url,
            llm_timeout=20.0,
            reader="sentences-then-passages",
        )
        with RagService(settings) as service:
            service.index([corpus], show_progress=False)
            answer = service.answerer().ask(GANJA_QUESTION)
            answered_at_once = service.answerer().ask(GANJA_QUESTION.replace("civilians", "people"))
    first, second = (request["messages"][-1]["content"] for request in fake.requests[:2])
    assert first.startswith("[1] ") and "(Azernews, by Ayya Lmahamad" not in first  # sentences
    assert "(Azernews, by Ayya Lmahamad" in second  # passages, headed by their article
    assert not answer.refused and answer.answer.startswith("Ten civilians lost their lives")
    assert answer.draft == "NOT_IN_CORPUS\n" + PARAPHRASE
    assert len(answer.citations) == 1
    assert len(fake.requests) == 3 and not answered_at_once.refused  # an answer is not read twice


def test_a_sentence_said_twice_is_shown_once(tmp_path: Path, corpus: Path) -> None:
    said = "Ten civilians lost their lives in Armenia's overnight missile strike on Ganja [1]. "
    with fake_openai("ok", answer=said * 2) as fake:
        settings = make_settings(tmp_path, llm="auto", llm_base_url=fake.base_url, llm_timeout=20.0)
        with RagService(settings) as service:
            service.index([corpus], show_progress=False)
            answer = service.answerer().ask(GANJA_QUESTION)
    assert not answer.refused and answer.answer.count("Ten civilians lost their lives") == 1


# Supported by the seed article, and says nothing the question did not: not an answer.
RESTATED = "Civilians were killed in the attack on Ganja on October 11 [1]. Dozens were injured [1]."
ONLY_RESTATED = "Civilians were killed in the attack on Ganja on October 11 [1]."


def read_twice(tmp_path: Path, corpus: Path, first: str, second: str) -> tuple[Answer, list[str], int]:
    """The answer, the sentences streamed, and the requests made, when the model's first
    (articles) reading says `first` and its second (passages) reading says `second`."""
    with fake_openai("ok", first_answers=[first], answer=second) as fake:
        settings = make_settings(
            tmp_path,
            llm="auto",
            llm_base_url=fake.base_url,
            llm_timeout=20.0,
            reader="articles-then-passages",
        )
        with RagService(settings) as service:
            service.index([corpus], show_progress=False)
            events = list(service.answerer().stream(GANJA_QUESTION))
    done = events[-1]
    assert isinstance(done, Done)
    return done.answer, [event.text for event in events if isinstance(event, Sentence)], len(fake.requests)


def test_a_first_reading_that_only_restates_the_question_is_read_again(tmp_path: Path, corpus: Path) -> None:
    """articles-then-passages: a first sentence with no word beyond the question's asks again;
    the later answer is shown, its citations numbered from [1], the set-aside reading's gone."""
    answer, shown, requests = read_twice(tmp_path, corpus, RESTATED, PARAPHRASE)
    assert requests == 2
    assert (
        answer.answer.startswith("Ten civilians lost their lives")
        and "Civilians were killed" not in answer.answer
    )
    assert " ".join(shown) == answer.answer  # the set-aside sentences were never streamed
    assert answer.answer.count("[1]") == 2 and "[2]" not in answer.answer and len(answer.citations) == 1
    assert answer.draft == RESTATED + "\n" + PARAPHRASE


def test_a_restating_reading_is_shown_when_the_later_one_answers_nothing(
    tmp_path: Path, corpus: Path
) -> None:
    answer, shown, requests = read_twice(tmp_path, corpus, RESTATED, "NOT_IN_CORPUS")
    assert requests == 2 and not answer.refused
    assert answer.answer.startswith("Civilians were killed in the attack on Ganja on October 11 [1].")
    assert [citation.n for citation in answer.citations] == [1]
    assert " ".join(shown) == answer.answer


def test_a_reply_of_restatements_alone_answers_nothing(tmp_path: Path, corpus: Path) -> None:
    """Both readings only say what the question said: refused, and nothing was streamed."""
    answer, shown, requests = read_twice(tmp_path, corpus, ONLY_RESTATED, ONLY_RESTATED)
    assert requests == 2 and answer.refused and shown == [] and answer.citations == []


def test_a_held_reading_that_adds_something_beats_a_later_restatement(tmp_path: Path, corpus: Path) -> None:
    """The second reading only restates: the first, which went on to say more, is shown."""
    answer, shown, _ = read_twice(tmp_path, corpus, RESTATED, ONLY_RESTATED)
    assert not answer.refused and "Dozens were injured [1]." in answer.answer
    assert " ".join(shown) == answer.answer


def test_restates_the_question() -> None:
    question = "Which menu item did KFC roll out this week to attract a younger crowd?"
    assert restates_the_question("KFC rolled out a menu item to attract a younger crowd [1].", question)
    assert not restates_the_question("KFC rolled out chicken nuggets [1].", question)
