"""The on-disk store: round trip, CURRENT, migrations, cache, and every way opening must fail."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index.embed import PASSAGE_INPUT_VERSION, Embedder
from index.embedding_cache import EmbeddingCache, text_key
from index.errors import IndexCorrupt, IndexMismatch, IndexNotFound
from index.manifest import FORMAT_VERSION, Manifest
from index.schema import CACHE_MIGRATIONS, GENERATION_MIGRATIONS, migrate, schema_version
from index.models import ParagraphRef
from index.storage import ArticleRecord, ParagraphRecord, SentenceRow
from index.store_layout import META_NAME, prune_generations, read_current, write_current
from index.store_reader import Generation, open_generation
from index.store_writer import write_generation

DIMS = 384  # the packaged model's, so a real (unloaded) Embedder passes the compatibility check


def _records() -> list[ArticleRecord]:
    return [
        ArticleRecord("a1", "First", "https://example.org/1", "2024-01-02", "one.jsonl", "h1", (
            ParagraphRecord(10, 0, "Alpha one. Alpha two.", None, "t10", ((1, 0, 10), (2, 11, 21))),
            ParagraphRecord(11, 1, "Beta.", "Sec", "t11", ((3, 0, 5),)),
        )),
        ArticleRecord("a2", "Second", None, None, "two.jsonl", "h2", (
            ParagraphRecord(12, 0, "Gamma.", None, "t12", ((4, 0, 6),)),
        )),
        ArticleRecord("a3", "Third", None, "2024-06-01", "three.jsonl", "h3", (
            ParagraphRecord(20, 0, "Delta.", None, "t20", ((5, 0, 6),)),
        )),
    ]


def _manifest(model_id: str, dims: int = DIMS) -> Manifest:
    return Manifest(FORMAT_VERSION, "gen", model_id, "torch", dims, True, PASSAGE_INPUT_VERSION,
                    "", 0, 0, 0, "2024-01-01T00:00:00+00:00")


def _unit(rows: int, dims: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def model() -> Embedder:
    """The packaged model's identity (the model itself is never loaded here)."""
    return Embedder()


@pytest.fixture
def index_root(tmp_path: Path, model: Embedder) -> Path:
    """An index with one generation, written from the records above."""
    root = tmp_path / "index"
    write_generation(root / "generations" / "g1", _records(), _unit(4, DIMS, 1),
                     _unit(5, DIMS, 2), _manifest(model.model_id))
    write_current(root, "g1")
    return root


def test_round_trip(index_root: Path, model: Embedder) -> None:
    gen = open_generation(index_root, model)
    assert (gen.manifest.articles, gen.manifest.paragraphs, gen.manifest.sentences) == (3, 4, 5)
    assert gen.rows([12, 10, 999]) == [
        ParagraphRef(12, "a2", 0, "Gamma.", None, "Second", None, None),
        ParagraphRef(10, "a1", 0, "Alpha one. Alpha two.", None, "First", "https://example.org/1",
                     "2024-01-02"),
    ]
    assert gen.sentences([10, 11]) == {
        10: (SentenceRow(1, 10, 0, 10, ("alpha", "one")),
             SentenceRow(2, 10, 11, 21, ("alpha", "two"))),
        11: (SentenceRow(3, 11, 0, 5, ("beta",)),),
    }
    # Stored as float16: exactly the rounded vectors come back, in the asked order.
    half = _unit(4, DIMS, 1).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(gen.paragraph_vectors([11, 10]), half[[1, 0]])
    np.testing.assert_array_equal(gen.sentence_vectors([5]),
                                  _unit(5, DIMS, 2).astype(np.float16).astype(np.float32)[[4]])
    with pytest.raises(KeyError):
        gen.paragraph_vectors([13])
    assert gen.paragraph_row("a1", 1) == ParagraphRef(11, "a1", 1, "Beta.", "Sec", "First",
                                                      "https://example.org/1", "2024-01-02")
    assert gen.paragraph_row("a1", 2) is None
    assert [r.number for r in gen.article_rows("a1")] == [0, 1]
    assert [(a.article_id, a.paragraphs) for a in gen.latest_articles(5)] == [
        ("a3", 1), ("a1", 2), ("a2", 1)]
    assert [pid for pid, _ in gen.lexical.search("gamma", 3)] == [12]
    # The FAISS index searches by inner product over the stored ids.
    _scores, ids = gen.paragraph_index.search(_unit(4, DIMS, 1)[[3]], 1)
    assert ids[0][0] == 20


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match=r"no index at .*; run `citebot index build`"):
        open_generation(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFound):
        open_generation(tmp_path / "empty")


