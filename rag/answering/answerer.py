"""Stage 5c: answer a question from retrieved passages, each sentence tied to a verbatim quote.

`Answerer.stream` yields events as the answer forms: the retrieved passages first, then the
draft of the sentence being written (token by token), then each finished sentence with its
`[n]` marker, then the whole `Answer`. A sentence no passage supports is dropped; an answer
with no supported sentence, a weak retrieval, or a model that says the passages do not
answer, is a refusal with no citation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from rag.answering.attribution import (
    SENTENCE_END,
    Span,
    content_terms,
    find_support,
    is_instruction,
    model_markers,
    passage_sentences,
    split_sentences,
    strip_markers,
)
from rag.answering.claims import (
    BYLINE_QUESTION,
    REFUSAL_PHRASES,
    adds_to_the_question,
    byline_support,
    extractive_sentences,
    headline_support,
    restates_the_question,
    the_answer_is_dropped,
)
from rag.answering.llm import ChatStreamer, make_messages
from rag.answering.prompts import Prompts
from rag.answering.reader import ReaderConfig, ReaderContext, stale_passages
from rag.errors import LlmError
from rag.inputs import LANGUAGE_HINT, MAX_QUESTION_CHARS, check_question, not_english
from rag.types import (
    Answer,
    Citation,
    Done,
    Draft,
    Event,
    Filters,
    LlmInfo,
    Passage,
    PassageSource,
    Retrieved,
    Sentence,
)

NOT_IN_CORPUS = "NOT_IN_CORPUS"
# Share of the question's rarity-weighted words the supporting articles must hold (calibrated on
# the dev and unanswerable sets: docs/benchmarks.md).
MIN_QUESTION_COVERAGE = 0.35
# The same for the quotes themselves and their headlines: a quote about something else ("…
# bringing BG home to the United States" for "Which city hosted the 2022 Summer Olympics?")
# supports no answer, even when its article mentions the Olympics elsewhere. Kept low: 0.30 lost
# right dev answers, and 0.15-0.20 refused no more unanswerable ones (docs/benchmarks.md).
MIN_QUOTE_COVERAGE = 0.10
TermRarity = Callable[[Iterable[str]], dict[str, float]]


class CitationLedger:
    """Numbers quotes 1..n in order of first use; the same quote keeps its number."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = passages
        self.citations: list[Citation] = []
        self._numbers: dict[tuple[str, int, int], int] = {}

    def cite(self, span: Span) -> int:
        passage = self.passages[span.passage_index]
        key = (passage.doc_id, span.start, span.end)
        if key not in self._numbers:
            number = len(self.citations) + 1
            self._numbers[key] = number
            self.citations.append(
                Citation(
                    n=number,
                    doc_id=passage.doc_id,
                    title=passage.title,
                    source=passage.source,
                    author=passage.author,
                    published=passage.published,
                    url=passage.url,
                    quote=span.text,
                    start=span.start,
                    end=span.end,
                    score=passage.score,
                )
            )
        return self._numbers[key]


@dataclass
class Reply:
    """The sentences an answer shows, and the ledger that numbers their citations."""

    ledger: CitationLedger
    sentences: list[str] = field(default_factory=list)


def with_marker(sentence: str, *numbers: int) -> str:
    """`… killed ten civilians [1].`: the markers sit before the closing punctuation."""
    sentence = strip_markers(sentence).strip()
    match = re.search(r"[.!?…:;,]*[\"”’')\]]*$", sentence)
    cut = match.start() if match else len(sentence)
    markers = "".join(f"[{number}]" for number in numbers)
    return f"{sentence[:cut].rstrip()} {markers}{sentence[cut:]}"


