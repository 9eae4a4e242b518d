"""Where a disk index keeps its files, and the durable steps that change them.

Layout::

    <index>/CURRENT                      name of the serving generation (replaced atomically)
    <index>/build.lock                   held by the running build
    <index>/cache/embeddings.sqlite      embedding cache shared by all generations
    <index>/generations/<id>/manifest.json, meta.sqlite, lexical/,
        paragraphs.ids.npy, paragraphs.vectors.npy, sentences.ids.npy, sentences.vectors.npy
            vectors by id, memory-mapped (``index.vectors``)
        paragraphs.faiss, sentences.faiss
            candidate search over those rows, exact or approximate by size (``index.ann``)
    <index>/generations/.tmp-<id>/       a generation being written (removed if its build died)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import IndexCorrupt, IndexNotFound
from index.manifest import REBUILD_HINT

CURRENT_NAME = "CURRENT"
GENERATIONS_DIR = "generations"
CACHE_PATH = Path("cache") / "embeddings.sqlite"
LOCK_NAME = "build.lock"
META_NAME = "meta.sqlite"
PARAGRAPHS = "paragraphs"
SENTENCES = "sentences"
LEXICAL_DIR = "lexical"
TEMP_PREFIX = ".tmp-"


def generations_dir(root: Path) -> Path:
    """Folder holding the generations of the index at ``root``."""
    return root / GENERATIONS_DIR


def fsync_path(path: Path) -> None:
    """Flush a file or directory to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """Flush every file and folder under ``directory`` (itself included) to disk."""
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def read_current(root: Path) -> str:
    """Name of the serving generation; ``IndexNotFound`` when nothing has been built."""
    try:
        name = (root / CURRENT_NAME).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFound(f"no index at {root}; run `citebot index build`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(
            f"index file {root / CURRENT_NAME} is unreadable ({exc}); {REBUILD_HINT}"
        ) from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorrupt(f"index file {root / CURRENT_NAME} is corrupt; {REBUILD_HINT}")
    return name


def write_current(root: Path, generation: str) -> None:
    """Make ``generation`` the serving one: write, fsync, then atomically replace ``CURRENT``."""
    temp = root / f"{CURRENT_NAME}.tmp-{os.getpid()}"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(generation + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, root / CURRENT_NAME)
    fsync_path(root)


def generation_names(root: Path) -> list[str]:
    """Finished generations (no temporary ones), oldest first."""
    folder = generations_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def remove_stale_temporaries(root: Path) -> list[str]:
    """Delete generations left half-written by failed or killed builds (call under the lock)."""
    folder = generations_dir(root)
    removed: list[str] = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    for path in root.glob(f"{CURRENT_NAME}.tmp-*"):
        path.unlink(missing_ok=True)
    return removed


def prune_generations(root: Path, keep: int) -> list[str]:
    """Delete generations older than the serving one and the ``keep`` newest others."""
    current = read_current(root)
    others = [name for name in generation_names(root) if name != current]
    doomed = others[: max(0, len(others) - max(0, keep))]
    for name in doomed:
        shutil.rmtree(generations_dir(root) / name, ignore_errors=True)
    return doomed


def directory_size(directory: Path) -> int:
    """Total size in bytes of the files under ``directory``."""
    total = 0
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += (Path(folder) / name).stat().st_size
            except OSError:
                pass
    return total


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open a generation's SQLite file for reading from any thread."""
    # immutable=1: a generation never changes once written, so SQLite may skip all locking.
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if need be), waiting for a holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
