"""A build's paragraph and sentence vectors, streamed from the cache and the model to disk.

A million paragraphs have about five million sentences: held as float32 with a dictionary
entry per text, their vectors took ~10 GB. Here texts are looked up and embedded a chunk at a
time and each chunk's rows go straight into a scratch file (float16, as generations store
them), which the generation writer reads back with ``pread``; memory stays flat at any size.
Scratch files are unlinked as soon as they are open, so a killed build leaves nothing behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from index.context_vectors import embed_in_context
from index.diskarray import DiskArray
from index.embed import Embedder, passage_input, sentence_cache_text
from index.embedding_cache import EmbeddingCache, text_key
from index.storage import ArticleRecord
from index.vectors import empty_file

# Texts embedded per call: large enough for efficient batches, small enough that a killed build
# loses little work (every chunk is committed to the cache).
EMBED_CHUNK = 256
# Texts looked up in the cache (and written to disk) per step: bounds the vectors in memory.
LOOKUP_CHUNK = 8192


@dataclass(frozen=True)
class Embedded:
    """The vectors of a build's paragraphs and sentences, and how many texts were new."""

    paragraphs: DiskArray
    sentences: DiskArray
    embedded: int
    embedded_sentences: int


def scratch_table(folder: Path, rows: int, dimensions: int) -> DiskArray:
    """An anonymous on-disk matrix of ``rows`` vectors (its blocks allocated), open read-write."""
    fd, name = tempfile.mkstemp(prefix=".scratch-", suffix=".npy", dir=folder)
    os.close(fd)
    try:
        return empty_file(Path(name), rows, dimensions)
    finally:
        os.unlink(name)  # the open descriptor keeps the data until the table is dropped


def _progress_bar(enabled: bool, total: int, what: str) -> Any:
    if not (enabled and total and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"embedding {what}", unit="text", file=sys.stderr)


def embed_texts(
    inputs: Iterable[str],
    out: DiskArray,
    embedder: Embedder,
    cache: EmbeddingCache,
    progress: bool,
    what: str,
) -> int:
    """Write the vector of each of ``inputs`` into ``out``'s rows, embedding uncached texts.

    Returns how many distinct texts were embedded (each is cached before the next chunk, so a
    text repeated later is read from the cache).
    """
    bar = _progress_bar(progress, len(out), what)
    texts: Iterator[str] = iter(inputs)
    embedded = 0
    try:
        for start in range(0, len(out), LOOKUP_CHUNK):
            chunk = list(islice(texts, LOOKUP_CHUNK))
            keys = [text_key(embedder.passage_prefix + text) for text in chunk]
            known = cache.get_many(keys)
            unknown = {k: t for k, t in zip(keys, chunk, strict=True) if k not in known}
            # Longest first, so each call's texts are of like length (less padding for torch).
            missing = sorted(unknown.items(), key=lambda item: -len(item[1]))
            for first in range(0, len(missing), EMBED_CHUNK):
                batch = missing[first : first + EMBED_CHUNK]
                vectors = embedder.embed_passages([text for _key, text in batch])
                cache.put_many([key for key, _text in batch], vectors)
                known.update((key, vectors[i]) for i, (key, _text) in enumerate(batch))
                if bar is not None:
                    bar.update(len(batch))
            embedded += len(missing)
            if chunk:
                out.write(start, np.stack([known[key] for key in keys]))
            if bar is not None:
                bar.update(len(chunk) - len(missing))
    finally:
        if bar is not None:
            bar.close()
    return embedded


def embed_records(
    records: Sequence[ArticleRecord],
    embedder: Embedder,
    cache: EmbeddingCache,
    progress: bool,
    scratch: Path,
) -> Embedded:
    """Vectors for every paragraph and sentence of ``records``, in scratch files in ``scratch``."""
    paragraph_count = sum(len(a.paragraphs) for a in records)
    sentence_count = sum(len(p.sentences) for a in records for p in a.paragraphs)
    paragraphs = scratch_table(scratch, paragraph_count, embedder.dimensions)
    sentences = scratch_table(scratch, sentence_count, embedder.dimensions)
    if embedder.sentence_vectors != "alone":
        bar = _progress_bar(progress, paragraph_count, "paragraphs")
        try:
            counts = embed_in_context(records, paragraphs, sentences, embedder, cache, bar)
        finally:
            if bar is not None:
                bar.close()
        return Embedded(paragraphs, sentences, *counts)
    embedded = embed_texts(
        (passage_input(p.text) for a in records for p in a.paragraphs),
        paragraphs, embedder, cache, progress, "paragraphs",
    )
    embedded_sentences = embed_texts(
        (sentence_cache_text("", p.text, (start, end), "alone")
         for a in records for p in a.paragraphs for _sid, start, end in p.sentences),
        sentences, embedder, cache, progress, "sentences",
    )
    return Embedded(paragraphs, sentences, embedded, embedded_sentences)
