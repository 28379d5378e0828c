"""The local model's speed (`rag bench llm`, `rag bench llm --sweep`).

Time to first token (question in) and decode speed at the default context, the first question
apart as the cold one; and with --sweep, prompt and decode speed under several llama.cpp options
against the shipped ones on the same reader prompts, with whether the (greedy) answers stay.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from rag.bench.table import Table, fmt


def bench_llm(service: Any, questions: Sequence[str], rounds: int = 1) -> tuple[Table, list[str]]:
    """Time to first token (question in) and decode speed of the local model at the default context."""
    from rag.types import Done, Draft

    generator = service.generator("local")
    assert generator is not None
    count_deltas = _DeltaCounter(generator)
    answerer = service.answerer(backend="local", streamer=count_deltas)
    rows: list[list[str]] = []
    first_tokens: list[float] = []
    rates: list[float] = []
    for round_ in range(rounds):
        for number, question in enumerate(questions):
            count_deltas.reset()
            started = time.perf_counter()
            answer = None
            for event in answerer.stream(question):
                if isinstance(event, Draft | Done):
                    answer = event
            total = time.perf_counter() - started
            assert isinstance(answer, Done)
            first = answer.answer.timings.get("first_token_ms", total * 1000) / 1000
            rate = count_deltas.rate()
            label = "cold (first question)" if round_ == 0 and number == 0 else "warm (system prompt cached)"
            if not (round_ == 0 and number == 0):
                first_tokens.append(first)
                rates.append(rate)
            rows.append(
                [question[:60], label, fmt(first, 2), fmt(total, 2), str(count_deltas.count), fmt(rate)]
            )
    header = ["question", "cache", "first token s", "answer s", "tokens", "tokens/s"]
    info = generator.info.label() if hasattr(generator.info, "label") else str(generator.info)
    notes = [f"model: {info}, context {service.settings.local_ctx}, {service.settings.local_threads} threads"]
    if first_tokens:
        notes.append(
            f"warm: first token p50 {statistics.median(first_tokens):.2f} s, max {max(first_tokens):.2f} s; "
            f"decode {statistics.median(rates):.1f} tokens/s"
        )
    return (header, rows), notes


# llama.cpp options tried by `rag bench llm --sweep`: each against the shipped settings.
LLM_VARIANTS: list[dict[str, Any]] = [
    {},
    {"local_flash_attn": "on"},
    {"local_flash_attn": "off"},
    {"local_ubatch": 256},
    {"local_ubatch": 1024, "local_batch": 2048},
    {"local_flash_attn": "on", "local_kv_cache": "q8_0"},
]


def bench_llm_sweep(service: Any, questions: Sequence[str], max_tokens: int = 48) -> tuple[Table, list[str]]:
    """Prompt and decode speed of the local model under each of LLM_VARIANTS, on the real reader
    prompts of `questions`, and whether it writes the same answers (greedy) as the shipped one."""
    from rag.answering.attribution import passage_sentences
    from rag.answering.llm import Generator
    from rag.answering.reader import ReaderConfig

    settings = service.settings
    prompts = []
    for question in questions:
        passages = service.search(question, settings.top_k)
        reader = ReaderConfig.from_settings(settings)
        context = reader.context(question, passages, passage_sentences(passages))
        messages = service.prompts.reader_messages(question, context, None, reader.readings[0])
        prompts.append([{"role": m.role.value, "content": m.content} for m in messages])
    rows: list[list[str]] = []
    reference: list[str] = []
    for variant in LLM_VARIANTS:
        generator = Generator(settings.model_copy(update={"llm": "local", **variant}))
        try:
            url = generator.local_url()
            runs = [_complete(url, prompt, max_tokens) for prompt in [prompts[0], *prompts]][1:]  # warm
        finally:
            generator.close()
        answers = [run["answer"] for run in runs]
        reference = reference or answers
        same = sum(a == b for a, b in zip(answers, reference, strict=True))
        rows.append(
            [
                ", ".join(f"{k.removeprefix('local_')}={v}" for k, v in variant.items()) or "shipped",
                fmt(statistics.median(run["prompt_tps"] for run in runs)),
                fmt(statistics.median(run["prompt_n"] for run in runs), 0),
                fmt(statistics.median(run["prompt_s"] for run in runs), 2),
                fmt(statistics.median(run["decode_tps"] for run in runs)),
                f"{same}/{len(runs)}",
            ]
        )
    header = [
        "llama.cpp options",
        "prompt tokens/s",
        "prompt tokens",
        "prompt s",
        "decode tokens/s",
        "same answers",
    ]
    notes = [
        f"{len(questions)} reader prompts (RAG_READER={settings.reader}, RAG_READER_TOKENS="
        f"{settings.reader_tokens}), greedy, "
        f"{max_tokens} tokens at most, {settings.local_threads} threads; p50 over the prompts"
    ]
    return (header, rows), notes


def _complete(url: str, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
    """One non-streamed answer from llama.cpp's server, with the timings it reports."""
    import httpx

    body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0, "cache_prompt": False}
    reply = httpx.post(f"{url}/chat/completions", json=body, timeout=300).json()
    timings = reply.get("timings", {})
    return {
        "answer": reply["choices"][0]["message"]["content"],
        "prompt_tps": float(timings.get("prompt_per_second", 0.0)),
        "prompt_n": float(timings.get("prompt_n", 0)),
        "prompt_s": float(timings.get("prompt_ms", 0.0)) / 1000,
        "decode_tps": float(timings.get("predicted_per_second", 0.0)),
    }


class _DeltaCounter:
    """Wraps a Generator: counts streamed deltas (≈ tokens) and times them."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator
        self.info = generator.info
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def stream(self, messages: Any) -> Any:
        for delta in self._generator.stream(messages):
            now = time.perf_counter()
            if self.count == 0:
                self.first = now
            self.count += 1
            self.last = now
            yield delta

    def rate(self) -> float:
        return (
            (self.count - 1) / (self.last - self.first) if self.count > 1 and self.last > self.first else 0.0
        )
