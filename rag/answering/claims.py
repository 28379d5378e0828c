"""What a sentence of the draft claims beyond the words of a quote: who wrote the article (its
byline), what its headline names, nothing the question did not already say, or a refusal.

`Answerer.attribute` falls back to byline and headline support when no passage sentence
supports a claim; `Answerer._readings` reads again when an answer only restates the question. With no LLM,
the answer is the quoted sentences that share most of the question's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.answering.attribution import Span, content_terms, strip_markers
from rag.answering.reader import ReaderContext
from rag.types import Passage

# A sentence that declines to answer: it is never cited, whatever words it shares with a quote.
REFUSAL_PHRASES = re.compile(
    r"NOT_IN_CORPUS|\b(?:do(?:es)?n[o’']?t|do(?:es)? not)\s+(?:contain|mention|provide|say|"
    r"include|specify|state|answer|have)\b|\bno (?:information|mention|details?)\b|"
    r"\bnot (?:mentioned|provided|specified|stated|given|available)\b|"
    r"\b(?:cannot|can't|unable to) (?:be )?(?:answer|determine|find|say)",
    re.IGNORECASE,
)


def restates_the_question(sentence: str, question: str) -> bool:
    """The sentence says nothing the question did not: every content word of it is the question's."""
    return not set(content_terms(strip_markers(sentence))) - set(content_terms(question))


def adds_to_the_question(sentences: Sequence[str], question: str) -> bool:
    """Some sentence says what the question did not: a reply of restatements answers nothing."""
    return any(not restates_the_question(sentence, question) for sentence in sentences)


def byline_support(
    sentence: str, question: str, context: ReaderContext, passages: Sequence[Passage]
) -> Span | None:
    """A claim about who wrote or published an article, or when: its new words are in a shown
    passage's author, outlet or date. It cites that passage's first sentence the model read,
    whose citation carries the attribution (author, outlet, date) that supports the claim."""
    if not BYLINE_QUESTION.search(question):
        return None
    asked = set(content_terms(question))
    terms = {term for term in content_terms(strip_markers(sentence)) if term not in asked}
    for shown in context.passages:
        passage = passages[shown.passage_index]
        named = terms & set(content_terms(f"{passage.author} {passage.source} {passage.published}"))
        if shown.spans and named and 2 * len(named) >= len(terms):
            return shown.spans[0]
    return None


def headline_support(
    sentence: str, question: str, context: ReaderContext, passages: Sequence[Passage]
) -> Span | None:
    """A short claim whose every new word is in the title of an article the model read ("BA.5",
    from the headline "BA.5: the 'worst variant' is here"): it cites that article's sentence
    the model read that shares most words with the question; the citation carries the title."""
    asked = set(content_terms(question))
    terms = {term for term in content_terms(strip_markers(sentence)) if term not in asked}
    if not terms:
        return None
    for shown in context.passages:
        title = set(content_terms(passages[shown.passage_index].title))
        if shown.spans and terms <= title:
            return max(shown.spans, key=lambda span: (len(asked & span.terms), -span.index))
    return None


BYLINE_QUESTION = re.compile(
    r"\b(?:wr[io]te|written|writer|author|byline|journalist|publish\w*|outlet|newspaper|reported)\b", re.I
)


def the_answer_is_dropped(sentences: list[str], cited: str | None) -> bool:
    """The draft's first sentence, which states the answer, is one nothing supports: the
    sentences after it are detail ("He struck out 13 New York Mets …" after an unsupported
    "Aaron Judge"), not an answer. A first sentence that declines ("The passages do not say …")
    is no answer dropped: what follows it may answer."""
    first = [sentence for sentence in sentences if sentence.strip()][:1]
    if len(first) != 1 or first[0] is not sentences[-1]:
        return False  # decided at the first sentence only
    return cited is None and not REFUSAL_PHRASES.search(first[0])


def extractive_sentences(question: str, spans: list[Span], cite: Callable[[Span], int]) -> list[str]:
    """No LLM: the passage sentences that share most of the question's words, quoted."""
    terms = set(content_terms(question))
    if not terms:
        return []
    ranked = sorted(
        spans,
        key=lambda span: (len(terms & span.terms) / len(terms), -span.passage_index),
        reverse=True,
    )
    chosen: list[Span] = []
    best = len(terms & ranked[0].terms) if ranked else 0
    for span in ranked:
        shared = len(terms & span.terms)
        # A second sentence only when it matches the question as well as the first.
        if shared / len(terms) < 0.5 or shared < best or len(chosen) == 2:
            break
        if all(span.text != other.text for other in chosen):
            chosen.append(span)
    return [f"“{span.text}” [{cite(span)}]" for span in chosen]
