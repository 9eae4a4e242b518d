"""Streaming a build's vectors: scratch files, chunked cache lookups, and pread/pwrite rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import index.build_vectors as build_vectors
import index.context_vectors as context_vectors
from index.embedding_cache import EmbeddingCache
from index.storage import ArticleRecord, ParagraphRecord
from index.vectors import VectorTable, write_table

DIMS = 8


class CountingEmbedder:
    """Deterministic vectors per text, recording every text it was asked to embed."""

    passage_prefix = "p: "
    dimensions = DIMS
    sentence_vectors = "alone"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(text.encode("utf-8")[:8].ljust(8, b"\0"), "little")
        v = np.random.default_rng(seed).normal(size=DIMS).astype(np.float32)
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([self.vector(t) for t in texts])


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    opened = EmbeddingCache(tmp_path / "cache.sqlite", "fake-model", 1, DIMS)
    yield opened
    opened.close()


def test_rows_stream_in_chunks_and_repeats_are_embedded_once(
    tmp_path: Path, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_vectors, "LOOKUP_CHUNK", 3)
    monkeypatch.setattr(build_vectors, "EMBED_CHUNK", 2)
    texts = ["alpha", "beta", "alpha", "gamma", "delta", "beta", "epsilon", "alpha"]
    embedder = CountingEmbedder()
    out = build_vectors.scratch_table(tmp_path, len(texts), DIMS)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scratch-")]  # unlinked
    embedded = build_vectors.embed_texts(texts, out, embedder, cache, False, "texts")  # type: ignore[arg-type]
    assert embedded == 5
    asked = [t for call in embedder.calls for t in call]
    assert sorted(asked) == sorted(set(texts)) and all(len(c) <= 2 for c in embedder.calls)
    expected = np.stack([embedder.vector(t) for t in texts]).astype(np.float16)
    assert np.array_equal(out.slice(0, len(texts)), expected)

    again = CountingEmbedder()
    second = build_vectors.scratch_table(tmp_path, len(texts), DIMS)
    assert build_vectors.embed_texts(texts, second, again, cache, False, "texts") == 0  # type: ignore[arg-type]
    assert again.calls == [] and np.array_equal(second.slice(0, len(texts)), expected)


def test_disk_array_writes_and_takes_scattered_repeated_rows(tmp_path: Path) -> None:
    rows = np.arange(40 * DIMS, dtype=np.float32).reshape(40, DIMS)
    table = build_vectors.scratch_table(tmp_path, 40, DIMS)
    table.write(0, rows[:25])
    table.write(25, rows[25:])
    wanted = np.array([39, 3, 4, 5, 3, 0, 17, 39, 18])
    assert np.array_equal(table.take(wanted), rows[wanted].astype(np.float16))
    with pytest.raises(IndexError):
        table.write(39, rows[:2])


def test_write_table_from_disk_rows_in_any_id_order(tmp_path: Path) -> None:
    source = np.random.default_rng(3).normal(size=(70_000, DIMS)).astype(np.float32)
    on_disk = build_vectors.scratch_table(tmp_path, len(source), DIMS)
    on_disk.write(0, source)
    ids = np.random.default_rng(4).permutation(len(source)) + 1
    write_table(tmp_path, "from_disk", ids, on_disk)
    write_table(tmp_path, "from_memory", ids, source)
    for suffix in ("ids.npy", "vectors.npy"):
        with open(tmp_path / f"from_disk.{suffix}", "rb") as a, \
                open(tmp_path / f"from_memory.{suffix}", "rb") as b:
            assert a.read() == b.read()
    table = VectorTable.open(tmp_path, "from_disk")
    rows = [int(np.flatnonzero(ids == i)[0]) for i in (5, 1)]
    assert np.array_equal(table.get([5, 1]), source[rows].astype(np.float16).astype(np.float32))


class ContextEmbedder(CountingEmbedder):
    """Pools sentences from their paragraph's pass: one call gives both (``index.span_pool``)."""

    sentence_vectors = "paragraph"

    def embed_with_sentences(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        self.calls.append(list(texts))
        return [(self.vector(self.passage_prefix + t),
                 np.array([self.vector(f"{t}|{s}:{e}") for s, e in cut]).reshape(-1, DIMS))
                for t, cut in zip(texts, spans, strict=True)]


def _records(texts: list[str]) -> list[ArticleRecord]:
    paragraphs = []
    for number, text in enumerate(texts):
        spans = [(0, 5), (6, len(text))] if len(text) > 6 else []
        sentences = tuple((number * 10 + i, s, e) for i, (s, e) in enumerate(spans))
        paragraphs.append(ParagraphRecord(number + 1, number, text, None, "h", sentences))
    return [ArticleRecord("a", "A", None, None, "a.jsonl", "c", tuple(paragraphs))]


def test_context_vectors_stream_in_chunks_and_repeats_are_embedded_once(
    tmp_path: Path, cache: EmbeddingCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context_vectors, "LOOKUP_PARAGRAPHS", 3)
    monkeypatch.setattr(context_vectors, "EMBED_PARAGRAPHS", 2)
    texts = ["alpha one", "beta two", "alpha one", "gamma", "delta four", "beta two", "eps five"]
    records = _records(texts)
    embedder = ContextEmbedder()
    got = build_vectors.embed_records(records, embedder, cache, False, tmp_path)  # type: ignore[arg-type]
    spans = [(s, e) for p in records[0].paragraphs for _i, s, e in p.sentences]
    assert (got.embedded, got.embedded_sentences) == (5, 8)
    asked = [t for call in embedder.calls for t in call]
    assert sorted(asked) == sorted(set(texts)) and all(len(c) <= 2 for c in embedder.calls)
    paragraphs = np.stack([embedder.vector("p: " + t) for t in texts]).astype(np.float16)
    assert np.array_equal(got.paragraphs.slice(0, len(texts)), paragraphs)
    owners = [p.text for p in records[0].paragraphs for _sentence in p.sentences]
    sentences = np.stack([embedder.vector(f"{t}|{s}:{e}") for t, (s, e) in zip(owners, spans)])
    assert np.array_equal(got.sentences.slice(0, len(spans)), sentences.astype(np.float16))

    again = ContextEmbedder()
    second = build_vectors.embed_records(records, again, cache, False, tmp_path)  # type: ignore[arg-type]
    assert (second.embedded, second.embedded_sentences, again.calls) == (0, 0, [])
    assert np.array_equal(second.sentences.slice(0, len(spans)), sentences.astype(np.float16))
