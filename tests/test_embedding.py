"""The bundled embedding model: a question through the traced model equals the eager model."""

from __future__ import annotations

import numpy as np

from rag.store.embedding import local_embed_model, traced_query_encoder

QUESTIONS = [
    "How many civilians were killed in the attack on Ganja on October 11?",
    "Who?",
    "Which company announced it would cut 10,000 jobs this week, and why did its shares rise afterwards?",
]


def test_questions_are_embedded_by_the_trace_with_the_eager_numbers() -> None:
    model = local_embed_model(32, "fp32")
    sentence_model = model._model  # type: ignore[attr-defined]  # HuggingFaceEmbedding's model
    encoder = traced_query_encoder(sentence_model)
    assert encoder is not None  # the trace built and passed its own check against eager
    eager = sentence_model.encode(QUESTIONS, normalize_embeddings=True)
    for question, expected in zip(QUESTIONS, eager, strict=True):
        vector = np.asarray(model.get_query_embedding(question))
        assert vector.shape == (384,)
        assert float(vector @ expected) > 0.99999, question
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
