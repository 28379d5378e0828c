"""Answers: [n] markers numbered by first use, verbatim quotes, refusals with no citation."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from rag.answering.answerer import Answerer, CitationLedger, with_marker
from rag.answering.attribution import content_terms, find_support, passage_sentences, sentence_bounds
from rag.answering.reader import ReaderContext, ReaderPassage, passage_header
from rag.errors import UsageError
from rag.ingest.loaders import load_corpus
from rag.inputs import check_question
from rag.service import RagService
from rag.types import Done, Passage, Retrieved, Sentence

from .conftest import GANJA_QUESTION, SEEDS, WORLD_CUP_QUESTION


def passage(text: str, start: int = 0, doc_id: str = "d") -> Passage:
    return Passage(doc_id, "T", "S", "A", "2022-01-01", "u", text, start, start + len(text), 0.9)


def test_number_words_and_stems_match() -> None:
    assert content_terms("Ten civilians were killed") == ["10", "civilian", "kill"]
    assert content_terms("killing 1,200 people") == ["kill", "1200", "peopl"]


def test_sentence_bounds_keep_offsets() -> None:
    text = 'He said "no." Then he left.\nA new line! And 3.5 percent.'
    pieces = [text[s:e] for s, e in sentence_bounds(text)]
    assert pieces == ['He said "no."', "Then he left.", "A new line!", "And 3.5 percent."]


def test_titles_and_initials_do_not_end_a_sentence() -> None:
    text = "Gov. Ron DeSantis spoke. The U.S. President met Lt. Nyota Uhura and Dr. Jill Biden. It rained."
    pieces = [text[s:e] for s, e in sentence_bounds(text)]
    assert pieces == [
        "Gov. Ron DeSantis spoke.",
        "The U.S. President met Lt. Nyota Uhura and Dr. Jill Biden.",
        "It rained.",
    ]


def test_support_requires_the_numbers_to_be_in_the_quote() -> None:
    spans = passage_sentences(
        [
            passage(
                "Ganja was hit on October 11, killing ten civilians. Four people were injured on October 4."
            )
        ]
    )
    good = find_support("Ten civilians were killed in Ganja on October 11.", spans)
    assert good is not None and "killing ten civilians" in good.spans[0].text
    assert find_support("4 civilians were killed in Ganja on October 11.", spans) is None
    assert find_support("The weather was sunny in Madrid.", spans) is None


def test_ledger_numbers_by_first_use_and_reuses_numbers() -> None:
    text_a, text_b = "Alpha rose sharply. Beta fell.", "Gamma stayed flat."
    passages = [passage(text_a, 100, "a"), passage(text_b, 0, "b")]
    spans = passage_sentences(passages)
    ledger = CitationLedger(passages)
    gamma, alpha, beta = spans[2], spans[0], spans[1]
    assert [ledger.cite(gamma), ledger.cite(alpha), ledger.cite(gamma), ledger.cite(beta)] == [1, 2, 1, 3]
    assert [c.n for c in ledger.citations] == [1, 2, 3]
    first = ledger.citations[1]
    assert (first.quote, first.start, first.end) == ("Alpha rose sharply.", 100, 119)


def test_marker_goes_before_closing_punctuation() -> None:
    assert with_marker("Ten were killed.", 1) == "Ten were killed [1]."
    assert with_marker('He said "yes."', 2) == 'He said "yes [2]."'
    assert with_marker("No full stop", 3) == "No full stop [3]"
    assert with_marker("Model cited [4] itself.", 1) == "Model cited itself [1]."


@pytest.mark.parametrize("bad", ["", "   ", "?!...", "x" * 2001])
def test_bad_questions_get_a_clear_error(bad: str) -> None:
    with pytest.raises(UsageError):
        check_question(bad)


def test_extractive_answer_quotes_the_seed_verbatim(seeded_service: RagService) -> None:
    (article,) = load_corpus([SEEDS]).articles
    events = list(seeded_service.answerer(backend="extractive").stream(GANJA_QUESTION))
    assert isinstance(events[0], Retrieved) and events[0].passages
    assert any(isinstance(event, Sentence) for event in events)
    answer = events[-1].answer if isinstance(events[-1], Done) else None
    assert answer is not None and not answer.refused
    assert "[1]" in answer.answer
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for citation in answer.citations:
        assert article.text[citation.start : citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.answer
    assert "killing ten civilians" in answer.citations[0].quote
    payload = answer.to_json()
    assert set(payload) >= {"question", "answer", "refused", "citations", "llm", "timings"}
    timings = payload["timings"]
    assert isinstance(timings, dict)
    assert set(timings) == {"retrieve_ms", "first_token_ms", "total_ms"}


def test_unanswerable_question_is_refused_without_citations(seeded_service: RagService) -> None:
    answer = seeded_service.answerer(backend="extractive").ask(WORLD_CUP_QUESTION)
    assert answer.refused and answer.citations == []
    assert "do not answer" in answer.answer


def test_a_number_must_keep_its_words_in_the_quote() -> None:
    quote = (
        "Armenia launched an overnight missile attack in Ganja on October 11, "
        "killing ten civilians and injuring dozens of others."
    )
    spans = passage_sentences([passage(quote)])
    assert find_support("Ten civilians were killed in Ganja on October 11.", spans) is not None
    assert find_support("On October 11, 10 civilians were killed in Ganja.", spans) is not None
    assert find_support("Dozens of civilians were injured in Ganja.", spans) is not None
    # The quote says ten of the killed, not of the injured.
    assert find_support("Ten civilians were injured in Ganja on October 11.", spans) is None


SEED_QUOTE = (
    "It should be noted that Armenia launched an overnight missile attack in Azerbaijan’s "
    "second-largest city Ganja on October 11, killing ten civilians and injuring dozens of others."
)


def test_a_fact_must_answer_what_the_question_asks() -> None:
    """The follow-up "And how many were injured?" drafted as "ten … killed and injured": the
    quote holds "ten" and "injuring", in different clauses: not support."""
    spans = passage_sentences([passage(SEED_QUOTE)])
    injured = "How many civilians were injured in the attack on Ganja on October 11?"
    wrong = "Ten civilians were killed and injured in the attack on Ganja on October 11."
    assert find_support(wrong, spans, question=injured) is None
    killed = "How many civilians were killed in the attack on Ganja on October 11?"
    assert find_support("Ten civilians were killed in the attack.", spans, question=killed) is not None
    assert find_support("Dozens of civilians were injured.", spans, question=injured) is not None


def test_words_repeated_from_the_question_need_not_be_quoted() -> None:
    text = (
        "The armed forces of Azerbaijan destroyed these missile systems. "
        "This was done to prevent another potential humanitarian catastrophe and save the lives "
        "of many Azerbaijani civilians."
    )
    spans = passage_sentences([passage(text)])
    question = "Why did Azerbaijan strike Armenian missile systems on October 14?"
    draft = (
        "Azerbaijan struck the missile systems on October 14 to prevent another potential "
        "humanitarian catastrophe and save the lives of many Azerbaijani civilians."
    )
    support = find_support(draft, spans, question=question)
    assert support is not None and "humanitarian catastrophe" in support.spans[0].text
    assert find_support(draft, spans) is None  # without the question, "14" is a number unquoted


def test_a_claim_joining_two_facts_cites_two_sentences() -> None:
    text = (
        "Armenia shelled Ganja on October 11. Residents rebuilt their homes in spring. "
        "A second missile hit Mingachevir on October 17."
    )
    spans = passage_sentences([passage(text)])
    claim = "Ganja was shelled on October 11 and Mingachevir was hit on October 17."
    support = find_support(claim, spans, question="When were the two cities attacked?")
    assert support is not None
    assert [span.text for span in support.spans] == [
        "Armenia shelled Ganja on October 11.",
        "A second missile hit Mingachevir on October 17.",
    ]
    assert find_support("Ganja was shelled on October 11 and Baku on October 20.", spans) is None


def test_a_hinted_paraphrase_keeps_its_citation() -> None:
    """A strong model's paraphrase, marked [2] by the model: the hint tips a near-miss over."""
    spans = passage_sentences(
        [passage("Markets fell."), passage("The central bank raised its key rate to 4 percent on Thursday.")]
    )
    claim = "Policymakers lifted the benchmark borrowing cost to 4 percent."
    assert find_support(claim, spans, hinted={1}) is not None
    assert find_support(claim, spans) is None  # the same words, unhinted: too few