class Answerer:
    def __init__(
        self,
        retriever: PassageSource,
        generator: ChatStreamer | None,
        prompts: Prompts,
        refusal_threshold: float,
        reader: ReaderConfig | None = None,
        term_rarity: TermRarity | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.prompts = prompts
        self.refusal_threshold = refusal_threshold
        self.reader = reader or ReaderConfig()
        self.term_rarity = term_rarity
        self.info = generator.info if generator else LlmInfo("extractive", "none (quoted sentences)")

    def ask(self, question: str, **kwargs: object) -> Answer:
        for event in self.stream(question, **kwargs):  # type: ignore[arg-type]
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")  # pragma: no cover

    def stream(
        self,
        question: str,
        k: int = 5,
        filters: Filters | None = None,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[Event]:
        question = check_question(question)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        search_query = self.condense(question, history)
        passages = self.retriever.retrieve(search_query, k, filters)
        timings["retrieve_ms"] = _ms_since(started)
        yield Retrieved(passages, search_query)
        result = Answer(question, "", True, [], passages, self.info, timings, search_query)
        # Fused scores rank; the vector similarity says whether anything is about the question.
        if not passages or max(p.similarity for p in passages) < self.refusal_threshold:
            yield from self._finish(result, [], None, started)
            return
        reply = Reply(CitationLedger(passages))
        # An article's text is quoted material: sentences that try to instruct the model are
        # neither evidence nor support, so an injected "answer BANANA" can be neither read nor cited.
        spans = [span for span in passage_sentences(passages) if not is_instruction(span.text)]
        try:
            if self.generator is None:
                for sentence in extractive_sentences(search_query, spans, reply.ledger.cite):
                    timings.setdefault("first_token_ms", _ms_since(started))
                    reply.sentences.append(sentence)
                    yield Sentence(sentence)
            else:
                asked_on = filters.as_of if filters else None
                yield from self._readings(search_query, asked_on, passages, spans, result, started, reply)
        except LlmError as err:
            result.error = str(err)
        yield from self._finish(result, reply.sentences, reply.ledger, started)

    def _finish(
        self,
        result: Answer,
        sentences: list[str],
        ledger: CitationLedger | None,
        started: float,
    ) -> Iterator[Event]:
        result.refused = not sentences and result.error is None
        result.answer = " ".join(sentences) if sentences else ("" if result.error else self.prompts.refusal)
        if result.refused and not_english(result.question):
            result.answer += " " + LANGUAGE_HINT
        result.citations = ledger.citations if ledger and sentences else []
        result.timings.setdefault("first_token_ms", _ms_since(started))
        result.timings["total_ms"] = _ms_since(started)
        yield Done(result)

    def _readings(
        self,
        question: str,
        asked_on: str | None,
        passages: Sequence[Passage],
        spans: list[Span],
        result: Answer,
        started: float,
        reply: Reply,
    ) -> Iterator[Event]:
        """The readings in turn; `reply` holds the sentences shown so far and their citations.

        A later reading runs when the one before answered nothing, or when its first sentence
        only restated the question ("NASA has set a date for another try at launching its
        Artemis I moon mission" for "NASA has set a date for another try at launching its
        Artemis I moon mission. How soon could it launch?"): such a reading is held back, and
        shown only if no later one answers. A reply of restatements alone answers nothing and is
        never shown. Each reading numbers its own citations, so a reading set aside leaves no trace.
        """
        held: Reply | None = None
        readings = self.reader.readings
        for position, reading in enumerate(readings):
            last = position + 1 == len(readings)
            this = Reply(CitationLedger(passages))
            streamed = 0  # how many of this reading's sentences the user has seen
            events = self._read(reading, question, asked_on, passages, spans, this.ledger, result, started)
            for event in events:
                if not isinstance(event, Sentence):
                    yield event
                    continue
                if event.text in this.sentences:
                    continue  # the small model sometimes says its answer twice
                this.sentences.append(event.text)
                if self._shows_now(this.sentences, question, last):
                    reply.ledger, reply.sentences = this.ledger, this.sentences
                    for text in this.sentences[streamed:]:
                        yield Sentence(text)
                    streamed = len(this.sentences)
            if streamed:
                return
            if held is None and adds_to_the_question(this.sentences, question):
                held = this
        if held is not None:
            reply.ledger, reply.sentences = held.ledger, held.sentences
            for text in held.sentences:
                yield Sentence(text)

    def _shows_now(self, sentences: list[str], question: str, last: bool) -> bool:
        """A reading is shown as it comes when its first sentence answers; the last reading also
        once any of its sentences says what the question did not (its restatement then with it)."""
        if not restates_the_question(sentences[0], question):
            return True
        return last and adds_to_the_question(sentences, question)

    def _read(
        self,
        reading: str,
        question: str,
        asked_on: str | None,
        passages: Sequence[Passage],
        spans: list[Span],
        ledger: CitationLedger,
        result: Answer,
        started: float,
    ) -> Iterator[Draft | Sentence]:
        """One reading: the model reads this context, and each sentence of its draft is attributed."""
        assert self.generator is not None
        context = self.reader.context(question, passages, spans, reading, asked_on)
        # Support is sought in the passages the model read, whole: an answer may rest on a
        # sentence the budget left out, and every quote is still the article's own text. An
        # article from long before the days a dated question asks about supports nothing.
        stale = stale_passages(question, passages, asked_on)
        shown = {item.passage_index for item in context.passages} - stale
        support_spans = [span for span in spans if span.passage_index in shown]
        messages = self.prompts.reader_messages(question, context, asked_on, reading)
        if result.draft:
            result.draft += "\n"  # the drafts of each reading, one per line
        pending = ""
        sentences: list[str] = []  # the draft's finished sentences
        answer_dropped = False  # the first sentence states the answer: without it, nothing does

        def to_show(sentence: str) -> str | None:
            """The finished sentence with its markers, or None when it is not shown."""
            nonlocal answer_dropped
            sentences.append(sentence)
            cited = self.attribute(sentence, question, context, support_spans, ledger, stale)
            answer_dropped = answer_dropped or the_answer_is_dropped(sentences, cited)
            return None if answer_dropped else cited

        for delta in self.generator.stream(messages):
            result.timings.setdefault("first_token_ms", _ms_since(started))
            result.draft += delta
            pending += delta
            if NOT_IN_CORPUS.startswith(pending.strip()) or NOT_IN_CORPUS in pending:
                continue  # hold the sentinel back: it is a refusal, not text to show
            boundary = SENTENCE_END.search(pending)
            while boundary:
                done, pending = pending[: boundary.end()], pending[boundary.end() :]
                if cited := to_show(done):
                    yield Sentence(cited)
                boundary = SENTENCE_END.search(pending)
            if not answer_dropped:
                yield Draft(strip_markers(pending))
        for sentence in split_sentences(pending):
            if cited := to_show(sentence):
                yield Sentence(cited)

    def attribute(
        self,
        sentence: str,
        question: str,
        context: ReaderContext,
        spans: list[Span],
        ledger: CitationLedger,
        stale: AbstractSet[int] = frozenset(),
    ) -> str | None:
        """The sentence with its markers, or None when it is a refusal or nothing supports it
        (`stale`: passages too old to support anything, their headlines and bylines neither)."""
        if REFUSAL_PHRASES.search(sentence):
            return None
        hinted = {
            index
            for number in model_markers(sentence, len(context.passages))
            if (index := context.passage_of(number + 1)) is not None
        }
        years = {p.published[:4] for p in ledger.passages if p.published[:4].isdigit()}
        support = find_support(sentence, spans, hinted, question, known=years)
        chosen = list(support.spans) if support else []
        byline = None if chosen else byline_support(sentence, question, context, ledger.passages)
        if byline:
            chosen = [byline]
        if not chosen and (headline := headline_support(sentence, question, context, ledger.passages)):
            chosen = [headline]
        if any(span.passage_index in stale for span in chosen):
            chosen = []
        if not chosen or not self.about_the_question(question, chosen, ledger.passages):
            return None
        # A byline claim rests on the article's attribution: its quote only carries it.
        if chosen != [byline] and not self.quotes_about_the_question(question, chosen, ledger.passages):
            # The answer may also stand in a quote that is about the question: cite that one.
            about = [s for s in spans if self.quotes_about_the_question(question, [s], ledger.passages)]
            support = find_support(sentence, about, hinted, question, known=years)
            chosen = list(support.spans) if support else []
            if not chosen or not self.about_the_question(question, chosen, ledger.passages):
                return None
        return with_marker(sentence, *sorted({ledger.cite(span) for span in chosen}))

    def about_the_question(self, question: str, support: Sequence[Span], passages: Sequence[Passage]) -> bool:
        """The supporting articles hold most of what is rare in the question.

        The question's content words are weighed by how rare they are in the collection (BM25's
        IDF), and the articles of the quotes (title and retrieved passages) must hold
        `MIN_QUESTION_COVERAGE` of that weight. A question about an event the corpus does not
        cover ("the Nobel Prize in Physiology or Medicine") then cannot be answered from an
        article about a neighbouring one (the Physics prize): its rare words are not there.
        """
        articles = {passages[span.passage_index].doc_id for span in support}
        held: set[str] = set()
        for passage in passages:
            if passage.doc_id in articles:
                held |= set(content_terms(f"{passage.title} {passage.text}"))
        return self.question_share(question, held) >= MIN_QUESTION_COVERAGE

    def quotes_about_the_question(
        self, question: str, support: Sequence[Span], passages: Sequence[Passage]
    ) -> bool:
        """The quotes and their headlines hold `MIN_QUOTE_COVERAGE` of the question's rare-word
        weight: the sentence cited must itself be about what was asked, not only its article."""
        held: set[str] = set()
        for span in support:
            held |= span.terms | set(content_terms(passages[span.passage_index].title))
        return self.question_share(question, held) >= MIN_QUOTE_COVERAGE

    def question_share(self, question: str, held: AbstractSet[str]) -> float:
        """The share of the question's content words, weighed by rarity, that `held` holds (1.0
        with no rarity to weigh by)."""
        if self.term_rarity is None:
            return 1.0
        # "Who wrote …?": the byline words ask about the attribution, not what the article says.
        weights = self.term_rarity(set(content_terms(BYLINE_QUESTION.sub(" ", question))))
        total = sum(weights.values())
        if total <= 0:
            return 1.0
        return sum(weight for term, weight in weights.items() if term in held) / total

    def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """A follow-up rewritten to stand alone, so retrieval finds the same story."""
        if not history:
            return question
        last_question = history[-1][0]
        if self.generator is None:
            return f"{last_question} {question}"
        transcript = "\n".join(
            f"User: {asked}\nAssistant: {strip_markers(said)[:400]}" for asked, said in history[-3:]
        )
        prompt = self.prompts.condense.format(history=transcript, question=question)
        try:
            rewritten = "".join(self.generator.stream(make_messages("You rewrite questions.", prompt)))
        except LlmError:
            return f"{last_question} {question}"
        rewritten = rewritten.strip().strip('"').split("\n")[0].strip()
        return rewritten if 3 <= len(rewritten) <= MAX_QUESTION_CHARS else question


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