def test_current_names_a_missing_generation(index_root: Path) -> None:
    write_current(index_root, "g2")
    with pytest.raises(IndexCorrupt, match="g2 is missing; run `citebot index rebuild`"):
        open_generation(index_root)


def test_other_model_is_a_mismatch(tmp_path: Path, model: Embedder) -> None:
    root = tmp_path / "index"
    write_generation(root / "generations" / "g", _records(), _unit(4, DIMS, 1), _unit(5, DIMS, 2),
                     _manifest("other-model:384:abc"))
    write_current(root, "g")
    with pytest.raises(IndexMismatch) as caught:
        open_generation(root, model)
    message = str(caught.value)
    assert "other-model:384:abc" in message and model.model_id in message
    assert "citebot index rebuild" in message
    assert open_generation(root).manifest.model_id == "other-model:384:abc"  # no embedder: no check


def test_other_dimensions_are_a_mismatch(tmp_path: Path, model: Embedder) -> None:
    root = tmp_path / "index"
    write_generation(root / "generations" / "g", _records(), _unit(4, 8, 1), _unit(5, 8, 2),
                     _manifest(model.model_id, dims=8))
    write_current(root, "g")
    with pytest.raises(IndexMismatch, match=r"\(8 dims\).*\(384 dims\).*citebot index rebuild"):
        open_generation(root, model)


def test_other_format_version_is_a_mismatch(index_root: Path) -> None:
    path = index_root / "generations" / "g1" / "manifest.json"
    data = json.loads(path.read_text())
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatch, match="format version .*citebot index rebuild"):
        open_generation(index_root)


def test_other_passage_prefix_is_a_mismatch(index_root: Path) -> None:
    with pytest.raises(IndexMismatch, match="passage prefix"):
        open_generation(index_root, Embedder(passage_prefix="passage: "))


def _damage(path: Path, how: str) -> None:
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "scramble":  # same size, garbage header
        data = bytearray(path.read_bytes())
        data[:64] = b"\xff" * 64
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", [META_NAME, "paragraphs.faiss", "sentences.faiss",
                                  "manifest.json", "lexical/ids.npy", "paragraphs.ids.npy",
                                  "sentences.vectors.npy"])
@pytest.mark.parametrize("how", ["delete", "truncate", "scramble"])
def test_damaged_files_are_corrupt(index_root: Path, model: Embedder, name: str, how: str) -> None:
    path = index_root / "generations" / "g1" / name
    _damage(path, how)
    with pytest.raises(IndexCorrupt) as caught:
        open_generation(index_root, model)
    message = str(caught.value)
    assert str(path.parent) in message and "citebot index rebuild" in message and "\n" not in message


