"""A damaged index is detected on open with one line naming the file and the fix.

The tests damage whatever files a generation's manifest lists, so they hold for any on-disk
layout: each listed file truncated, deleted, or (SQLite) overwritten; a manifest from another
model, dimension count or format version; vectors out of step with the metadata. The command
line reports each as one line and exits non-zero; a running reader keeps serving the last good
generation when a newer one is corrupt.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest

from conftest import CORPUS, write_corpus
from index import (
    Embedder,
    IndexCorrupt,
    IndexMismatch,
    KnowledgeBaseSettings,
    build_index,
    open_knowledge_base,
)
from index.errors import CitebotIndexError
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, read_manifest, write_manifest
from index.settings import IndexSettings
from index.store_layout import generations_dir, read_current
from index.store_reader import Generation, open_generation

pytestmark = pytest.mark.model

FIX = "citebot index rebuild"
SQLITE_MAGIC = b"SQLite format 3\x00"
QUERY = "why does sourdough bread taste sour"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An index built once; each test damages its own copy."""
    top = tmp_path_factory.mktemp("corruption")
    settings = KnowledgeBaseSettings(
        index=IndexSettings(path=str(top / "index"), sources=(str(write_corpus(top / "a")),))
    )
    build_index(settings, embedder=embedder)
    return top / "index"


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(built, copy)
    return copy


def _settings(root: Path) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(index=IndexSettings(path=str(root)))


def _generation(root: Path) -> Path:
    return generations_dir(root) / read_current(root)


def _listed_files(built: Path) -> list[str]:
    """The files the serving generation's manifest lists (the layout is not assumed)."""
    return [name for name, _size in read_manifest(_generation(built)).files]


def _sqlite_files(generation: Path) -> list[str]:
    names = []
    for name, _size in read_manifest(generation).files:
        with open(generation / name, "rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                names.append(name)
    return names


def _one_line_naming(exc: CitebotIndexError, what: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert what in message, message
    assert FIX in message, message


def test_every_listed_file_is_checked(built: Path) -> None:
    files = _listed_files(built)
    # Metadata, vectors of paragraphs and sentences, and the lexical index at the least.
    assert len(files) >= 4, files
    assert _sqlite_files(_generation(built)), "no SQLite file among the generation's files"


@pytest.mark.parametrize("damage", ["truncated", "deleted", "emptied"])
def test_damaged_file_is_named_on_open(root: Path, embedder: Embedder, damage: str) -> None:
    generation = _generation(root)
    for name in _listed_files(root):
        copy = root.parent / "work"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(root, copy)
        path = _generation(copy) / name
        if damage == "truncated":
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                handle.truncate(size // 2)
        elif damage == "deleted":
            path.unlink()
        else:
            path.write_bytes(b"")
        with pytest.raises(IndexCorrupt) as caught:
            open_knowledge_base(_settings(copy), embedder)
        _one_line_naming(caught.value, str(path))
    assert generation.is_dir()


def test_sqlite_overwritten_with_garbage_of_the_same_size(root: Path, embedder: Embedder) -> None:
    generation = _generation(root)
    for name in _sqlite_files(generation):
        path = generation / name
        size = path.stat().st_size
        path.write_bytes((b"\xde\xad\xbe\xef" * size)[:size])
        with pytest.raises(IndexCorrupt) as caught:
            open_knowledge_base(_settings(root), embedder)
        _one_line_naming(caught.value, str(path))


def _rewrite_manifest(root: Path, **changes: object) -> None:
    generation = _generation(root)
    write_manifest(generation, dataclasses.replace(read_manifest(generation), **changes))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"model_id": "another-model@0123456789ab"}, "built with model another-model"),
        ({"dimensions": 768}, "768 dims"),
    ],
)
def test_manifest_of_another_model_is_a_mismatch(
    root: Path, embedder: Embedder, changes: dict[str, object], says: str
) -> None:
    _rewrite_manifest(root, **changes)
    with pytest.raises(IndexMismatch) as caught:
        open_knowledge_base(_settings(root), embedder)
    _one_line_naming(caught.value, says)
    assert str(root) in str(caught.value)


def test_newer_format_version_is_a_mismatch(root: Path, embedder: Embedder) -> None:
    path = _generation(root) / MANIFEST_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    data["format_version"] = FORMAT_VERSION + 1
    data.pop("counts")  # a future layout need not have today's fields
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatch) as caught:
        open_knowledge_base(_settings(root), embedder)
    _one_line_naming(caught.value, f"format version {FORMAT_VERSION + 1}")


def test_unparseable_manifest_is_corrupt(root: Path, embedder: Embedder) -> None:
    path = _generation(root) / MANIFEST_NAME
    path.write_text('{"format_version": ', encoding="utf-8")
    with pytest.raises(IndexCorrupt) as caught:
        open_knowledge_base(_settings(root), embedder)
    _one_line_naming(caught.value, str(path))


