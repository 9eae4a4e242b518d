"""A build killed with SIGKILL at any stage leaves the serving generation intact and recoverable.

Each case forks the test process (the model is already loaded) and the child runs an
incremental build that SIGKILLs itself at a named point, by wrapping one of citebot's own
functions in the child only. Afterwards the previous generation must answer exactly as before
(or, once the switch happened, the new one must equal a fresh build), and the next build must
clean up what the killed one left and produce the same index as a fresh build of the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPUS, write_corpus
from index import Embedder, IndexLocked, KnowledgeBaseSettings, build_index, open_knowledge_base
from index.settings import IndexSettings
from index.store_layout import generations_dir, read_current

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

QUERIES = (
    "how do owls hunt at night",
    "why does sourdough bread taste sour",
    "what makes a volcanic eruption explosive",
    "where does a river meet the sea",
)
# The killed build changes one paragraph and adds an article, so old and new answers differ.
EDITED_BREAD = (
    "Rye sourdough needs a wetter dough than wheat, because rye flour holds much more water. "
    "Its crumb stays dense and moist for days."
)
RIVERS = {
    "id": "rivers",
    "title": "Rivers and deltas",
    "paragraphs": [
        "A river slows down where it meets the sea and drops the sand and silt it carries. "
        "Over centuries these deposits build a delta, like that of the Nile.",
        "Tides push salt water up the mouth of a river, so the estuary holds brackish water "
        "where fresh and salt water mix.",
    ],
}
CHILD_TIMEOUT = 120.0


def _changed_corpus(folder: Path) -> Path:
    bread = json.loads(json.dumps(CORPUS["bread"]))
    bread["paragraphs"][1] = EDITED_BREAD
    return write_corpus(folder, {**CORPUS, "bread": bread, "rivers": RIVERS})


def _settings(root: Path, sources: Path) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(index=IndexSettings(path=str(root), sources=(str(sources),)))


Answers = tuple[Any, ...]


def _answers(settings: KnowledgeBaseSettings, embedder: Embedder) -> Answers:
    """Everything a reader sees: ranked hits with scores, and every article's paragraphs."""
    kb = open_knowledge_base(settings, embedder)
    hits = tuple(
        tuple((h.ref.article_id, h.ref.number, h.ref.text, round(h.score, 4))
              for h in kb.search(q, 5))
        for q in QUERIES
    )
    articles = tuple(
        (article_id, kb.article_paragraphs(article_id)) for article_id in (*CORPUS, "rivers")
    )
    return hits, articles


def _leftovers(root: Path) -> list[str]:
    """Temporary files and folders a build leaves only when it dies."""
    found = [p.name for p in generations_dir(root).glob(".tmp-*")]
    return found + [p.name for p in root.glob("CURRENT.tmp-*")]


@dataclass(frozen=True)
class KillPoint:
    """Where the child dies: before (or after) the ``nth`` call of a function.

    ``targets`` are ``module:attribute`` names, the first one that exists is wrapped (the store
    may be reorganized; a point whose targets all vanished fails the test rather than passing).
    """

    name: str
    targets: tuple[str, ...]
    nth: int = 1
    after: bool = False
    # The build has switched CURRENT before this point: the new generation serves.
    switched: bool = False
    # The killed build leaves temporary files behind that the next build must remove.
    leaves_temporaries: bool = False


KILL_POINTS = (
    KillPoint("before embedding", ("index.build_vectors:embed_texts",)),
    KillPoint("mid paragraph embedding", ("embedder:embed_passages",), nth=2),
    KillPoint("before sentence embedding", ("index.build_vectors:embed_texts",), nth=2),
    KillPoint("generation writing starts", ("index.store:write_generation",)),
    KillPoint("SQLite schema written, no rows", ("index.store_writer:migrate",), after=True,
              leaves_temporaries=True),
    KillPoint("first vector file written", ("index.store_writer:write_table",),
              nth=2, leaves_temporaries=True),
    KillPoint("vector search index half written", ("index.store_writer:_write_search_index",),
              nth=2, leaves_temporaries=True),
    KillPoint("vector files written, no manifest", ("index.store_writer:write_manifest",),
              leaves_temporaries=True),
    KillPoint("before fsync", ("index.store_writer:fsync_tree",), leaves_temporaries=True),
    KillPoint("verifying the new generation", ("index.store_reader:Generation.open",),
              leaves_temporaries=True),
    KillPoint("renamed, CURRENT not written", ("index.store:write_current",)),
    KillPoint("CURRENT.tmp written, not replaced", ("os:replace",), leaves_temporaries=True),
    KillPoint("switched, before pruning", ("index.store:prune_generations",), switched=True),
)


def _resolve(target: str, embedder: Embedder) -> tuple[Any, str] | None:
    import importlib

    module, attribute = target.split(":")
    owner: Any = embedder if module == "embedder" else importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part, None)
    return (owner, name) if owner is not None and hasattr(owner, name) else None


