"""Disk space for a build: what a new generation needs, and a full disk reported as one line."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from index.ann import IVFPQ, choose_kind, ivfpq_parameters
from index.errors import DiskFull
from index.storage import ArticleRecord

# Measured on SQuAD v1.1 dev and the test corpus, rounded up: SQLite stores a paragraph's text
# with its hash, row and key overhead; a sentence row with its index entry; BM25 postings and
# vocabulary take about the text's size again; each sentence's stored terms about 0.75 of it.
_META_PER_PARAGRAPH = 200
_META_PER_SENTENCE = 48
_TERMS_PER_TEXT_BYTE = 0.8
_META_PER_ARTICLE = 400
_LEXICAL_PER_TEXT_BYTE = 1.2
_LEXICAL_PER_PARAGRAPH = 32
_MARGIN = 1.2
_FIXED = 1 << 20  # headers, SQLite's first pages, the manifest
_NEARLY_FULL = 4 << 20
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NO_SPACE = "no space left on the disk"
TOO_LARGE = "a file grew past the largest size allowed"


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (a file system can only be asked about those)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path``."""
    path = _existing(path)
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes free for this user on the file system holding ``path``."""
    return shutil.disk_usage(_existing(path)).free


def human_bytes(size: float) -> str:
    """A size for people: ``512 B``, ``3.1 MB``, ``2.4 GB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # unreachable; keeps type checkers content


def estimate_generation_bytes(
    articles: Sequence[ArticleRecord], dimensions: int, approximate_above: int
) -> int:
    """About how many bytes ``write_generation`` will write for ``articles`` (an upper estimate)."""
    # One pass: a big build's articles are read back from disk for every pass.
    count = paragraphs = sentences = text = 0
    for article in articles:
        count += 1
        paragraphs += len(article.paragraphs)
        for p in article.paragraphs:
            sentences += len(p.sentences)
            text += len(p.text.encode("utf-8"))
    total = (
        text * (1 + _TERMS_PER_TEXT_BYTE) + paragraphs * _META_PER_PARAGRAPH
        + sentences * _META_PER_SENTENCE
        + count * _META_PER_ARTICLE
        + text * _LEXICAL_PER_TEXT_BYTE + paragraphs * _LEXICAL_PER_PARAGRAPH
    )
    for rows in (paragraphs, sentences):
        total += rows * (8 + 2 * dimensions)  # ids and float16 vectors
        if choose_kind(rows, approximate_above) == IVFPQ:
            info = ivfpq_parameters(rows, dimensions)
            # Centroids, then 4-bit codes and an id per vector (fast-scan pads blocks of 32).
            total += info.nlist * dimensions * 4 + (rows + 32 * info.nlist) * (info.pq_m / 2 + 8)
        else:
            total += rows * dimensions * 4
    return int(total * _MARGIN) + _FIXED


def out_of_space(exc: BaseException, where: Path | None = None) -> str | None:
    """Why a write failed for want of space (or of file size), else None.

    SQLite reports some failed writes (its shared-memory file, for one) as a plain I/O error;
    with ``where``, such an error on a disk with almost nothing free counts as a full disk.
    """
    if isinstance(exc, OSError):
        if exc.errno in _NO_SPACE:
            return NO_SPACE
        if exc.errno == errno.EFBIG:
            return TOO_LARGE
        return None
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL:
            return NO_SPACE
        if code is not None and code & 0xFF == sqlite3.SQLITE_IOERR and where is not None:
            return NO_SPACE if free_bytes(where) < _NEARLY_FULL else None
        return None
    # FAISS reports failed writes as RuntimeError with the C library's message.
    if isinstance(exc, RuntimeError):
        text = str(exc)
        if os.strerror(errno.ENOSPC) in text or os.strerror(errno.EDQUOT) in text:
            return NO_SPACE
        if os.strerror(errno.EFBIG) in text:
            return TOO_LARGE
    return None


def _disk(where: Path) -> str:
    free = human_bytes(free_bytes(where))
    return f"the disk holding {where} (mounted at {mount_point(where)}, {free} free)"


def disk_full(where: Path, doing: str, reason: str, needed: int | None) -> DiskFull:
    """The one-line error for a build that ran out of space while ``doing`` something."""
    need = f"; the new generation needs about {human_bytes(needed)}" if needed else ""
    fix = (
        "free space there" if reason != TOO_LARGE
        else "raise the file-size limit (ulimit -f) or move the index to a file system that "
        "allows larger files"
    )
    return DiskFull(
        f"{doing} failed: {reason}, on {_disk(where)}{need}; {fix} and build again "
        "(the serving generation is unchanged)"
    )


def check_space(where: Path, needed: int) -> None:
    """Raise ``DiskFull`` before writing when the disk holding ``where`` lacks ``needed`` bytes."""
    free = free_bytes(where)
    if free < needed:
        raise DiskFull(
            f"not enough space for the new generation on the disk holding {where} (mounted at "
            f"{mount_point(where)}): it needs about {human_bytes(needed)}, "
            f"{human_bytes(free)} free; free "
            f"{human_bytes(needed - free)} or more there and build again "
            "(the serving generation is unchanged)"
        )