def _swap_in(old: Path, new: Path, name: str, work: Path) -> Path:
    """A copy of generation ``old`` with file ``name`` from ``new``, its size made to agree."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(old, work)
    shutil.copyfile(new / name, work / name)
    manifest = read_manifest(work)
    files = tuple((n, (work / n).stat().st_size) for n, _ in manifest.files)
    write_manifest(work, dataclasses.replace(manifest, files=files))
    return work


@pytest.mark.parametrize("other", ["one more article", "one paragraph edited"])
def test_files_out_of_step_with_each_other(
    root: Path, tmp_path: Path, embedder: Embedder, other: str
) -> None:
    """Each file swapped for its counterpart of another build of the same index."""
    changed = json.loads(json.dumps(CORPUS))
    if other == "one more article":
        changed["tea"] = {"id": "tea", "title": "Tea", "paragraphs": [
            "Green tea leaves are steamed or pan-fired soon after picking, so they never oxidize."]}
    else:  # same counts; the edited paragraph gets a new id
        changed["owls"]["paragraphs"][0] = "Barn owls nest in old buildings and hunt voles at dusk."
    sources = write_corpus(tmp_path / "b", changed)
    old = _generation(root)
    build_index(KnowledgeBaseSettings(index=IndexSettings(path=str(root), sources=(str(sources),))),
                embedder=embedder)
    new = _generation(root)
    detected, missed = [], []
    for name, _size in read_manifest(old).files:
        if (old / name).read_bytes() == (new / name).read_bytes():
            continue
        work = _swap_in(old, new, name, tmp_path / "work")
        try:
            Generation.open(work, embedder).close()
        except CitebotIndexError as exc:
            assert FIX in str(exc) and "\n" not in str(exc)
            detected.append(name)
        else:
            missed.append(name)
    if other == "one more article":
        assert missed == [] and len(detected) >= 4, (detected, missed)
    else:
        # Which ids exist is checked everywhere; a table holding the same ids with other
        # values (a vector, a posting weight) has no checksum to betray it.
        sqlite = _sqlite_files(old)
        assert set(sqlite) <= set(detected), (detected, missed)
        id_files = [n for n in detected if n not in sqlite]
        assert id_files, (detected, missed)


def _corrupt_a_file(generation: Path, how: str = "truncated") -> Path:
    """Damage the generation's SQLite file: cut it, or break the page holding a paragraph."""
    path = generation / _sqlite_files(generation)[0]
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2 :]
    else:
        # The size stays right, so only reading that page can tell: its b-tree page type byte.
        page_size = int.from_bytes(data[16:18], "big")
        text = str(CORPUS["bread"]["paragraphs"][0]).encode("utf-8")  # type: ignore[index]
        page = data.index(text[:40]) // page_size * page_size
        data[page] = 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("command", "how"),
    [("search", "truncated"), ("ask", "truncated"), ("stats", "truncated"),
     ("search", "damaged page"), ("ask", "damaged page")],
)
def test_cli_reports_one_line_and_fails(
    root: Path, embedder: Embedder, command: str, how: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    monkeypatch.setattr(Embedder, "from_settings", classmethod(lambda cls, _s: embedder))
    path = _corrupt_a_file(_generation(root), how)
    args = {"search": ["search", QUERY], "ask": ["ask", QUERY], "stats": ["index", "stats"]}
    code = main([*args[command], "--index", str(root)])
    captured = capsys.readouterr()
    assert code == 1, captured
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("citebot: ")
    assert str(path) in captured.err and FIX in captured.err


@pytest.mark.parametrize("current", ["missing generation", "garbage"])
def test_cli_reports_a_bad_current_pointer(
    root: Path, capsys: pytest.CaptureFixture[str], current: str
) -> None:
    from bot.cli import main

    (root / "CURRENT").write_bytes(b"20990101T000000000000Z\n" if current == "missing generation"
                                   else b"\xff\xfe../..\n")
    assert main(["index", "stats", "--index", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and FIX in err and str(root) in err


def test_reader_keeps_the_good_generation_when_a_newer_one_is_corrupt(
    root: Path, tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(root)
    kb = open_knowledge_base(settings, embedder)
    good = kb.generation
    before = [(h.ref.article_id, h.ref.number, h.score) for h in kb.search(QUERY, 3)]

    edited = json.loads(json.dumps(CORPUS["bread"]))
    edited["paragraphs"][0] = "Rye bread keeps for a week because rye flour holds more water."
    sources = write_corpus(tmp_path / "b", {**CORPUS, "bread": edited})
    build_settings = KnowledgeBaseSettings(
        index=IndexSettings(path=str(root), sources=(str(sources),))
    )
    build_index(build_settings, embedder=embedder)
    damaged = _corrupt_a_file(_generation(root))

    with caplog.at_level(logging.WARNING, logger="index.knowledge_base"):
        for _tick in range(5):
            assert kb.refresh() is False
    assert kb.generation == good
    assert [(h.ref.article_id, h.ref.number, h.score) for h in kb.search(QUERY, 3)] == before
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert str(damaged) in warnings[0].getMessage() and good in warnings[0].getMessage()

    # A good build after the damaged one is picked up by the next refresh.
    build_index(build_settings, embedder=embedder, rebuild=True)
    assert kb.refresh() is True and kb.generation == read_current(root) != good
    assert open_generation(root, embedder).generation == kb.generation


def test_corrupt_embedding_cache_is_named_and_clean_cache_repairs_it(
    root: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main
    from index.store_layout import CACHE_PATH

    monkeypatch.setattr(Embedder, "from_settings", classmethod(lambda cls, _s: embedder))
    sources = write_corpus(root.parent / "articles")
    cache = root / CACHE_PATH
    cache.write_bytes(b"not a database at all " * 200)
    assert main(["index", "build", "--index", str(root), str(sources)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(cache) in err and "rebuild --clean-cache" in err
    # The fix the message names works although SQLite cannot open the file to empty it.
    rebuild = ["index", "rebuild", "--clean-cache", "--json", "--index", str(root), str(sources)]
    assert main(rebuild) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["articles"] == len(CORPUS) and summary["embedded"] == summary["paragraphs"]
    top = open_knowledge_base(_settings(root), embedder).search(QUERY, 1)[0]
    assert top.ref.article_id == "bread"