def test_several_markers_sit_together() -> None:
    assert with_marker("Two facts here.", 1, 3) == "Two facts here [1][3]."


def test_the_year_of_the_articles_date_need_not_be_quoted() -> None:
    spans = passage_sentences(
        [passage("Broadway's biggest stars gathered for the 75th Tony Awards on Sunday.")]
    )
    question = "Broadway's biggest stars were recognized this week at which awards show?"
    claim = "Broadway's biggest stars were recognized at the 2022 Tony Awards."
    assert find_support(claim, spans, question=question, known={"2022"}) is not None
    assert find_support(claim, spans, question=question) is None  # "2022" is in no quote


def test_a_number_from_the_question_must_not_be_contradicted() -> None:
    """ "4 civilians were killed … on October 11" is not supported by the October 4 attack."""
    text = (
        "Ganja also came under Armenian missile attack on October 4 as one civilian was killed "
        "and several others were injured."
    )
    spans = passage_sentences([passage(text)])
    question = "How many civilians were killed in the attack on Ganja on October 11?"
    claim = "4 civilians were killed in the attack on Ganja on October 11."
    assert find_support(claim, spans, question=question) is None


def test_rarity_weighs_the_words_the_collection_seldom_uses(seeded_service: RagService) -> None:
    rarity = seeded_service.retriever("seeds").term_rarity(["ganja", "azerbaijan", "neanderth"])
    assert rarity["neanderth"] > rarity["ganja"] > 0  # a word no chunk holds is the rarest
    assert rarity["neanderth"] >= rarity["azerbaijan"]


