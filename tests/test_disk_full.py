"""A build that runs out of space ends in one line, and the previous generation keeps serving.

Two ways to run out: RLIMIT_FSIZE in a forked build (every machine), and a real, small tmpfs
mounted in a user namespace (where ``unshare`` may do that without root): too small for the
new generation up front, then too small midway. Afterwards the old generation must answer as
before, and the next build (with room again) must leave nothing half-written behind.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import CORPUS, write_corpus
from index import DiskFull, Embedder, KnowledgeBaseSettings, build_index, open_knowledge_base
from index.settings import IndexSettings
from index.store_layout import generations_dir, read_current

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

QUERIES = ("how do owls hunt at night", "why does sourdough bread taste sour",
           "how much rain falls at station 7")
# Big enough that the new generation's files outgrow the limits below.
WEATHER = {
    "id": "weather",
    "title": "Rainfall at the valley stations",
    "paragraphs": [
        f"Station {i} recorded {i * 7 + 3} millimetres of rain in spring, most of it at night. "
        f"Observers at station {i} also noted winds from the {('north', 'west', 'south')[i % 3]}."
        for i in range(60)
    ],
}
FSIZE_LIMIT = 128 * 1024


def _settings(root: Path, sources: Path) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(index=IndexSettings(path=str(root), sources=(str(sources),)))


def _answers(settings: KnowledgeBaseSettings, embedder: Embedder | None) -> list[Any]:
    kb = open_knowledge_base(settings, embedder)
    return [[(h.ref.article_id, h.ref.number, round(h.score, 4)) for h in kb.search(q, 3)]
            for q in QUERIES]


def _leftovers(root: Path) -> list[str]:
    return ([p.name for p in generations_dir(root).glob(".tmp-*")]
            + [p.name for p in root.glob("CURRENT.tmp-*")])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, Path, Path]:
    """(index, small corpus, big corpus): the big one was built once (its embeddings are
    cached, so a later build of it writes only the generation), the small one serves."""
    top = tmp_path_factory.mktemp("disk-full")
    small = write_corpus(top / "small")
    big = write_corpus(top / "big", {**CORPUS, "weather": WEATHER})
    root = top / "index"
    build_index(_settings(root, big), embedder=embedder)
    build_index(_settings(root, small), embedder=embedder)
    return root, small, big


@pytest.fixture
def index(built: tuple[Path, Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of the built index for one test."""
    root, small, big = built
    shutil.copytree(root, tmp_path / "index")
    return tmp_path / "index", small, big


def test_a_file_size_limit_mid_build_leaves_the_old_generation_serving(
    index: tuple[Path, Path, Path], embedder: Embedder
) -> None:
    root, small, big = index
    serving = read_current(root)
    before = _answers(_settings(root, small), embedder)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: build the big corpus under a file-size limit
        code = 3
        try:
            os.close(read)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
            resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, resource.RLIM_INFINITY))
            try:
                build_index(_settings(root, big), embedder=embedder)
                message = "the build succeeded"
            except DiskFull as exc:
                message, code = exc.one_line(), 0
            except BaseException as exc:
                message = f"{type(exc).__name__}: {exc}"
            os.write(write, message.encode("utf-8"))
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode("utf-8")
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, message
    assert "writing the new generation failed" in message and "\n" not in message
    assert f"the disk holding {generations_dir(root)}" in message and "needs about" in message
    assert "ulimit -f" in message

    assert read_current(root) == serving and not _leftovers(root)
    assert _answers(_settings(root, small), embedder) == before
    build_index(_settings(root, big), embedder=embedder)
    assert read_current(root) != serving and not _leftovers(root)


CHILD = r"""
import json, subprocess, sys
from pathlib import Path
import index.store
from index import DiskFull, Embedder, build_index, open_knowledge_base
from index.settings import EmbeddingSettings, IndexSettings, KnowledgeBaseSettings
from index.store_layout import generations_dir, read_current

mount, source, big, small, queries = sys.argv[1:6]
root = Path(mount) / "index"
subprocess.run(["cp", "-a", source, str(root)], check=True)
embedder = Embedder.from_settings(EmbeddingSettings())  # one model load for every step

def settings(corpus):
    return KnowledgeBaseSettings(index=IndexSettings(path=str(root), sources=(corpus,)))

def answers():
    kb = open_knowledge_base(settings(small), embedder)
    return [[(h.ref.article_id, h.ref.number, round(h.score, 4)) for h in kb.search(q, 3)]
            for q in json.loads(queries)]

def leftovers():
    return ([p.name for p in generations_dir(root).glob(".tmp-*")]
            + [p.name for p in root.glob("CURRENT.tmp-*")])

def attempt():
    try:
        build_index(settings(big), embedder=embedder)
        return "built"
    except DiskFull as exc:
        return exc.one_line()

out = {"serving": read_current(root), "up_front": attempt()}
# The estimate says it fits: the disk fills while the files are being written.
index.store.estimate_generation_bytes = lambda *args: 0
out["midway"] = attempt()
out["after"] = {"serving": read_current(root), "leftovers": leftovers(), "answers": answers()}
subprocess.run(["mount", "-o", "remount,size=64m", mount], check=True)
out["with_room"] = attempt()
out["finally"] = {"serving": read_current(root), "leftovers": leftovers()}
print(json.dumps(out))
"""


def _can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {where}"],
        capture_output=True, check=False,
    )
    return probe.returncode == 0


def test_a_full_disk_leaves_the_old_generation_serving(
    index: tuple[Path, Path, Path], embedder: Embedder, tmp_path: Path
) -> None:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if not _can_mount_tmpfs(mount):
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    root, small, big = index
    before = _answers(_settings(root, small), embedder)
    # tmpfs counts whole pages.
    used = sum(-(-p.stat().st_size // 4096) * 4096 for p in root.rglob("*") if p.is_file())
    # Room for a copy of the index and a little more, not for a second generation.
    size_kb = (used + 192 * 1024) // 1024
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    command = (f"mount -t tmpfs -o size={size_kb}k tmpfs {mount} && exec {sys.executable} "
               f"{script} {mount} {root} {big} {small} '{json.dumps(QUERIES)}'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    where = f"the disk holding {mount / 'index' / 'generations'} (mounted at {mount}"
    assert out["up_front"].startswith("not enough space for the new generation")
    assert str(mount) in out["up_front"] and "needs about" in out["up_front"]
    # Scratch files (spilled records, vectors) share the index's disk: it may fill there first.
    assert out["midway"].startswith(("writing the new generation failed: no space left",
                                     "storing the new vectors failed: no space left"))
    assert str(mount) in out["midway"]
    assert out["after"] == {"serving": out["serving"], "leftovers": [],
                            "answers": json.loads(json.dumps(before))}
    assert out["with_room"] == "built"
    assert out["finally"]["serving"] != out["serving"] and out["finally"]["leftovers"] == []
