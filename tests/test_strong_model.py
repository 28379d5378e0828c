"""A strong OpenAI-compatible model writes its own [n] markers and paraphrases: its right
citations survive attribution, and its unsupported claim is still dropped.

The model is `tests/fake_openai.py` replaying such an answer over the real protocol; the
store, the embedding model and the retrieval are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.loaders import load_corpus
from rag.service import RagService

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
