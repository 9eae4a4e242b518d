"""A build's vectors when sentences are pooled from their paragraph's pass (``index.span_pool``).

Paragraphs are looked up in the cache a chunk at a time, with the keys of their sentences; a
paragraph missing any of them is run through the model once, which gives its vector and all of
its sentences' vectors, and all are cached. Rows go to the scratch tables as they are done, so
memory stays bounded as in ``index.build_vectors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np

from index.diskarray import DiskArray
from index.embed import Embedder, passage_input, sentence_cache_text
from index.embedding_cache import EmbeddingCache, text_key
from index.storage import ArticleRecord, ParagraphRecord

# Paragraphs looked up per step (with ~5 sentences each, about as many vectors as a step of
# ``build_vectors.LOOKUP_CHUNK`` texts) and run through the model per cached batch.
LOOKUP_PARAGRAPHS = 2048
EMBED_PARAGRAPHS = 128


def _keys(paragraph: ParagraphRecord, prefix: str, mode: str) -> tuple[bytes, list[bytes]]:
    own = text_key(prefix + passage_input(paragraph.text))
    spans = [(start, end) for _sid, start, end in paragraph.sentences]
    return own, [
        text_key(sentence_cache_text(prefix, paragraph.text, span, mode)) for span in spans
    ]


def _embed_missing(
    missing: Sequence[ParagraphRecord],
    keys: dict[int, tuple[bytes, list[bytes]]],
    known: dict[bytes, np.ndarray],
    embedder: Embedder,
    cache: EmbeddingCache,
) -> int:
    """Embed ``missing`` paragraphs with their sentences, cache and remember the vectors."""
    sentences = 0
    for first in range(0, len(missing), EMBED_PARAGRAPHS):
        batch = missing[first : first + EMBED_PARAGRAPHS]
        results = embedder.embed_with_sentences(
            [passage_input(p.text) for p in batch],
            [[(start, end) for _sid, start, end in p.sentences] for p in batch],
        )
        batch_keys: list[bytes] = []
        rows: list[np.ndarray] = []
        for paragraph, (vector, sentence_vectors) in zip(batch, results, strict=True):
            own, sentence_keys = keys[id(paragraph)]
            batch_keys += [own, *sentence_keys]
            rows += [vector, *sentence_vectors]
            sentences += len(sentence_keys)
        stacked = np.stack(rows).astype(np.float32, copy=False)
        cache.put_many(batch_keys, stacked)
        known.update(zip(batch_keys, stacked, strict=True))
    return sentences


def embed_in_context(
    records: Sequence[ArticleRecord],
    paragraphs: DiskArray,
    sentences: DiskArray,
    embedder: Embedder,
    cache: EmbeddingCache,
    bar: Any,
) -> tuple[int, int]:
    """Fill both tables (rows in build order); returns (paragraphs, sentences) embedded."""
    prefix, mode = embedder.passage_prefix, embedder.sentence_vectors
    stream: Iterator[ParagraphRecord] = (p for a in records for p in a.paragraphs)
    paragraph_row = sentence_row = 0
    embedded = embedded_sentences = 0
    while chunk := list(islice(stream, LOOKUP_PARAGRAPHS)):
        keys = {id(p): _keys(p, prefix, mode) for p in chunk}
        known = cache.get_many(k for own, more in keys.values() for k in (own, *more))
        missing: list[ParagraphRecord] = []
        seen: set[bytes] = set()
        for paragraph in chunk:
            own, more = keys[id(paragraph)]
            # A paragraph repeated in the chunk (same text and spans) is embedded once.
            if (own not in known or any(k not in known for k in more)) and own not in seen:
                seen.add(own)
                missing.append(paragraph)
        embedded_sentences += _embed_missing(missing, keys, known, embedder, cache)
        embedded += len(missing)
        paragraphs.write(paragraph_row, np.stack([known[keys[id(p)][0]] for p in chunk]))
        paragraph_row += len(chunk)
        chunk_sentences = [known[k] for p in chunk for k in keys[id(p)][1]]
        if chunk_sentences:
            sentences.write(sentence_row, np.stack(chunk_sentences))
            sentence_row += len(chunk_sentences)
        if bar is not None:
            bar.update(len(chunk))
    return embedded, embedded_sentences
