"""Sentence vectors pooled from their paragraph's forward pass (``index.span_pool``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS
from index import (
    Embedder,
    EmbeddingSettings,
    IndexMismatch,
    KnowledgeBaseSettings,
    build_index,
    open_knowledge_base,
)
from index.cache_gc import collect_garbage
from index.sentences import sentence_spans
from index.settings import IndexSettings
from index.span_pool import cut_rows, span_vectors

PARAGRAPHS = [str(p) for a in CORPUS.values() for p in a["paragraphs"]]  # type: ignore[attr-defined]


def test_span_vectors_pool_their_own_tokens_and_leave_cut_spans_empty() -> None:
    # Tokens: [CLS] "ab" "cd" . "ef" [SEP]; the window ends at character 9.
    hidden = np.array([[9, 9], [1, 0], [0, 1], [1, 1], [3, 0], [9, 9]], dtype=np.float32)
    offsets = [(0, 0), (0, 2), (3, 5), (5, 6), (7, 9), (0, 0)]
    special = [1, 0, 0, 0, 0, 1]
    rows = span_vectors(hidden, offsets, special, [(0, 6), (7, 9), (7, 12), (20, 25)])
    mean = np.array([2, 2]) / 3
    np.testing.assert_allclose(rows[0], mean / np.linalg.norm(mean), rtol=1e-6)
    np.testing.assert_allclose(rows[1], [1, 0])  # special tokens never count
    assert cut_rows(rows) == [2, 3]  # one cut by the window, one wholly outside it
    assert span_vectors(hidden, offsets, special, []).shape == (0, 2)


@pytest.fixture(scope="module")
def int8() -> Embedder:
    return Embedder(backend="onnx-int8", threads=1)


@pytest.mark.model
def test_one_pass_gives_the_paragraph_vector_and_contextual_sentences(int8: Embedder) -> None:
    spans = [sentence_spans(p) for p in PARAGRAPHS]
    results = int8.embed_with_sentences(PARAGRAPHS, spans)
    alone = int8.embed_passages(PARAGRAPHS)
    for (vector, sentences), own, cut in zip(results, alone, spans, strict=True):
        # The paragraph's own vector is exactly what embedding it alone gives.
        np.testing.assert_array_equal(vector, own)
        assert sentences.shape == (len(cut), 384) and not np.isnan(sentences).any()
        np.testing.assert_allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-5)
    pooled = np.concatenate([rows for _vector, rows in results])
    separate = int8.embed_passages([p[s:e] for p, cut in zip(PARAGRAPHS, spans) for s, e in cut])
    owner = np.array([i for i, cut in enumerate(spans) for _span in cut])
    similarity = pooled @ separate.T
    # In context a sentence means roughly what it means alone, and it is read as part of its
    # own paragraph: its nearest sentence embedded alone is one of that paragraph's.
    assert np.diag(similarity).min() > 0.6
    assert (owner[similarity.argmax(axis=1)] == owner).all()


@pytest.mark.model
def test_sentences_past_the_window_are_embedded_alone(int8: Embedder) -> None:
    sentence = "Lemmings are small rodents that live in the tundra of the far north."
    text = " ".join([sentence] * 30)  # about 480 tokens: the window of 256 cuts it
    spans = sentence_spans(text)
    (vector, rows), = int8.embed_with_sentences([text], [spans])
    alone = int8.embed_passages([sentence])[0]
    np.testing.assert_array_equal(rows[-1], alone)
    assert float(rows[0] @ alone) < 0.9999  # the first ones were pooled in context
    assert not np.isnan(rows).any()


@pytest.mark.model
def test_torch_pools_the_same_spans(int8: Embedder, embedder: Embedder) -> None:
    spans = [sentence_spans(p) for p in PARAGRAPHS[:3]]
    ours = embedder.embed_with_sentences(PARAGRAPHS[:3], spans)
    theirs = int8.embed_with_sentences(PARAGRAPHS[:3], spans)
    for (vector, rows), (other, other_rows), text in zip(ours, theirs, PARAGRAPHS, strict=False):
        assert float(vector @ embedder.embed_passages([text])[0]) > 0.9999
        assert float(vector @ other) > 0.98
        assert np.sum(rows * other_rows, axis=1).min() > 0.95  # int8 against float32


def _settings(tmp_path: Path, corpus: Path, mode: str) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(
        index=IndexSettings(path=str(tmp_path / "index"), sources=(str(corpus),)),
        embedding=EmbeddingSettings(backend="onnx-int8", threads=1, sentence_vectors=mode),
    )


@pytest.mark.model
def test_the_index_records_the_mode_and_a_build_switches_it(
    tmp_path: Path, corpus_dir: Path
) -> None:
    pooled = _settings(tmp_path, corpus_dir, "paragraph")
    first = build_index(pooled)
    assert (first.embedded, first.embedded_sentences) == (7, 14)
    generation = Path(pooled.index.path) / "generations" / first.generation
    assert json.loads((generation / "manifest.json").read_text())["sentence_vectors"] == "paragraph"
    again = build_index(pooled)  # everything, sentences included, comes from the cache
    assert (again.embedded, again.embedded_sentences) == (0, 0)

    alone = replace(pooled, embedding=replace(pooled.embedding, sentence_vectors="alone"))
    with pytest.raises(IndexMismatch, match="sentence_vectors") as raised:
        open_knowledge_base(alone)
    assert "\n" not in str(raised.value) and "citebot index build" in str(raised.value)
    switched = build_index(alone)
    assert (switched.embedded, switched.embedded_sentences) == (0, 14)  # paragraphs cached
    kb = open_knowledge_base(alone)
    assert kb.search("what do snowy owls hunt", k=1)[0].ref.article_id == "owls"



@pytest.mark.model
def test_gc_keeps_the_pooled_sentence_vectors(tmp_path: Path, corpus_dir: Path) -> None:
    settings = _settings(tmp_path, corpus_dir, "paragraph")
    build_index(settings)
    (corpus_dir / "bread.jsonl").unlink()
    build_index(settings)
    volcanoes = json.loads((corpus_dir / "volcanoes.jsonl").read_text())
    volcanoes["paragraphs"].append("Pumice is volcanic glass so full of gas bubbles it floats.")
    (corpus_dir / "volcanoes.jsonl").write_text(json.dumps(volcanoes))
    build_index(settings)
    report = collect_garbage(settings)
    # Only the bread article's paragraphs and sentences are unused by the generations kept.
    assert (report.generations, report.removed) == (2, 2 + 4)
    assert build_index(settings).embedded_sentences == 0
