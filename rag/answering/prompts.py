"""The prompts, read from the files in prompts/ (settings.prompts_dir), and the reader's messages.

Wording lives in the files, not in code: changing a prompt is an edit of prompts/*.txt, and
`rag eval` records a digest of the prompt files a run used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.prompts import PromptTemplate

from rag.answering.llm import make_messages
from rag.answering.reader import ReaderContext, render_passages


@dataclass(frozen=True)
class Prompts:
    system: str
    user: PromptTemplate
    passage: PromptTemplate
    asked_on: PromptTemplate
    sentences_system: str
    sentence: PromptTemplate
    condense: PromptTemplate
    refusal: str
    examples: tuple[ChatMessage, ...] = ()  # worked questions shown before the real one

    @classmethod
    def load(cls, directory: Path) -> Prompts:
        def read(name: str) -> str:
            return (directory / name).read_text(encoding="utf-8")

        return cls(
            system=read("answer_system.txt").strip(),
            user=PromptTemplate(read("answer_user.txt")),
            passage=PromptTemplate(read("passage.txt")),
            asked_on=PromptTemplate(read("asked_on.txt")),
            sentences_system=read("sentences_system.txt").strip(),
            sentence=PromptTemplate(read("sentence.txt")),
            condense=PromptTemplate(read("condense.txt")),
            refusal=read("refusal.txt").strip(),
            examples=parse_examples(read("answer_examples.txt")),
        )

    def reader_messages(
        self, question: str, context: ReaderContext, asked_on: str | None, mode: str = "passages"
    ) -> list[ChatMessage]:
        """The model's prompt: the question's date when known (passages reader), the numbered
        passages or sentences, the question."""
        if mode == "sentences":
            text = render_passages(context, self.sentence, separator="\n")
            return make_messages(
                self.sentences_system, self.user.format(asked_on="", passages=text, question=question)
            )
        user = self.user.format(
            asked_on=self.asked_on.format(date=asked_on).strip() + "\n\n" if asked_on else "",
            passages=render_passages(context, self.passage),
            question=question,
        )
        system, question_turn = make_messages(self.system, user)
        # The examples come right after the system prompt and never change, so llama.cpp's
        # prompt cache reads them once: they cost the first question only.
        return [system, *self.examples, question_turn]


EXAMPLE_TURN = re.compile(r"^### (user|assistant)\s*$", re.MULTILINE)


def parse_examples(text: str) -> tuple[ChatMessage, ...]:
    """`### user` / `### assistant` sections: the worked examples as chat turns."""
    parts = EXAMPLE_TURN.split(text)[1:]
    roles = {"user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}
    return tuple(
        ChatMessage(role=roles[role], content=body.strip())
        for role, body in zip(parts[::2], parts[1::2], strict=True)
    )
