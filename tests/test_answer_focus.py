"""An answer is cited only from a quote about what was asked, and only when its first
sentence, the answer itself, is supported: a true detail after an unsupported answer is no answer.

The store, the embedding model and the retrieval are real; the model is `tests/fake_openai.py`
replaying the same reply over the real protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rag.answering.answerer import Answerer, CitationLedger
from rag.answering.attribution import passage_sentences
from rag.answering.claims import the_answer_is_dropped
from rag.answering.reader import ReaderContext, ReaderPassage, passage_header
from rag.service import RagService
from rag.types import Passage

from .conftest import GANJA_QUESTION, make_settings
from .fake_openai import fake_openai

# Verbatim enough to be supported by the seed article (tests/test_strong_model.py).
SUPPORTED = "Ten civilians lost their lives in Armenia's overnight missile strike on Ganja [1]."


def test_a_supported_detail_after_an_unsupported_answer_is_refused(tmp_path: Path, corpus: Path) -> None:
    with fake_openai("ok", answer=f"Nick Kyrgios [1]. {SUPPORTED}") as fake:
        settings = make_settings(tmp_path, llm="auto", llm_base_url=fake.base_url, llm_timeout=20.0)
        with RagService(settings) as service:
            service.index([corpus], show_progress=False)
            answer = service.answerer().ask(GANJA_QUESTION)
    assert answer.refused and answer.citations == [] and answer.error is None
    assert answer.draft.count("Nick Kyrgios") == 2  # both readings said it; neither is shown

    with fake_openai("ok", answer=f"{SUPPORTED} Nick Kyrgios [1].") as fake:
        settings = make_settings(tmp_path, llm="auto", llm_base_url=fake.base_url, llm_timeout=20.0)
        with RagService(settings) as service:
            answer = service.answerer().ask(GANJA_QUESTION)
    # The answer first, supported: it stands, and the unsupported sentence after it is dropped.
    assert not answer.refused and answer.answer.startswith("Ten civilians lost their lives")
    assert "Kyrgios" not in answer.answer


def test_only_the_first_sentence_decides_and_a_refusal_decides_nothing() -> None:
    assert the_answer_is_dropped(["Aaron Judge [1]."], None)
    assert not the_answer_is_dropped(["Aaron Judge [1]."], "Aaron Judge [1].")
    assert not the_answer_is_dropped(["Aaron Judge [1].", "He won [1]."], None)  # decided before
    assert not the_answer_is_dropped(["The passages do not say who won."], None)


def answerer_weighing_every_word_alike(service: RagService) -> Answerer:
    """No LLM; every word as rare as the next, so a share of the question is a share of its words."""

    def rarity(terms: Iterable[str]) -> dict[str, float]:
        return {term: 3.0 for term in terms}

    return Answerer(service.retriever("seeds"), None, service.prompts, 0.45, term_rarity=rarity)


def test_a_quote_about_something_else_supports_nothing(seeded_service: RagService) -> None:
    """The article mentions the Olympics, but the quoted sentence is about bringing a player
    home: "The United States" is not cited for the host of the Olympics; "Tokyo" is."""

    answerer = answerer_weighing_every_word_alike(seeded_service)
    article = Passage(
        "g", "Player sentenced in Moscow", "S", "A", "2022-08-04", "u",
        "Tokyo hosted the Summer Olympics in 2021, a year late. "
        "Her supporters hope to bring her home to the United States.", 0, 110, 0.9,
    )  # fmt: skip
    spans = passage_sentences([article])
    context = ReaderContext((ReaderPassage(1, 0, passage_header(article), tuple(spans)),))
    ledger = CitationLedger([article])
    question = "Which city hosted the 2022 Summer Olympics?"
    assert answerer.about_the_question(question, [spans[1]], [article])  # the article is about it
    assert answerer.attribute("The United States [1].", question, context, spans, ledger) is None
    assert answerer.attribute("Tokyo [1].", question, context, spans, ledger) == "Tokyo [1]."
    (citation,) = ledger.citations
    assert citation.quote == spans[0].text


def test_a_byline_answer_rests_on_the_attribution_not_its_quote(seeded_service: RagService) -> None:
    """ "Who wrote …?": the quote cited only carries the article's byline, so it need not hold the
    question's words; the article must still be about what was asked."""

    answerer = answerer_weighing_every_word_alike(seeded_service)
    article = Passage(
        "b", "Overnight strike", "Azernews", "Ayya Lmahamad", "2020-10-14", "u",
        "Rescuers worked through the night. The missile attack on Ganja killed ten.", 0, 73, 0.9,
    )  # fmt: skip
    spans = passage_sentences([article])
    context = ReaderContext((ReaderPassage(1, 0, passage_header(article), (spans[0],)),))
    ledger = CitationLedger([article])
    question = "Who wrote the article about the missile attack on Ganja?"
    assert answerer.attribute("Ayya Lmahamad [1].", question, context, spans, ledger) == "Ayya Lmahamad [1]."
    assert ledger.citations[0].quote == "Rescuers worked through the night."


def test_an_answer_quoted_off_topic_is_cited_from_the_quote_about_the_question(
    seeded_service: RagService,
) -> None:
    """The model points at a ticket notice that names the team (its article is about the title
    race); the finals report names it too, and says what was asked: the answer is cited from
    that one, not refused."""

    answerer = answerer_weighing_every_word_alike(seeded_service)
    tickets = Passage(
        "t", "Ticket sales open", "S", "A", "2022-09-18", "u1",
        "Tickets for the Las Vegas Aces go on sale at noon. Fans want a first WNBA championship title.",
        0, 94, 0.9,
    )  # fmt: skip
    finals = Passage(
        "f", "Aces take the WNBA title", "S", "B", "2022-09-18", "u2",
        "The Las Vegas Aces beat the Connecticut Sun to win their first WNBA championship.", 0, 80, 0.8,
    )  # fmt: skip
    passages = [tickets, finals]
    spans = passage_sentences(passages)
    context = ReaderContext(
        tuple(ReaderPassage(n + 1, n, passage_header(p), (spans[2 * n],)) for n, p in enumerate(passages))
    )
    question = "Which WNBA team won its first championship title?"
    assert not answerer.quotes_about_the_question(question, [spans[0]], passages)
    ledger = CitationLedger(passages)
    assert answerer.attribute("The Las Vegas Aces [1].", question, context, spans, ledger) is not None
    assert [citation.doc_id for citation in ledger.citations] == ["f"]
