"""A hostile corpus: every bad file is reported with its reason, everything else is indexed.

Static fixtures (tests/fixtures/hostile) hold legacy encodings, malformed HTML, XHTML and a
JSON Lines file with a broken line and a duplicate id; what cannot live in git (binary and
empty files, a 50 MB file, a FIFO, /dev/zero behind an article name, symlink loops, an
unreadable file) is made in a temporary folder. benchmarks/hostile_inputs.py prints the time
and memory such inputs cost.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from index import Embedder, KnowledgeBaseSettings, open_knowledge_base
from index.ingest import read_articles
from index.load import load_paths
from index.models import SkippedFile
from index.sentences import MAX_SENTENCE_CHARS, sentence_spans
from index.settings import IndexSettings, SplitSettings
from index.split import MAX_CHARS_PER_TOKEN, token_budget

FIXTURES = Path(__file__).parent / "fixtures" / "hostile"
BIG_MB = 50
NOBODY = 65534


def _write_big_text(path: Path, megabytes: int) -> None:
    """Real prose, not a sparse file: the limit must hold for text a loader would accept."""
    paragraph = ("The committee met again on Tuesday and discussed the budget at length. " * 8)
    block = ((paragraph + "\n\n") * 200).encode("utf-8")
    with open(path, "wb") as handle:
        handle.write(b"A very long log\n\n")
        while handle.tell() < megabytes * 1024 * 1024:
            handle.write(block)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """The fixtures plus the files that are made at test time."""
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    (corpus / "photo.html").write_bytes(png)
    # No NUL byte at all, so only the share of control characters gives it away.
    (corpus / "noise.txt").write_bytes(bytes(b for b in range(1, 32) if b not in (9, 10, 13)) * 64)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.txt").write_text(" \n\n\t\n", encoding="utf-8")
    _write_big_text(corpus / "server-log.txt", BIG_MB)
    os.mkfifo(corpus / "pipe.txt")
    os.symlink("/dev/zero", corpus / "zero.txt")
    os.symlink("self-link.md", corpus / "self-link.md")
    (corpus / "nested").mkdir()
    os.symlink("..", corpus / "nested" / "back-up")
    os.symlink(corpus / "missing.txt", corpus / "dangling.txt")
    assert stat.S_ISFIFO(os.stat(corpus / "pipe.txt").st_mode)
    assert stat.S_ISCHR(os.stat(corpus / "zero.txt").st_mode)
    return corpus


def _name(path: str) -> str:
    """``/x/records.jsonl:line 2`` → ``records.jsonl:line 2``."""
    file, sep, line = path.partition(":line")
    return Path(file).name + sep + line


def _reasons(skipped: Iterable[SkippedFile]) -> dict[str, str]:
    return {_name(s.path): s.reason for s in skipped}


def _expect_skips(reasons: dict[str, str]) -> None:
    expected = {
        "photo.html": "binary file",
        "noise.txt": "binary file",
        "empty.md": "empty file",
        "blank.txt": "empty file",
        "server-log.txt": "[index] max_file_mb",
        "pipe.txt": "not a regular file",
        "zero.txt": "not a regular file",
        "self-link.md": "cannot read",
        "dangling.txt": "cannot read",
        "records.jsonl:line 2": "malformed JSON",
        "records.jsonl": "duplicate article id 'orchards'",
    }
    for name, fragment in expected.items():
        assert name in reasons, f"{name} was not reported; reported: {sorted(reasons)}"
        assert fragment in reasons[name], (name, reasons[name])
    assert set(reasons) == set(expected), sorted(set(reasons) - set(expected))


INDEXED = {
    "latin1": "Le garçon a mangé une crêpe à la crème fraîche près de la fenêtre ouverte",
    "cp1252": "The editor wrote “final” on the proof — the printer charged €40",
    "utf16": "Über die alte Brücke gingen die Kinder jeden Morgen zur Schule",
    "malformed": "The river flooded the valley after three days of rain",
    "xhtml": "The last lighthouse keepers left the island in 1989",
    "orchards": "Apple orchards bloom in late spring",
    "hives": "A beekeeper opens the hive on a warm afternoon",
}


def test_loading_a_hostile_corpus_reports_each_file(hostile: Path) -> None:
    result = load_paths([hostile], max_file_mb=IndexSettings().max_file_mb)
    _expect_skips(_reasons(result.skipped))
    by_id = {d.article_id: d for d in result.documents}
    assert set(by_id) == set(INDEXED)
    for article_id, text in INDEXED.items():
        assert any(text in block.text for block in by_id[article_id].blocks), article_id


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    text = "Tide tables list the times of high and low water for each day of the year. " * 40
    (tmp_path / "tides.txt").write_text("Tides\n\n" + text, encoding="utf-8")
    size_mb = (tmp_path / "tides.txt").stat().st_size / 1024 / 1024
    small = load_paths([tmp_path], max_file_mb=size_mb / 2)
    assert small.documents == () and "over the" in small.skipped[0].reason
    assert "[index] max_file_mb" in small.skipped[0].reason
    for limit in (size_mb * 2, 0):  # 0 means no limit
        loaded = load_paths([tmp_path], max_file_mb=limit)
        assert [d.article_id for d in loaded.documents] == ["tides"]


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A folder outside pytest's private tmp tree, so an unprivileged child can reach it."""
    folder = Path(tempfile.mkdtemp(prefix="citebot-unreadable-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _in_child(work: Callable[[], object]) -> object:
    """Run ``work`` in a forked child and return its JSON-able result (the child's state is lost)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(work()).encode("utf-8"))
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + 60
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
        assert time.monotonic() < deadline
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return json.loads(b"".join(chunks))


def _load_as_unprivileged(folder: Path) -> dict[str, object]:
    """``load_paths`` run by a user that file permissions apply to (root ignores them)."""

    def load() -> dict[str, object]:
        result = load_paths([folder])
        return {"ids": [d.article_id for d in result.documents],
                "skipped": _reasons(result.skipped)}

    if os.geteuid() != 0:
        return load()

    def load_as_nobody() -> dict[str, object]:
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        return load()

    loaded = _in_child(load_as_nobody)
    assert isinstance(loaded, dict)
    return loaded


def test_unreadable_file_is_skipped_even_as_root(world_readable_dir: Path) -> None:
    good = "Harbour seals rest on sandbanks at low tide and hunt fish when the water returns."
    (world_readable_dir / "seals.txt").write_text("Seals\n\n" + good, encoding="utf-8")
    secret = world_readable_dir / "secret.txt"
    secret.write_text("Secret\n\n" + good.replace("seals", "otters"), encoding="utf-8")
    secret.chmod(0)
    loaded = _load_as_unprivileged(world_readable_dir)
    assert loaded["ids"] == ["seals"]
    assert loaded["skipped"] == {"secret.txt": "cannot read: Permission denied"}


def test_a_paragraph_of_100000_characters_is_cut_by_tokens(
    tmp_path: Path, embedder: Embedder
) -> None:
    words = " ".join(f"token{i % 977}" for i in range(12_000))[:100_000]
    blob = "QUJD" * 25_000  # one 100,000-character "word" (base64 without line breaks)
    (tmp_path / "run-on.txt").write_text("Run on\n\n" + words, encoding="utf-8")
    (tmp_path / "blob.md").write_text("# Blob\n\n" + blob, encoding="utf-8")
    articles, skipped = read_articles([tmp_path], SplitSettings(), embedder.count_tokens,
                                      embedder.max_tokens)
    assert skipped == ()
    budget = token_budget(embedder.max_tokens)
    for article, source in zip(sorted(articles, key=lambda a: a.article_id), (blob, words)):
        texts = [p.text for p in article.paragraphs]
        assert len(texts) > 1
        assert max(embedder.count_tokens(t) for t in texts) <= budget
        # A tokenizer reads a 100-character "word" as one unknown token: characters are bounded too.
        assert max(len(t) for t in texts) <= budget * MAX_CHARS_PER_TOKEN
        # Nothing is lost or reordered: the pieces put back together are the source.
        assert "".join(texts).replace(" ", "") == source.replace(" ", "")


def test_an_over_long_verbatim_paragraph_keeps_its_number_but_bounded_sentences() -> None:
    text = ", ".join(f"item {i}" for i in range(20_000))
    spans = sentence_spans(text)
    assert max(end - start for start, end in spans) <= MAX_SENTENCE_CHARS
    assert " ".join(text[s:e] for s, e in spans) == text


def test_build_reports_every_problem_and_indexes_the_rest(
    hostile: Path, tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot import cli

    monkeypatch.setattr(Embedder, "from_settings", classmethod(lambda cls, _settings: embedder))
    index = tmp_path / "index"
    code = cli.main(["index", "build", "--json", "--index", str(index), str(hostile)])
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    _expect_skips(_reasons(SkippedFile(s["path"], s["reason"]) for s in summary["skipped"]))
    assert summary["articles"] == len(INDEXED)
    settings = KnowledgeBaseSettings(index=IndexSettings(path=str(index)))
    kb = open_knowledge_base(settings, embedder)
    for article_id, text in INDEXED.items():
        assert any(text in p.text for p in kb.article_paragraphs(article_id)), article_id
    hit = kb.search("le garçon et la crêpe à la crème", 1)[0]
    assert hit.ref.article_id == "latin1" and "crêpe" in hit.ref.text
