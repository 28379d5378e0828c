"""A dated question ("… this week", asked on a known day) is answered from the news of its
time: a verbatim quote of an article from months before says nothing of the week asked about.

The model is `tests/fake_openai.py` replaying the same reply each time; the store, the
embedding model and the retrieval are real.
"""

from __future__ import annotations

from pathlib import Path

from rag.answering.reader import stale_passages
from rag.service import RagService
from rag.types import Filters, Passage

from .conftest import make_settings
from .fake_openai import fake_openai

QUESTION = "How much did the new bridge over the Danube at Vidin cost?"
REPLY = "It cost 300 million euros [1]."  # the bridge article is dated 2022-05-30


def test_an_answer_from_an_article_long_before_the_question_is_refused(tmp_path: Path, corpus: Path) -> None:
    with fake_openai("ok", answer=REPLY) as fake:
        settings = make_settings(tmp_path, llm="auto", llm_base_url=fake.base_url, llm_timeout=20.0)
        with RagService(settings) as service:
            service.index([corpus], show_progress=False)
            answerer = service.answerer()
            that_week = answerer.ask(QUESTION, filters=Filters(as_of="2022-06-02"))
            undated = answerer.ask(QUESTION)
            months_later = answerer.ask(QUESTION, filters=Filters(as_of="2022-09-15"))
    for answer in (that_week, undated):
        assert not answer.refused and answer.answer == "It cost 300 million euros [1]."
        assert [citation.doc_id for citation in answer.citations] == ["bridge-001"]
    # The model said the same in both readings; its only quote is too old for the question.
    assert months_later.draft == REPLY + "\n" + REPLY
    assert months_later.refused and months_later.citations == [] and months_later.error is None


def passage(published: str) -> Passage:
    return Passage(published, "title", "outlet", "", published, "", "text", 0, 4, 1.0)


def test_stale_passages_are_those_four_weeks_before_the_days_asked() -> None:
    passages = [passage(day) for day in ("2022-09-14", "2022-08-10", "2022-08-01", "", "2021-12-01")]
    # "this week", asked on 2022-09-15: the days from 2022-09-07; stale before 2022-08-10.
    assert stale_passages("Who won this week?", passages, "2022-09-15") == {2, 4}
    assert stale_passages("Who won this year?", passages, "2022-09-15") == set()  # from 2021-09-15
    assert stale_passages("Who won this week?", passages, None) == set()  # an undated question
