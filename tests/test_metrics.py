"""Evaluation metrics on hand-made cases: every metric, with its edge cases."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage

from rag.bench.stats import percentile
from rag.evaluation.metrics.aggregate import LatencyPercentiles, aggregate
from rag.evaluation.metrics.answers import (
    JudgedAnswerMatch,
    RefusalRates,
    RightDraftDropped,
    StrictAnswerMatch,
    SupportedAnswer,
    WrongButCited,
)
from rag.evaluation.metrics.base import mean
from rag.evaluation.metrics.citations import CitationPrecision, CitationValidity, StoredText
from rag.evaluation.metrics.retrieval import EvidenceCoverage, EvidenceRecall, HitAtK, MeanReciprocalRank
from rag.evaluation.metrics.text import answer_tokens

GOLD = ["gold-a"]
RANK_3 = ["x", "y", "gold-a", "z", "gold-a", "w"]


# --- retrieval -----------------------------------------------------------------------------


def test_hit_at_rank_3() -> None:
    assert [HitAtK(k).compute(GOLD, RANK_3) for k in (1, 3, 5, 10)] == [0.0, 1.0, 1.0, 1.0]


def test_mrr_of_a_hit_at_rank_3_is_a_third() -> None:
    assert MeanReciprocalRank(10).compute(GOLD, RANK_3) == pytest.approx(1 / 3)


def test_mrr_takes_the_first_of_several_gold_articles() -> None:
    assert MeanReciprocalRank(10).compute(["b", "a"], ["a", "b"]) == 1.0
    assert MeanReciprocalRank(10).compute(["b"], ["a", "a", "b"]) == pytest.approx(1 / 3)


def test_a_hit_below_the_cutoff_does_not_count() -> None:
    eleventh = ["x"] * 10 + ["gold-a"]
    assert HitAtK(10).compute(GOLD, eleventh) == 0.0
    assert MeanReciprocalRank(10).compute(GOLD, eleventh) == 0.0


def test_no_gold_ids_means_not_scored() -> None:
    assert HitAtK(5).compute([], RANK_3) is None
    assert MeanReciprocalRank().compute([], RANK_3) is None


def test_empty_retrieval_is_a_miss() -> None:
    assert HitAtK(1).compute(GOLD, []) == 0.0
    assert MeanReciprocalRank().compute(GOLD, []) == 0.0


def test_labels() -> None:
    assert HitAtK(3).label == "hit@3" and MeanReciprocalRank(10).label == "mrr@10"


def test_evidence_recall_normalises_tags_quotes_case_and_spaces() -> None:
    evidence = 'Netflix said “<a href="https://x">Squid   Game</a>” is BACK.'
    passages = ["Other news.", 'Yesterday netflix said "Squid Game" is back. More text.']
    assert EvidenceRecall().compute(evidence, passages) == 1.0
    assert EvidenceRecall().compute(evidence, ["Netflix said Squid Game is gone."]) == 0.0


def test_evidence_recall_edge_cases() -> None:
    assert EvidenceRecall().compute(None, ["text"]) is None
    assert EvidenceRecall().compute("  ", ["text"]) is None
    assert EvidenceRecall().compute("some evidence", []) == 0.0


def test_evidence_coverage_is_graded_on_the_best_passage() -> None:
    evidence = "Officials evacuated 1,200 residents from three villages."
    assert EvidenceCoverage().compute(evidence, ["Unrelated.", f"Today: {evidence}"]) == 1.0
    # stems and numbers match ("evacuated 1200 ... 3 villages"); only "officials" is missing
    reworded = EvidenceCoverage().compute(evidence, ["They evacuated 1200 residents of 3 villages."])
    assert reworded == pytest.approx(5 / 6, abs=1e-3)
    half = EvidenceCoverage().compute("evacuated residents volcano eruption", ["residents evacuated"])
    assert half == 0.5
    assert EvidenceCoverage().compute("", ["x"]) is None
    assert EvidenceCoverage().compute("evacuated residents", []) == 0.0


# --- strict answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold", "score"),
    [
        ("Ten civilians were killed [1].", "10", 1.0),  # number words, markers dropped
        ("10 civilians were killed.", "ten", 1.0),
        ("It cost twenty-five million.", "25 million", 1.0),
        ("1,200 residents were evacuated.", "1200", 1.0),  # thousands separators
        ("1200 residents", "1,200", 1.0),
        ("The show is “Squid Game”.", '"Squid Game"', 1.0),  # quotes and case
        ("SQUID GAME returns", "“Squid Game”", 1.0),
        ("He won in West Virginia.", "Virginia", 1.0),  # the gold's words are all there
        ("He won in Virginia.", "West Virginia", 0.0),  # but not the other way round
        ("Europeans agreed.", "Europe", 0.0),  # whole words only
        ("The European Union will require it.", "Europe", 0.0),
        ("Prices rose 5% in June.", "5 percent", 1.0),
        ("The Astros and the Phillies play.", "Astros & Phillies", 1.0),
        ("The U.S. agreed.", "US", 1.0),
        ("It lasted 3.5 hours.", "3", 0.0),  # a decimal is one number
        ("Café Zürich won.", "cafe zurich", 1.0),  # accents
        ("She came first.", "1st", 1.0),
        ("", "10", 0.0),
    ],
)
def test_strict_match(answer: str, gold: str, score: float) -> None:
    assert StrictAnswerMatch().compute(answer, [gold]) == score


def test_strict_match_any_of_several_answers_and_no_gold() -> None:
    assert StrictAnswerMatch().compute("It was Paris.", ["London", "Paris"]) == 1.0
    assert StrictAnswerMatch().compute("It was Paris.", []) is None
    assert StrictAnswerMatch().compute("It was Paris.", ["", "…"]) is None


def test_answer_tokens() -> None:
    assert answer_tokens("The twenty five “Big” apples, 1,500,000 of them [2]!") == [
        "25",
        "big",
        "apples",
        "1500000",
        "of",
        "them",
    ]


# --- judged answers ------------------------------------------------------------------------


class FakeLlm:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[list[ChatMessage]] = []

    def stream(self, messages: list[ChatMessage]) -> Iterable[str]:
        self.calls.append(messages)
        yield from self.reply.split(" ")


def judge(reply: str) -> tuple[JudgedAnswerMatch, FakeLlm]:
    llm = FakeLlm(reply)

    def messages(question: str, gold: str, answer: str) -> list[ChatMessage]:
        return [ChatMessage(role="user", content=f"{question} | {gold} | {answer}")]

    return JudgedAnswerMatch(llm, messages), llm


def test_judge_says_yes_for_an_answer_in_other_words() -> None:
    metric, llm = judge("YES, it does.")
    assert metric.compute("Which continent?", "The European Union will require it.", ["Europe"]) == 1.0
    assert "Europe" in str(llm.calls[0][0].content)


def test_judge_says_no() -> None:
    metric, _ = judge("No")
    assert metric.compute("How long?", "A year.", ["6 months"]) == 0.0


def test_judge_is_not_asked_when_strict_matching_already_agrees() -> None:
    metric, llm = judge("NO")
    assert metric.compute("How many?", "Ten were killed.", ["10"]) == 1.0
    assert llm.calls == []


def test_judge_unclear_reply_empty_answer_and_no_gold() -> None:
    metric, llm = judge("Maybe, hard to say")
    assert metric.compute("Q?", "Something else.", ["gold"]) == 0.0
    assert metric.compute("Q?", "", ["gold"]) == 0.0
    assert metric.compute("Q?", "Anything.", []) is None
    assert len(llm.calls) == 1  # the empty answer and the missing gold were not sent


# --- refusals ------------------------------------------------------------------------------


def test_refusal_rates() -> None:
    outcomes = [
        (True, True, False),  # unanswerable, refused: right
        (False, True, False),  # unanswerable, answered: wrong
        (False, False, False),  # answerable, answered
        (True, False, False),  # answerable, refused
        (False, False, True),  # answerable, error: not answered
        (False, False, False),
    ]
    rates = RefusalRates().aggregate(outcomes)
    assert rates == {"unanswerable_refused": 0.5, "answerable_answered": 0.5}


def test_refusal_rates_without_unanswerable_questions() -> None:
    assert RefusalRates().aggregate([(False, False, False)]) == {
        "unanswerable_refused": None,
        "answerable_answered": 1.0,
    }
    assert RefusalRates().compute(refused=True, unanswerable=True) == 1.0
    assert RefusalRates().compute(refused=False, unanswerable=True) == 0.0
    assert RefusalRates().compute(refused=True, unanswerable=True, error=True) == 0.0


# --- citations -----------------------------------------------------------------------------

ARTICLE = "Intro line. Ganja was hit on October 11, killing ten civilians. Four were hurt."
# Overlapping chunks, as the chunker stores them: verbatim slices of the article.
STORED = {"doc": [StoredText(0, 40, ARTICLE[0:40]), StoredText(30, len(ARTICLE), ARTICLE[30:])]}
GAPPY = {"doc": [StoredText(0, 20, ARTICLE[0:20]), StoredText(30, len(ARTICLE), ARTICLE[30:])]}


def citation(n: int, quote: str, doc_id: str = "doc", shift: int = 0) -> dict[str, Any]:
    start = ARTICLE.find(quote) + shift
    return {"n": n, "doc_id": doc_id, "quote": quote, "start": start, "end": start + len(quote)}


def validity() -> CitationValidity:
    return CitationValidity(lambda doc_id: STORED.get(doc_id, []))


def test_valid_citations() -> None:
    quote = "Ganja was hit on October 11, killing ten civilians."
    assert validity().compute("Ten were killed [1].", [citation(1, quote)], refused=False) == 1.0


@pytest.mark.parametrize(
    ("answer", "cites"),
    [
        ("Ten were killed [2].", [citation(1, "Four were hurt.")]),  # [2] resolves to nothing
        ("Ten were killed [1].", [citation(1, "Four were hurt.", shift=1)]),  # wrong offsets
        ("Ten were killed [1].", [citation(1, "Four were hurt.", doc_id="other")]),  # unknown article
        ("Ten were killed [1].", [{**citation(1, "Four were hurt."), "quote": "Four were hurt!"}]),
        ("Ten were killed.", [citation(1, "Four were hurt.")]),  # a claim without a marker
        ("Ten were killed [1].", []),
    ],
)
def test_invalid_citations(answer: str, cites: list[dict[str, Any]]) -> None:
    assert validity().compute(answer, cites, refused=False) == 0.0


def test_quotes_are_checked_against_the_article_pieced_from_its_chunks() -> None:
    inside_one = citation(1, "Four were hurt.")
    across_two = citation(2, "Ganja was hit on October 11, killing ten civilians.")
    assert validity().compute("Four [1]. Ten [2].", [inside_one, across_two], refused=False) == 1.0
    gappy = CitationValidity(lambda doc_id: GAPPY.get(doc_id, []))
    assert gappy.compute("Ten [2].", [across_two], refused=False) == 0.0  # text 20-30 is unknown


def test_refusals_have_no_citations_to_check() -> None:
    assert validity().compute("The indexed articles do not answer this question.", [], refused=True) is None
    assert validity().compute("", [], refused=False) is None  # an error: no answer at all


def test_citation_precision_by_gold_article() -> None:
    cites = [citation(1, "Four were hurt."), citation(2, "Intro line.", doc_id="other")]
    assert CitationPrecision().compute(cites, ["doc"], None) == 0.5
    assert CitationPrecision().compute(cites, ["doc", "other"], None) == 1.0


def test_citation_precision_by_evidence_without_gold_ids() -> None:
    cites = [citation(1, "Ganja was hit on October 11, killing ten civilians."), citation(2, "Intro line.")]
    evidence = "Officials said Ganja was hit on October 11, killing ten civilians. More later."
    assert CitationPrecision().compute(cites, [], evidence) == 0.5


def test_citation_precision_edge_cases() -> None:
    assert CitationPrecision().compute([], ["doc"], None) is None
    assert CitationPrecision().compute([citation(1, "Intro line.")], [], None) is None


# --- latency and aggregation ---------------------------------------------------------------


def test_percentiles() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([float(n) for n in range(101)], 95) == 95.0
    assert percentile([10.0, 20.0], 95) == 19.5  # interpolated, as in `rag bench`
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    assert LatencyPercentiles().compute([100.0, 200.0, 300.0]) == {"p50": 200.0, "p95": 290.0}


def test_mean_ignores_what_does_not_apply() -> None:
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None, None]) is None
    assert mean([]) is None


def record(
    hit: float | None, strict: float | None, unanswerable: bool = False, **extra: Any
) -> dict[str, Any]:
    metrics = {"hit@1": hit, "hit@3": hit, "hit@5": hit, "hit@10": hit, "mrr@10": hit}
    metrics |= {"strict": strict, "judged": None, "citations_valid": 1.0, "citation_precision": 1.0}
    return {
        "gold": {"unanswerable": unanswerable},
        "refused": extra.get("refused", False),
        "metrics": metrics,
        "latency_ms": {"retrieve": 10.0, "first_token": 100.0, "total": 1000.0},
        "error": extra.get("error"),
    }


def test_aggregate_report_metrics() -> None:
    records = [
        record(1.0, 1.0),
        record(0.0, 0.0),
        record(None, None, unanswerable=True, refused=True),
        record(1.0, 0.0, error="LlmError: timeout"),
    ]
    metrics = aggregate(records)
    assert metrics["retrieval"]["hit@1"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["retrieval"]["with_gold_ids"] == 3
    assert metrics["answer"]["accuracy"] == {"strict": pytest.approx(1 / 3, abs=1e-4), "judged": None}
    assert metrics["refusal"]["unanswerable_refused"] == 1.0
    assert metrics["refusal"]["answerable_answered"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["citations"] == {"valid": 1.0, "precision": 1.0}
    assert metrics["latency_ms"]["total"] == {"p50": 1000.0, "p95": 1000.0}
    assert metrics["errors"] == 1


def test_aggregate_retrieval_only_records() -> None:
    only = [{"gold": {"unanswerable": False}, "metrics": {"hit@1": 1.0}, "latency_ms": {"retrieve": 5.0}}]
    metrics = aggregate(only)
    assert "answer" not in metrics and metrics["retrieval"]["hit@1"] == 1.0
    assert set(metrics["latency_ms"]) == {"retrieve"}


def test_right_draft_dropped_wrong_but_cited_and_supported() -> None:
    gold = ["Colorado Avalanche"]
    dropped = RightDraftDropped()
    assert dropped.compute("The Colorado Avalanche won [1].", "", gold) == 1.0  # refused at the end
    assert dropped.compute("The Colorado Avalanche won.", "The Colorado Avalanche won [1].", gold) == 0.0
    assert dropped.compute("The Tampa Bay Lightning won.", "", gold) == 0.0  # the draft was wrong too
    assert dropped.compute(None, "", gold) is None  # a run from before drafts were kept
    wrong = WrongButCited()
    assert wrong.compute("The Lightning won [1].", refused=False, error=False, gold_answers=gold) == 1.0
    assert wrong.compute("", refused=True, error=False, gold_answers=gold) == 0.0
    assert (
        wrong.compute("The Colorado Avalanche won [1].", refused=False, error=False, gold_answers=gold) == 0.0
    )
    assert wrong.compute("Anything.", refused=False, error=False, gold_answers=[]) is None  # unanswerable
    supported = SupportedAnswer()
    quote = [{"quote": "The Colorado Avalanche beat Tampa Bay in game 6."}]
    assert supported.compute("The Colorado Avalanche won [1].", quote, gold) == 1.0
    assert supported.compute("The Colorado Avalanche won [1].", [{"quote": "Game 6 ended 2-1."}], gold) == 0.0
    assert supported.compute("The Lightning won [1].", quote, gold) is None  # only right answers count
