"""Checksums in the manifest, ``citebot index verify`` and ``--fall-back``, ``citebot index gc``,
the disk-space estimate and the pre-flight check. Generations are written from records with
random vectors, so nothing here loads the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.cli_serve import verify_before_serving
from bot.settings import Settings
from index import DiskFull, IndexCorrupt, KnowledgeBaseSettings, collect_garbage, fall_back
from index import verify_index
from index.embed import PASSAGE_INPUT_VERSION, passage_input
from index.embedding_cache import EmbeddingCache, text_key
from index.integrity import NothingToFallBackFrom
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest, read_manifest
from index.settings import IndexSettings
from index.storage import ArticleRecord, ParagraphRecord
from index.store import DiskStore
from index.store_layout import CACHE_PATH, generations_dir, read_current, write_current
from index.store_reader import open_generation
from index.store_writer import write_generation

DIMS = 8
MODEL = "test-model"


def _records(tag: str = "", paragraphs: int = 3) -> list[ArticleRecord]:
    out = []
    sid = 1
    for a in range(2):
        paras = []
        for n in range(paragraphs):
            text = f"Paragraph {n} of article {a}{tag}. It has two sentences."
            paras.append(ParagraphRecord(a * 100_000 + n + 1, n, text, None, f"h{a}{n}",
                                         ((sid, 0, text.index(".") + 1),
                                          (sid + 1, text.index(".") + 2, len(text)))))
            sid += 2
        paras_t = tuple(paras)
        arts = ArticleRecord(f"a{a}", f"Title {a}", None, None, f"{a}.jsonl", f"c{a}{tag}", paras_t)
        out.append(arts)
    return out


def _manifest(name: str) -> Manifest:
    return Manifest(FORMAT_VERSION, name, MODEL, "torch", DIMS, True, PASSAGE_INPUT_VERSION,
                    "", 0, 0, 0, f"2024-01-0{name[-1]}T00:00:00+00:00")


def _vectors(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, DIMS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _write(root: Path, name: str, records: list[ArticleRecord]) -> None:
    paragraphs = sum(len(a.paragraphs) for a in records)
    sentences = sum(len(p.sentences) for a in records for p in a.paragraphs)
    write_generation(generations_dir(root) / name, records, _vectors(paragraphs, 1),
                     _vectors(sentences, 2), _manifest(name))
    write_current(root, name)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An index with two generations, g2 serving and g1 kept."""
    root = tmp_path / "index"
    _write(root, "g1", _records(" old"))
    _write(root, "g2", _records())
    return root


def _settings(root: Path) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(index=IndexSettings(path=str(root)))