def test_counts_out_of_step_with_manifest(index_root: Path) -> None:
    path = index_root / "generations" / "g1" / "manifest.json"
    data = json.loads(path.read_text())
    data["counts"]["paragraphs"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(IndexCorrupt, match="manifest says"):
        open_generation(index_root)


def test_vector_ids_out_of_step_with_sqlite(index_root: Path, model: Embedder) -> None:
    ids = index_root / "generations" / "g1" / "paragraphs.ids.npy"
    np.save(ids, np.array([10, 11, 12, 21], dtype=np.int64))  # same size, one wrong id
    with pytest.raises(IndexCorrupt, match="paragraphs.ids.npy is out of step"):
        open_generation(index_root, model)


def test_sqlite_rows_out_of_step(index_root: Path) -> None:
    meta = index_root / "generations" / "g1" / META_NAME
    size = meta.stat().st_size
    with sqlite3.connect(meta) as conn:
        conn.execute("DELETE FROM sentences WHERE id = 5")
    assert meta.stat().st_size == size  # a page-level change: only the row counts can tell
    with pytest.raises(IndexCorrupt, match="manifest says"):
        open_generation(index_root)


def test_write_current_replaces_atomically(tmp_path: Path) -> None:
    write_current(tmp_path, "first")
    write_current(tmp_path, "second")
    assert read_current(tmp_path) == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT"]


def test_prune_keeps_current_and_newest(index_root: Path, model: Embedder) -> None:
    for name in ("g0", "g2", "g3"):
        write_generation(index_root / "generations" / name, _records(), _unit(4, DIMS, 1),
                         _unit(5, DIMS, 2), _manifest(model.model_id))
    write_current(index_root, "g2")
    assert prune_generations(index_root, keep=1) == ["g0", "g1"]
    assert sorted(p.name for p in (index_root / "generations").iterdir()) == ["g2", "g3"]


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite")
    assert schema_version(conn) == 0
    assert migrate(conn, GENERATION_MIGRATIONS) == len(GENERATION_MIGRATIONS)
    extra = (*GENERATION_MIGRATIONS, "CREATE TABLE later (x INTEGER);")
    assert migrate(conn, extra) == len(extra)
    assert migrate(conn, extra) == len(extra)  # nothing left to apply, nothing fails
    versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, len(extra) + 1))


def test_newer_schema_is_a_mismatch(index_root: Path) -> None:
    meta = index_root / "generations" / "g1" / META_NAME
    with sqlite3.connect(meta) as conn:
        migrate(conn, (*GENERATION_MIGRATIONS, "CREATE TABLE later (x INTEGER);"))
    manifest = index_root / "generations" / "g1" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"][META_NAME] = meta.stat().st_size
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatch, match="schema version"):
        Generation.open(index_root / "generations" / "g1")


def test_embedding_cache_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "embeddings.sqlite"
    cache = EmbeddingCache(path, "model-a", 1, 4)
    vectors = _unit(2, 4, 3)
    cache.put_many([text_key("one"), text_key("two")], vectors)
    found = cache.get_many([text_key("two"), text_key("three")])
    assert list(found) == [text_key("two")]
    np.testing.assert_array_equal(found[text_key("two")], vectors[1])
    cache.close()
    # Keyed by model and input version: another model never sees these vectors.
    assert EmbeddingCache(path, "model-b", 1, 4).get_many([text_key("one")]) == {}
    assert EmbeddingCache(path, "model-a", 2, 4).get_many([text_key("one")]) == {}
    # A vector of the wrong size is a miss, not a wrong answer.
    assert EmbeddingCache(path, "model-a", 1, 8).get_many([text_key("one")]) == {}
    reopened = EmbeddingCache(path, "model-a", 1, 4)
    assert schema_version(reopened._conn) == len(CACHE_MIGRATIONS)
    assert reopened.clear() == 2
    assert reopened.get_many([text_key("one")]) == {}


def test_corrupt_cache_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexCorrupt, match="embedding cache .*--clean-cache"):
        EmbeddingCache(path, "m", 1, 4)


def test_lexical_index_of_an_older_tokenizer_is_a_mismatch(index_root: Path) -> None:
    from index.lexical_tokens import TOKENIZER_VERSION

    params = index_root / "generations" / "g1" / "lexical" / "params.json"
    data = json.loads(params.read_text())
    data["tokenizer"] = TOKENIZER_VERSION - 1
    params.write_text(json.dumps(data))
    with pytest.raises(IndexMismatch, match="another version of citebot.*citebot index rebuild"):
        open_generation(index_root)
