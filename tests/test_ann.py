"""Vector tables by id and the exact/approximate candidate search chosen by size."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, write_corpus
from index import Embedder, IndexSettings, KnowledgeBaseSettings, build_index, open_knowledge_base
from index.ann import (
    FLAT,
    IVFPQ,
    VectorSearch,
    build_search_index,
    choose_kind,
    exact_top_rows,
    ivfpq_parameters,
    recall_at_k,
)
from index.diskarray import DiskArray
from index.errors import IndexMismatch
from index.knowledge_base import KnowledgeBase
from index.store_reader import open_generation
from index.vectors import VectorTable, write_table

DIMS = 48


def _clustered(rows: int, seed: int) -> np.ndarray:
    """Unit vectors around 40 centres: structured like text embeddings, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIMS))
    vectors = centres[rng.integers(0, 40, rows)] + 0.6 * rng.normal(size=(rows, DIMS))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_table_finds_ids_with_gaps_in_any_order(tmp_path: Path) -> None:
    ids = [40, 3, 17, 1000, 5]  # kept ids of an incremental build: unsorted, with gaps
    vectors = np.arange(5 * DIMS, dtype=np.float32).reshape(5, DIMS) / 1000
    write_table(tmp_path, "t", ids, vectors)
    table = VectorTable.open(tmp_path, "t")
    assert isinstance(table.ids, np.memmap) and isinstance(table._reader, DiskArray)
    assert table.ids.tolist() == [3, 5, 17, 40, 1000]
    expected = vectors.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(table.get([1000, 3, 40]), expected[[3, 1, 0]])
    assert table.rows_of([4, 17, 2000, 0]).tolist() == [-1, 2, -1, -1]
    with pytest.raises(KeyError):
        table.get([17, 16])
    with pytest.raises(ValueError, match="repeat"):
        write_table(tmp_path, "u", [1, 2, 1], vectors[:3])


def test_kind_follows_the_size() -> None:
    assert choose_kind(50_000, 50_000) == FLAT and choose_kind(50_001, 50_000) == IVFPQ
    small, large = ivfpq_parameters(3_000, 384), ivfpq_parameters(1_000_000, 384)
    assert (large.pq_m, large.pq_bits, large.nlist, large.nprobe) == (96, 4, 1000, 333)
    assert small.nlist < large.nlist and small.nprobe <= small.nlist
    assert 3_000 // small.nlist >= 39  # enough training points per list


def test_approximate_search_keeps_the_exact_top_hits(tmp_path: Path) -> None:
    base = _clustered(3_000, 1)
    ids = np.arange(3_000) * 3 + 7  # ids are not rows
    write_table(tmp_path, "t", ids, base)
    table = VectorTable.open(tmp_path, "t")
    index, info = build_search_index(table, approximate_above=100)
    assert info.kind == IVFPQ and info.refine < len(table)
    search = VectorSearch(index, table, info)
    queries = _clustered(100, 2)
    exact = exact_top_rows(table, queries, 10)
    scores, found = search.search(queries, 10)
    # The exact re-scoring makes the best hit the same nearly always, with its true score.
    truth = table.ids[[row[np.argmax(table.take(row) @ q)] for row, q in zip(exact, queries)]]
    assert np.mean(found[:, 0] == truth) >= 0.95
    np.testing.assert_allclose(scores[:, 0], (table.get(found[:, 0]) * queries).sum(1), atol=1e-5)
    assert recall_at_k(search, queries) >= 0.9
    flat, flat_info = build_search_index(table, approximate_above=len(table))
    assert flat_info.kind == FLAT
    assert recall_at_k(VectorSearch(flat, table, flat_info), queries) == 1.0


@pytest.fixture(scope="module")
def approximate_kb(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> tuple[KnowledgeBase, KnowledgeBase]:
    """The test corpus indexed with the approximate path forced (every table is 'large')."""
    folder = tmp_path_factory.mktemp("ann")
    sources = write_corpus(folder / "articles", CORPUS)
    exact_settings = KnowledgeBaseSettings(
        index=IndexSettings(path=str(folder / "exact"), sources=(str(sources),)))
    forced = dataclasses.replace(
        exact_settings, index=dataclasses.replace(exact_settings.index, path=str(folder / "approx"),
                                                  approximate_above=0))
    build_index(exact_settings, embedder=embedder)
    # The same texts: the forced build takes every vector from the copied cache.
    shutil.copytree(folder / "exact" / "cache", folder / "approx" / "cache")
    build_index(forced, embedder=embedder)
    return open_knowledge_base(exact_settings, embedder), open_knowledge_base(forced, embedder)


@pytest.mark.model
def test_forced_approximate_index_answers_like_the_exact_one(
    approximate_kb: tuple[KnowledgeBase, KnowledgeBase],
) -> None:
    exact, approx = approximate_kb
    stats = approx.stats()
    assert stats.paragraph_search.startswith("ivfpq") and stats.sentence_search.startswith("ivfpq")
    assert stats.paragraph_recall is not None and 0.0 <= stats.paragraph_recall <= 1.0
    assert exact.stats().paragraph_search == "flat" and exact.stats().paragraph_recall is None
    for query in ("Which owl hunts in daylight?", "Why does magma rise?", "sourdough starter"):
        assert [h.ref.paragraph_id for h in approx.search(query, 3)] == \
            [h.ref.paragraph_id for h in exact.search(query, 3)]
        assert approx.search(query, 1, mode="dense")[0].ref.paragraph_id == \
            exact.search(query, 1, mode="dense")[0].ref.paragraph_id


@pytest.mark.model
def test_generation_opens_its_files_lazily(approximate_kb: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    _, approx = approximate_kb
    generation = open_generation(approx.root)
    for search in (generation.paragraph_index, generation.sentence_index):
        assert isinstance(search.table.ids, np.memmap)
        assert isinstance(search.table._reader, DiskArray)
    assert isinstance(generation.lexical.rows, DiskArray)
    manifest = json.loads((generation.path / "manifest.json").read_text())
    assert manifest["paragraph_search"]["kind"] == IVFPQ
    files = set(manifest["files"])
    assert {"paragraphs.ids.npy", "sentences.vectors.npy", "paragraphs.faiss"} <= files


def test_an_older_format_is_a_mismatch_with_the_rebuild_hint(tmp_path: Path) -> None:
    generation = tmp_path / "index" / "generations" / "g"
    generation.mkdir(parents=True)
    # A format-1 manifest: FAISS files held the vectors, and no search-index fields existed.
    (generation / "manifest.json").write_text(json.dumps({
        "format_version": 1, "generation": "g", "model_id": "m", "backend": "torch",
        "dimensions": 384, "normalized": True, "passage_input": 1, "passage_prefix": "",
        "counts": {"articles": 1, "paragraphs": 1, "sentences": 1}, "built_at": "x", "files": {}}))
    (tmp_path / "index" / "CURRENT").write_text("g\n")
    with pytest.raises(IndexMismatch, match="format version 1 .*citebot index rebuild"):
        open_generation(tmp_path / "index")


def test_disk_array_reads_rows_and_slices_like_numpy(tmp_path: Path) -> None:
    data = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "a.npy", data)
    array = DiskArray(tmp_path / "a.npy")
    rows = np.array([7, 3, 4, 19, 3, 0, 5])  # unordered, repeated, with adjacent runs
    np.testing.assert_array_equal(array.take(rows), data[rows])
    np.testing.assert_array_equal(array.slice(18, 25), data[18:20])
    assert array.take(np.array([], dtype=np.int64)).shape == (0, 3)
    with pytest.raises(IndexError):
        array.take(np.array([20]))
