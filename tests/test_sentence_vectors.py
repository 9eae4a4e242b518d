"""Sentence vectors pooled from their paragraph's forward pass (``index.span_pool``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS

from index import (
    Embedder,
    EmbeddingSettings,
    KnowledgeBaseSettings,
    build_index,
    open_knowledge_base,
)
from index.cache_gc import collect_garbage
from index.embed import resolve_model
from index.onnx_export import export_dir
from index.sentences import sentence_spans
from index.settings import PACKAGED_MODEL, IndexSettings
from index.span_pool import MASKED, cut_rows, sentence_bias, span_vectors

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


def test_sentence_bias_keeps_each_sentence_to_itself() -> None:
    # Tokens: [CLS] "ab" "cd" . | "ef" "gh" | "ij" (between the spans) [SEP].
    offsets = [(0, 0), (0, 2), (3, 5), (5, 6), (7, 9), (10, 12), (13, 15), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 0, 1]
    bias = sentence_bias(offsets, special, [(0, 6), (7, 12)])
    allowed = bias == 0
    assert set(np.unique(bias)) == {0.0, MASKED}
    first, second, free, marks = [1, 2, 3], [4, 5], [6], [0, 7]
    for group in (first, second, free):
        assert allowed[np.ix_(group, group)].all()  # a sentence reads all of itself
        assert allowed[np.ix_(group, marks)].all()  # and the special tokens
    assert allowed[marks].all()  # which read everything
    assert not allowed[np.ix_(first, second)].any() and not allowed[np.ix_(second, first)].any()
    assert not allowed[np.ix_(first + second, free)].any()
    assert not allowed[np.ix_(free, first + second)].any()


@pytest.fixture(scope="module")
def int8() -> Embedder:
    return Embedder(backend="onnx-int8", threads=1, sentence_vectors="paragraph")


@pytest.fixture(scope="module")
def shared() -> Embedder:
    return Embedder(backend="onnx-int8", threads=1, sentence_vectors="shared")


def _alone_similarity(embedder: Embedder, results: list[tuple[np.ndarray, np.ndarray]],
                      spans: list[list[tuple[int, int]]]) -> np.ndarray:
    pooled = np.concatenate([rows for _vector, rows in results])
    separate = embedder.embed_passages(
        [p[s:e] for p, cut in zip(PARAGRAPHS, spans, strict=True) for s, e in cut]
    )
    return pooled @ separate.T


@pytest.mark.model
def test_the_shared_pass_keeps_the_paragraph_vector_and_reads_sentences_apart(
    shared: Embedder, int8: Embedder
) -> None:
    spans = [sentence_spans(p) for p in PARAGRAPHS]
    results = shared.embed_with_sentences(PARAGRAPHS, spans)
    for (vector, rows), own, cut in zip(results, shared.embed_passages(PARAGRAPHS), spans,
                                        strict=True):
        np.testing.assert_array_equal(vector, own)  # the paragraph's vector is unchanged
        assert rows.shape == (len(cut), 384) and not np.isnan(rows).any()
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    similarity = _alone_similarity(shared, results, spans)
    in_paragraph = _alone_similarity(int8, int8.embed_with_sentences(PARAGRAPHS, spans), spans)
    # Each sentence is nearest to itself embedded alone, and closer to it than a sentence read
    # in its whole paragraph's context is: the upper layers read it apart from its neighbours.
    assert (similarity.argmax(axis=1) == np.arange(len(similarity))).all()
    assert np.diag(similarity).mean() > np.diag(in_paragraph).mean() + 0.02
    assert np.diag(similarity).min() > 0.75


@pytest.mark.model
def test_torch_runs_the_same_shared_pass(shared: Embedder) -> None:
    torch_shared = Embedder(backend="torch", threads=1, sentence_vectors="shared")
    spans = [sentence_spans(p) for p in PARAGRAPHS[:3]]
    ours = torch_shared.embed_with_sentences(PARAGRAPHS[:3], spans)
    theirs = shared.embed_with_sentences(PARAGRAPHS[:3], spans)
    plain = torch_shared.embed_passages(PARAGRAPHS[:3])
    for (vector, rows), (other, other_rows), own in zip(ours, theirs, plain, strict=True):
        assert float(vector @ own) > 0.9999
        assert float(vector @ other) > 0.98
        assert np.sum(rows * other_rows, axis=1).min() > 0.95  # int8 against float32


def test_models_that_cannot_be_split_embed_sentences_alone(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for entry in Path(resolve_model(PACKAGED_MODEL)).iterdir():  # the weights stay where they are
        if entry.name == "config.json":
            shutil.copy(entry, folder / entry.name)
        else:
            (folder / entry.name).symlink_to(entry)
    assert Embedder(str(folder), sentence_vectors="shared").sentence_vectors == "shared"
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "distilbert"}))
    assert Embedder(str(folder), sentence_vectors="shared").sentence_vectors == "alone"
    assert Embedder(str(folder), sentence_vectors="paragraph").sentence_vectors == "paragraph"


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
def test_alone_embeds_each_sentence_as_a_text_of_its_own() -> None:
    alone = Embedder(backend="onnx-int8", threads=1, sentence_vectors="alone")
    spans = [sentence_spans(p) for p in PARAGRAPHS[:3]]
    for (vector, rows), text, cut in zip(alone.embed_with_sentences(PARAGRAPHS[:3], spans),
                                         PARAGRAPHS[:3], spans, strict=True):
        np.testing.assert_array_equal(vector, alone.embed_passages([text])[0])
        np.testing.assert_array_equal(rows, alone.embed_passages([text[a:b] for a, b in cut]))
    assert alone.embed_with_sentences([], []) == []


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
def test_torch_pools_the_same_spans(int8: Embedder) -> None:
    spans = [sentence_spans(p) for p in PARAGRAPHS[:3]]
    embedder = Embedder(backend="torch", threads=1, sentence_vectors="paragraph")
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
    built = pooled
    # Pooled in context, a sentence needs its paragraph's pass again (its vector is cached);
    # alone, only the sentences run.
    for mode, passes in (("shared", 7), ("alone", 0)):
        other = replace(pooled, embedding=replace(pooled.embedding, sentence_vectors=mode))
        # Another mode in the config serves the index as it was built, until a build...
        before = open_knowledge_base(built).search("what do snowy owls hunt", k=3)
        kb = open_knowledge_base(other)
        assert kb.stats().sentence_vectors == built.embedding.sentence_vectors
        assert kb.search("what do snowy owls hunt", k=3) == before
        # ... which embeds every sentence anew.
        switched = build_index(other)
        assert (switched.embedded, switched.embedded_sentences) == (passes, 14)
        kb = open_knowledge_base(other)
        assert kb.stats().sentence_vectors == mode
        assert kb.search("what do snowy owls hunt", k=1)[0].ref.article_id == "owls"
        built = other


@pytest.mark.model
@pytest.mark.parametrize("mode", ["paragraph", "shared"])
def test_gc_keeps_the_pooled_sentence_vectors(
    tmp_path: Path, corpus_dir: Path, mode: str
) -> None:
    settings = _settings(tmp_path, corpus_dir, mode)
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


@pytest.mark.model
def test_the_int8_shared_graph_quantizes_every_weight(shared: Embedder) -> None:
    import onnx

    shared.embed_with_sentences(PARAGRAPHS[:1], [sentence_spans(PARAGRAPHS[0])])
    path = export_dir(shared.cache_dir, shared.model_id, "onnx-int8", "shared") / "model.onnx"
    graph = onnx.load(str(path)).graph
    weights = {w.name for w in graph.initializer}
    weights |= {n.output[0] for n in graph.node
                if n.op_type == "Identity" and n.input[0] in weights}
    # The upper layers run twice on the same weights; a weight left in float32 there made the
    # sentence path cost twice the paragraph's.
    float_products = [n.name for n in graph.node
                      if n.op_type in ("MatMul", "Gemm") and any(x in weights for x in n.input)]
    assert float_products == []
    # Six weight products per layer: three shared layers, then three layers run twice, but the
    # first of those computes its query, key and value once (both paths read the same input).
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 6 * (3 + 2 * 3) - 3