def test_an_answer_must_come_from_an_article_about_what_was_asked(seeded_service: RagService) -> None:
    """The quote may say a fact, but its article must hold most of the question's rare words:
    the Physics prize article does not answer a question about the Medicine prize."""
    common = {"won": 0.5, "nobel": 2.0, "prize": 1.0}  # IDF-like: news often says these

    def rarity(terms: Iterable[str]) -> dict[str, float]:
        return {term: common.get(term, 6.0) for term in terms}

    answerer = Answerer(
        seeded_service.retriever("seeds"), None, seeded_service.prompts, 0.45, term_rarity=rarity
    )
    physics = Passage(
        "p", "Three share the Nobel Prize in Physics", "S", "A", "2022-10-04", "u",
        "Alain Aspect, John Clauser and Anton Zeilinger won the Nobel Prize in Physics.", 0, 78, 0.9,
    )  # fmt: skip
    (span,) = passage_sentences([physics])
    assert answerer.about_the_question("Who won the Nobel Prize in Physics?", [span], [physics])
    other = "Who won the Nobel Prize in Physiology or Medicine for sequencing Neanderthal DNA?"
    assert not answerer.about_the_question(other, [span], [physics])
    assert seeded_service.answerer().term_rarity is not None  # the service wires BM25's IDF in


def test_an_answer_the_headline_states_cites_that_article(seeded_service: RagService) -> None:
    """ "BA.5" is only in the title of the article the model read: it cites that article."""
    variant = Passage(
        "v", "BA.5: the 'worst variant' is here", "CNN", "A", "2022-07-12", "u",
        "The variant spreads faster than any before it. Doctors urge boosters.", 0, 70, 0.9,
    )  # fmt: skip
    spans = passage_sentences([variant])
    context = ReaderContext((ReaderPassage(1, 0, passage_header(variant), tuple(spans)),))
    ledger = CitationLedger([variant])
    answerer = seeded_service.answerer()
    question = "What is the worst variant yet called?"
    cited = answerer.attribute("BA.5 [1].", question, context, spans, ledger)
    assert cited == "BA.5 [1]."
    (citation,) = ledger.citations
    assert citation.title.startswith("BA.5") and citation.quote == spans[0].text
    assert answerer.attribute("XBB.1 [1].", question, context, spans, ledger) is None  # not in the title


def test_a_number_is_not_supported_by_the_same_number_about_something_else() -> None:
    """The follow-up "And how many were injured?" drafted "Ten civilians were killed": the only
    10 left to quote was "October 10", which says nothing of civilians or killing."""
    spans = passage_sentences(
        [passage("The attack came hours after the ceasefire signed on October 10. Rescuers arrived at dawn.")]
    )
    question = "How many civilians were killed and injured in the attack on Ganja on October 11?"
    assert find_support("Ten civilians were killed.", spans, question=question) is None


def test_a_byline_question_is_about_the_story_not_the_word_wrote(seeded_service: RagService) -> None:
    """A "Who wrote …?" question: the article's text never says "wrote"; it holds the story asked about."""
    answerer = seeded_service.answerer()
    (passage_,) = seeded_service.search("attack on Ganja", 1)
    (span, *_) = passage_sentences([passage_])
    question = "Who wrote the article about the attacks on Ganja?"
    assert answerer.about_the_question(question, [span], [passage_])
