"""What a sentence of the draft claims beyond the words of a quote: who wrote the article (its
byline), what its headline names, or nothing the question did not already say.

`Answerer.attribute` falls back to byline and headline support when no passage sentence
supports a claim; `Answerer._readings` reads again when an answer only restates the question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answering.attribution import Span, content_terms, strip_markers
from rag.answering.reader import ReaderContext
from rag.types import Passage


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