def _flip(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _listed(root: Path, generation: str) -> list[str]:
    return [name for name, _size in read_manifest(generations_dir(root) / generation).files]


def test_every_file_has_a_checksum_and_an_intact_index_verifies(root: Path) -> None:
    manifest = read_manifest(generations_dir(root) / "g2")
    assert manifest.checksum_algorithm == "sha256"
    assert [n for n, _ in manifest.checksums] == [n for n, _ in manifest.files]
    assert len(manifest.files) >= 8  # sqlite, 4 vector files, 2 search indexes, lexical files
    report = verify_index(_settings(root))
    assert [(g.generation, g.serving, g.intact, g.checksummed) for g in report.generations] == [
        ("g2", True, True, True), ("g1", False, True, True)]
    assert report.problem_line() is None
    older = read_manifest(generations_dir(root) / "g1")
    assert report.size_bytes == sum(s for _n, s in manifest.files) + sum(s for _n, s in older.files)


def test_a_flipped_byte_in_each_file_is_named(root: Path, tmp_path: Path) -> None:
    import shutil

    for name in [*_listed(root, "g2"), MANIFEST_NAME]:
        copy = tmp_path / f"copy-{name.replace('/', '_')}"
        shutil.copytree(root, copy)
        target = generations_dir(copy) / "g2" / name
        # The manifest's digits: a changed count or checksum, not a JSON syntax error.
        _flip(target, target.read_bytes().index(b'"articles": ') + 12 if name == MANIFEST_NAME
              else None)
        report = verify_index(_settings(copy))
        assert [p.name for p in report.generations[0].problems] == [name], name
        line = report.problem_line()
        assert line is not None and str(target) in line and "citebot index rebuild" in line
        assert "--fall-back" in line and "g1" in line  # the intact older generation


def test_cli_verify_names_the_file_in_one_line(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "verify", "--index", str(root)]) == 0
    out, err = capsys.readouterr()
    assert "g2 (serving): ok" in out and "match their checksums" in out and err == ""
    target = generations_dir(root) / "g2" / "paragraphs.vectors.npy"
    _flip(target)
    assert main(["index", "verify", "--index", str(root)]) == 1
    out, err = capsys.readouterr()
    assert "DAMAGED" in out and "paragraphs.vectors.npy: its sha256 checksum differs" in out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("citebot: ") and str(target) in lines[0]
    assert main(["index", "verify", "--json", "--index", str(root)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["intact"] is False and data["generations"][0]["problems"][0]["name"] == (
        "paragraphs.vectors.npy")


def test_fall_back_serves_the_intact_generation(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NothingToFallBackFrom):
        fall_back(_settings(root))
    _flip(generations_dir(root) / "g2" / "meta.sqlite")
    assert main(["index", "verify", "--fall-back", "--index", str(root)]) == 0
    assert "now serving generation g1" in capsys.readouterr().out
    assert read_current(root) == "g1" and not (generations_dir(root) / "g2").exists()
    open_generation(root).close()
    assert verify_index(_settings(root)).problem_line() is None


def test_no_generation_to_fall_back_to(root: Path) -> None:
    for name in ("g1", "g2"):
        _flip(generations_dir(root) / name / "sentences.faiss")
    line = verify_index(_settings(root)).problem_line()
    assert line is not None and "--fall-back" not in line and "citebot index rebuild" in line
    with pytest.raises(IndexCorrupt, match="no intact generation"):
        fall_back(_settings(root))
    assert read_current(root) == "g2"


def test_damage_in_a_generation_not_serving(root: Path) -> None:
    _flip(generations_dir(root) / "g1" / "sentences.ids.npy")
    report = verify_index(_settings(root))
    line = report.problem_line()
    assert line is not None and "g1 is not serving" in line
    assert report.generations[0].intact and not report.generations[1].intact


def test_an_old_manifest_verifies_sizes_only(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = generations_dir(root) / "g2" / MANIFEST_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["checksums"], data["manifest_checksum"]
    path.write_text(json.dumps(data), encoding="utf-8")
    _flip(generations_dir(root) / "g2" / "paragraphs.vectors.npy")  # same size: not seen
    report = verify_index(_settings(root), serving_only=True)
    assert [(g.generation, g.intact, g.checksummed) for g in report.generations] == [
        ("g2", True, False)]
    assert main(["index", "verify", "--index", str(root)]) == 0
    assert "predates checksums" in capsys.readouterr().out
    (generations_dir(root) / "g2" / "meta.sqlite").write_bytes(b"short")
    assert "bytes, the manifest says" in str(verify_index(_settings(root)).problem_line())


def test_serve_verifies_at_start_when_asked(root: Path) -> None:
    settings = Settings(index=IndexSettings(path=str(root), verify_on_start=True))
    verify_before_serving(settings)
    _flip(generations_dir(root) / "g2" / "sentences.vectors.npy")
    with pytest.raises(IndexCorrupt, match="is damaged"):
        verify_before_serving(settings)


# --- the embedding cache -----------------------------------------------------------------------


def _keys(records: list[ArticleRecord]) -> list[bytes]:
    texts = [p.text for a in records for p in a.paragraphs]
    texts += [p.text[s:e] for a in records for p in a.paragraphs for _sid, s, e in p.sentences]
    return [text_key(passage_input(t)) for t in texts]


def _cache_rows(root: Path) -> set[tuple[str, bytes]]:
    import sqlite3

    conn = sqlite3.connect(root / CACHE_PATH)
    try:
        return {(m, bytes(k)) for m, k in conn.execute("SELECT model_id, text_hash FROM embeddings")}
    finally:
        conn.close()


def test_gc_removes_only_unreferenced_entries(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    used = set(_keys(_records(" old")) + _keys(_records()))
    unused = [text_key(f"edited away {i}" + "x" * 500) for i in range(3000)]
    cache = EmbeddingCache(root / CACHE_PATH, MODEL, PASSAGE_INPUT_VERSION, DIMS)
    cache.put_many(sorted(used) + unused, _vectors(len(used) + len(unused), 3))
    cache.close()
    other = EmbeddingCache(root / CACHE_PATH, MODEL, PASSAGE_INPUT_VERSION, DIMS, "onnx")
    other.put_many(sorted(used), _vectors(len(used), 4))  # another backend: no generation's
    other.close()
    before = os.path.getsize(root / CACHE_PATH)

    assert main(["index", "gc", "--json", "--index", str(root)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["removed"], result["kept"], result["generations"]) == (
        len(unused) + len(used), len(used), 2)
    assert _cache_rows(root) == {(MODEL, k) for k in used}
    assert result["saved_bytes"] > 0 and os.path.getsize(root / CACHE_PATH) < before
    assert main(["index", "gc", "--index", str(root)]) == 0  # nothing left to remove
    assert "removed 0 cached embeddings" in capsys.readouterr().out


def test_gc_keeps_everything_when_a_generation_is_unreadable(root: Path) -> None:
    cache = EmbeddingCache(root / CACHE_PATH, MODEL, PASSAGE_INPUT_VERSION, DIMS)
    cache.put_many([text_key("unused")], _vectors(1, 5))
    cache.close()
    (generations_dir(root) / "g1" / "meta.sqlite").write_bytes(b"\0" * 4096)
    with pytest.raises(IndexCorrupt, match="was not pruned"):
        collect_garbage(_settings(root))
    assert len(_cache_rows(root)) == 1


# --- disk space ------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate_above", [50_000, 10])
def test_the_space_estimate_covers_what_is_written(tmp_path: Path, approximate_above: int) -> None:
    from index.diskspace import estimate_generation_bytes
    from index.store_layout import directory_size

    records = _records(paragraphs=400)
    paragraphs = sum(len(a.paragraphs) for a in records)
    folder = tmp_path / "g"
    write_generation(folder, records, _vectors(paragraphs, 1), _vectors(2 * paragraphs, 2),
                     _manifest("g1"), approximate_above=approximate_above)
    estimate = estimate_generation_bytes(records, DIMS, approximate_above)
    assert directory_size(folder) <= estimate <= 3 * directory_size(folder) + (1 << 20)


def test_a_build_that_cannot_fit_fails_before_writing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.diskspace

    monkeypatch.setattr(index.diskspace, "free_bytes", lambda path: 1000)
    records = _records(" new")
    with pytest.raises(DiskFull) as caught:
        DiskStore(root).publish(records, _vectors(6, 1), _vectors(12, 2), _manifest("g3"),
                                approximate_above=50_000, embedder=None)  # type: ignore[arg-type]
    line = caught.value.one_line()
    assert str(generations_dir(root)) in line and "mounted at" in line
    assert "needs about" in line and "1000 B free" in line
    assert read_current(root) == "g2"
    assert sorted(p.name for p in generations_dir(root).iterdir()) == ["g1", "g2"]


def test_write_failures_for_lack_of_space_are_recognised() -> None:
    import errno
    import sqlite3

    from index.diskspace import out_of_space

    assert out_of_space(OSError(errno.ENOSPC, "No space left on device")) is not None
    assert out_of_space(OSError(errno.EFBIG, "File too large")) is not None
    assert out_of_space(RuntimeError("write error: No space left on device")) is not None
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert out_of_space(full) is not None
    assert out_of_space(OSError(errno.EACCES, "Permission denied")) is None
    assert out_of_space(ValueError("no")) is None
