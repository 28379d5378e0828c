"""What the model reads: numbered passages headed by their article, trimmed to a token budget."""

from __future__ import annotations

from pathlib import Path

from llama_index.core.llms import MessageRole

from rag.answering.attribution import passage_sentences
from rag.answering.prompts import Prompts
from rag.answering.reader import (
    CHARS_PER_TOKEN,
    GAP,
    ReaderConfig,
    build_context,
    passage_header,
    sentences_by_article,
)
from rag.types import Passage

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def passage(text: str, doc_id: str = "d", start: int = 0, **meta: str) -> Passage:
    fields = {"title": "Floods hit the coast", "source": "Example News", "author": "", "published": ""}
    fields.update(meta)
    return Passage(
        doc_id, fields["title"], fields["source"], fields["author"], fields["published"], "u", text,
        start, start + len(text), 0.9,
    )  # fmt: skip


FILLER = " ".join(f"Sentence {n} is about the weather in general." for n in range(40))


def test_header_names_title_outlet_author_and_date() -> None:
    header = passage_header(passage("x", author="Jane Roe", published="2022-07-14"))
    assert header == "“Floods hit the coast” (Example News, by Jane Roe, 2022-07-14)"
    assert passage_header(passage("x", title="", source="")) == "Untitled"


def test_budget_keeps_the_best_sentence_and_its_neighbours_in_article_order() -> None:
    answer = "Dozens of people were unaccounted for after flooding in Virginia."
    after = "Rescue teams searched the hollows on Thursday."
    text = f"{FILLER} {answer} {after} {FILLER}"
    passages = [passage(text)]
    question = "Dozens of people were unaccounted for after severe flooding in which state?"
    context = build_context(question, passages, passage_sentences(passages), 100, 4)
    (shown,) = context.passages
    assert shown.number == 1 and f"{answer} {after}" in shown.text
    assert len(shown.text) <= 100 * CHARS_PER_TOKEN
    assert "Sentence 37" in shown.text and "Sentence 30 " not in shown.text  # its nearest neighbours
    for span in shown.spans:
        assert text[span.start : span.end] == span.text  # offsets stay the article's


def test_budget_is_shared_and_overlapping_sentences_are_read_once() -> None:
    shared = "The storm made landfall on Tuesday."
    first = passage(f"{shared} Power failed in the north.", "a")
    again = passage(f"{shared} Power failed in the north. Schools closed for a week. {FILLER}", "a")
    other = passage(f"The storm hit ports. {FILLER} Landfall came at noon.", "b", title="Ports")
    passages = [first, again, other]
    context = build_context(
        "When did the storm make landfall?", passages, passage_sentences(passages), 300, 4
    )
    texts = [shown.text for shown in context.passages]
    assert sum(text.count(shared) for text in texts) == 1
    assert [shown.passage_index for shown in context.passages] == [0, 1, 2]
    assert sum(len(text) for text in texts) <= 300 * CHARS_PER_TOKEN + 200
    assert any(GAP in text for text in texts)


def test_prompt_gives_the_date_asked_and_numbered_passages() -> None:
    prompts = Prompts.load(PROMPTS)
    passages = [passage("Rain fell for days. Rivers rose.", published="2022-07-14")]
    context = build_context("Where did rivers rise?", passages, passage_sentences(passages), 600, 4)
    system, *examples, user = prompts.reader_messages("Where did rivers rise?", context, "2022-07-15")
    assert "NOT_IN_CORPUS" in str(system.content)
    # Worked examples sit between the system prompt and the question, as alternating turns,
    # the same in every prompt (llama.cpp's prompt cache reads them once).
    assert [m.role for m in examples] == [MessageRole.USER, MessageRole.ASSISTANT] * (len(examples) // 2)
    assert examples and any(m.content == "NOT_IN_CORPUS" for m in examples)
    text = str(user.content)
    assert text.startswith("The question was asked on 2022-07-15")
    assert "[1] “Floods hit the coast” (Example News, 2022-07-14)\nRain fell for days. Rivers rose." in text
    assert text.rstrip().endswith("Question: Where did rivers rise?")
    *_, undated = prompts.reader_messages("Where did rivers rise?", context, None)
    assert str(undated.content).startswith("[1] ")
    again = prompts.reader_messages("Where did the storm hit?", context, None)
    assert again[: len(examples) + 1] == [system, *examples]


def test_articles_reader_groups_the_best_sentences_under_their_article() -> None:
    first = passage(
        "Lions escaped at the zoo. Guests ran. The zoo shut its gates.", "a", title="Lions escape"
    )
    second = passage(
        "A zoo in Perth bought lions. Tigers slept.", "b", title="Perth zoo", published="2021-01-02"
    )
    passages = [first, second]
    question = "Which animals escaped at the zoo?"
    context = sentences_by_article(question, passages, passage_sentences(passages), 3, 4)
    assert [shown.number for shown in context.passages] == [1, 2]
    assert context.passages[0].header.startswith("“Lions escape”")
    assert context.passages[0].text == "Lions escaped at the zoo. … The zoo shut its gates."
    assert context.passages[1].text == "A zoo in Perth bought lions."
    one = sentences_by_article(question, passages, passage_sentences(passages), 8, 1)
    assert [shown.passage_index for shown in one.passages] == [0]


def test_a_dated_question_reads_the_articles_of_its_days_when_there_are_any() -> None:
    old = passage("Liz Truss became prime minister.", "old", title="Truss", published="2022-09-06")
    new = passage("Rishi Sunak became prime minister.", "new", title="Sunak", published="2022-10-25")
    passages = [old, new]
    question = "Who became prime minister this week?"
    reader = ReaderConfig("articles")
    dated = reader.context(question, passages, passage_sentences(passages), asked_on="2022-10-28")
    assert [shown.passage_index for shown in dated.passages] == [1]
    undated = reader.context(question, passages, passage_sentences(passages))
    assert {shown.passage_index for shown in undated.passages} == {0, 1}
    later = reader.context(question, passages[:1], passage_sentences(passages[:1]), asked_on="2022-10-28")
    assert [shown.passage_index for shown in later.passages] == [0]  # nothing recent: read what there is