def _arm(point: KillPoint, embedder: Embedder) -> None:
    """In the child: make ``point`` SIGKILL this process."""
    found = [r for r in (_resolve(t, embedder) for t in point.targets) if r is not None]
    if not found:
        raise LookupError(f"none of {point.targets} exists any more: update KILL_POINTS")
    owner, name = found[0]
    original: Callable[..., Any] = getattr(owner, name)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if owner is os and not str(args[1] if len(args) > 1 else "").endswith("CURRENT"):
            return original(*args, **kwargs)
        calls += 1
        if calls == point.nth and not point.after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == point.nth and point.after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)


def _fork(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child that never returns into pytest; returns the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            body()
        except BaseException:  # noqa: BLE001 - any failure is the child's exit code
            import traceback

            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, timeout: float = CHILD_TIMEOUT) -> int:
    """The child's wait status; a child that hangs is killed and fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"child {pid} did not finish within {timeout} s")


@pytest.fixture(scope="module")
def fork_safe(embedder: Embedder) -> Embedder:
    """The session's model if it is torch; an ONNX Runtime session's threads do not survive fork."""
    if embedder.backend == "torch":
        return embedder
    model = Embedder(backend="torch")
    model.embed_passages(["load the model"])
    return model


@dataclass(frozen=True)
class Baseline:
    base_index: Path  # the index built from CORPUS, copied for each case
    changed: Path  # the corpus the killed build indexes
    before: Answers  # what the base index answers
    fresh: Answers  # what a fresh build of ``changed`` answers


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, fork_safe: Embedder) -> Baseline:
    embedder = fork_safe
    top = tmp_path_factory.mktemp("crash")
    base = _settings(top / "base-index", write_corpus(top / "base"))
    build_index(base, embedder=embedder)
    changed = _changed_corpus(top / "changed")
    fresh = _settings(top / "fresh-index", changed)
    build_index(fresh, embedder=embedder, clean_cache=True)
    before, after = _answers(base, embedder), _answers(fresh, embedder)
    assert before != after  # otherwise "answers as before" could not tell the builds apart
    return Baseline(Path(base.index.path), changed, before, after)


@pytest.fixture
def index_copy(tmp_path: Path, baseline: Baseline) -> Iterator[KnowledgeBaseSettings]:
    root = tmp_path / "index"
    shutil.copytree(baseline.base_index, root)
    yield _settings(root, baseline.changed)


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_kill_9_during_a_build(
    point: KillPoint, baseline: Baseline, index_copy: KnowledgeBaseSettings, fork_safe: Embedder
) -> None:
    embedder = fork_safe
    settings = index_copy
    root = Path(settings.index.path)
    serving = read_current(root)

    def child() -> None:
        import index.build_vectors

        index.build_vectors.EMBED_CHUNK = 1  # one text per chunk, so "mid embedding" exists
        _arm(point, embedder)
        build_index(settings, embedder=embedder)

    status = _wait(_fork(child))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
        f"the build was not killed at {point.name!r} (wait status {status})"
    )

    # The index as a reader finds it right after the crash.
    if point.switched:
        assert read_current(root) != serving
        assert _answers(settings, embedder) == baseline.fresh
    else:
        assert read_current(root) == serving
        assert _answers(settings, embedder) == baseline.before
    leftovers = _leftovers(root)
    assert bool(leftovers) == point.leaves_temporaries, leftovers

    # The next build cleans up and equals a fresh build of the same files.
    summary = build_index(settings, embedder=embedder)
    assert summary.articles == len(CORPUS) + 1 and not summary.skipped
    assert _leftovers(root) == []
    assert read_current(root) == summary.generation
    assert _answers(settings, embedder) == baseline.fresh


def test_a_second_build_refuses_while_one_runs(
    index_copy: KnowledgeBaseSettings, baseline: Baseline, fork_safe: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    embedder = fork_safe
    root = Path(index_copy.index.path)
    ready_read, ready_write = os.pipe()

    def child() -> None:
        import index.build_vectors

        def hold(*_args: Any, **_kwargs: Any) -> Any:
            os.write(ready_write, b"x")
            time.sleep(CHILD_TIMEOUT)  # holds the lock until the parent kills it

        index.build_vectors.embed_texts = hold
        build_index(index_copy, embedder=embedder)

    pid = _fork(child)
    try:
        os.close(ready_write)
        assert os.read(ready_read, 1) == b"x", "the first build never reached embedding"
        capsys.readouterr()
        code = main(["index", "build", "--index", str(root), str(baseline.changed)])
        err = capsys.readouterr().err
        assert code == 1
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith("citebot: another build is running") and f"(pid {pid})" in err
        with pytest.raises(IndexLocked):
            build_index(index_copy, embedder=embedder)
    finally:
        os.close(ready_read)
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
    # The kernel drops a dead process's lock: the next build needs no manual cleanup.
    build_index(index_copy, embedder=embedder)
    assert _answers(index_copy, embedder) == baseline.fresh
