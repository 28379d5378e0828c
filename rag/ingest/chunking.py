"""Stage 2: split articles into sentence-aware chunks that remember where they sit in the article.

Each chunk is a llama-index `TextNode` whose text is exactly `article.text[start:end]`, so a
citation can quote the article verbatim. Title, outlet and date travel as metadata: they are
embedded with the chunk (the embedding model sees them) but are not part of the quoted text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, TextNode

from rag.types import Article, day_number

# Metadata that only serves lookups and filters; kept out of what the models read.
BOOKKEEPING_KEYS = [
    "doc_id",
    "origin",
    "doc_hash",
    "n_chunks",
    "chunk_index",
    "start",
    "end",
    "published_day",
    "url",
    "author",
]
EMBED_TEMPLATE = "{value}"


@dataclass
class Chunker:
    chunk_size: int
    chunk_overlap: int
    tokenizer: Callable[[str], Sequence[int]]

    @cached_property
    def splitter(self) -> SentenceSplitter:
        return SentenceSplitter(
            chunk_size=self.chunk_size,
            chunk_overlap=min(self.chunk_overlap, self.chunk_size // 2),
            tokenizer=self.tokenizer,
            include_metadata=False,  # sizes count the text; the short title line fits the margin
        )

    def split(self, article: Article) -> list[TextNode]:
        """Chunks of one article, with stable content-derived ids and verbatim offsets."""
        splitter = self.splitter
        document = Document(text=article.text, id_=article.doc_id)
        raw_nodes = splitter.get_nodes_from_documents([document])
        spans = locate_spans(article.text, [node.get_content(MetadataMode.NONE) for node in raw_nodes])
        doc_hash = article.content_hash
        nodes = []
        for index, (start, end) in enumerate(spans):
            node = TextNode(
                id_=chunk_id(doc_hash, index, article.text[start:end]),
                text=article.text[start:end],
                start_char_idx=start,
                end_char_idx=end,
                metadata=chunk_metadata(article, doc_hash, index, len(spans), start, end),
                excluded_embed_metadata_keys=hidden_keys(article),
                excluded_llm_metadata_keys=hidden_keys(article),
                metadata_template=EMBED_TEMPLATE,
                metadata_separator=" · ",
            )
            node.relationships = raw_nodes[index].relationships
            nodes.append(node)
        return nodes


def hidden_keys(article: Article) -> list[str]:
    """Bookkeeping keys plus empty fields, so the embedded header reads `title · outlet · date`."""
    empty = [key for key in ("title", "source", "published") if not getattr(article, key)]
    return BOOKKEEPING_KEYS + empty


def locate_spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Character spans of each piece in `text`, searched in order.

    The splitter strips whitespace at chunk edges, so each piece is found verbatim; a piece that
    is not (should the splitter ever normalise text) falls back to the span between neighbours.
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        found = text.find(piece, cursor) if piece else -1
        if found < 0:
            found = text.find(piece) if piece else -1
        if found < 0:
            start = spans[-1][1] if spans else 0
            spans.append((start, min(len(text), start + len(piece))))
            continue
        spans.append((found, found + len(piece)))
        # Overlapping chunks: the next one starts before this one ends.
        cursor = found + 1
    return spans


def chunk_id(doc_hash: str, index: int, text: str) -> str:
    digest = hashlib.sha256(f"{doc_hash}\x1f{index}\x1f{text}".encode()).hexdigest()
    return digest[:32]


def chunk_metadata(
    article: Article, doc_hash: str, index: int, count: int, start: int, end: int
) -> dict[str, str | int]:
    # Chroma stores only str/int/float/bool: empty strings, never None.
    return {
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "author": article.author,
        "url": article.url,
        "doc_id": article.doc_id,
        "origin": article.origin,
        "doc_hash": doc_hash,
        "n_chunks": count,
        "chunk_index": index,
        "start": start,
        "end": end,
        "published_day": day_number(article.published),
    }
