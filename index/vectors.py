"""Stored vectors addressable by id: a sorted id array and a row-aligned matrix.

Each table is two ``.npy`` files, ``<name>.ids.npy`` (int64, strictly ascending) and
``<name>.vectors.npy`` (float16, one row per id). Opening reads nothing but headers: ids are
memory-mapped (binary search touches a few pages), vector rows are read with ``pread``
(``index.diskarray``) so only the rows a query needs are copied, and the files' pages live in
the page cache, shared by every process serving the index. Sentence ids are handed out
paragraph by paragraph, so sorting by id keeps one paragraph's sentences in adjacent rows (one
read each). float16 halves the files; stored values differ from float32 by under 2e-4.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.diskarray import DiskArray, VectorRows

STORED_DTYPE = np.float16
_CHUNK = 65_536  # rows converted per step when writing, so a build never holds two copies


def ids_file(name: str) -> str:
    """File name of a table's ids."""
    return f"{name}.ids.npy"


def vectors_file(name: str) -> str:
    """File name of a table's vectors."""
    return f"{name}.vectors.npy"


def id_order(ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ascending ids and the permutation that sorts the given ones (ValueError on repeats)."""
    array = np.asarray(ids, dtype=np.int64)
    order = np.argsort(array, kind="stable")
    ordered = array[order]
    if len(ordered) > 1 and not bool((np.diff(ordered) > 0).all()):
        raise ValueError("vector ids repeat")
    return ordered, order


def positions_in(sorted_ids: np.ndarray, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Position of each of ``ids`` in the ascending ``sorted_ids`` (-1 for ids not there)."""
    wanted = np.asarray(ids, dtype=np.int64).reshape(-1)
    if not len(sorted_ids) or not len(wanted):
        return np.full(len(wanted), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == wanted, at, -1).astype(np.int64)


def write_table(
    directory: Path, name: str, ids: Sequence[int] | np.ndarray, vectors: VectorRows
) -> np.ndarray:
    """Write ``vectors`` (rows aligned with ``ids``) sorted by id; returns the permutation used."""
    ordered, order = id_order(ids)
    if len(vectors) != len(ordered):
        raise ValueError(f"{len(vectors)} vectors for {len(ordered)} ids")
    np.save(directory / ids_file(name), ordered, allow_pickle=False)
    out = empty_file(directory / vectors_file(name), len(ordered), int(vectors.shape[1]))
    identity = bool(len(order) == 0 or (np.diff(order) == 1).all())
    for start in range(0, len(order), _CHUNK):
        if identity:
            chunk = _rows(vectors, np.arange(start, min(len(order), start + _CHUNK)))
        else:
            # Sorted source rows read the input sequentially; put them back in id order.
            chunk = _rows(vectors, np.sort(order[start : start + _CHUNK]))
            chunk = chunk[np.argsort(np.argsort(order[start : start + _CHUNK]))]
        out.write(start, np.asarray(chunk, dtype=np.float32))
    del out
    return order


def _rows(vectors: VectorRows, rows: np.ndarray) -> np.ndarray:
    if isinstance(vectors, DiskArray):
        if len(rows) and int(rows[-1]) - int(rows[0]) == len(rows) - 1:  # a run: one read
            return vectors.slice(int(rows[0]), int(rows[-1]) + 1)
        return vectors.take(rows)
    return np.asarray(vectors[rows])


def empty_file(path: Path, rows: int, dimensions: int) -> DiskArray:
    """Create a ``.npy`` of ``rows`` stored vectors with its blocks allocated, open for writing.

    Rows are written with ``pwrite``, not through a memory map: every page written through a
    map stays in the writing process's RSS, gigabytes for a million paragraphs' sentences.
    """
    header = np.lib.format.open_memmap(path, mode="w+", dtype=STORED_DTYPE,
                                       shape=(rows, dimensions))
    del header
    _reserve(path)
    return DiskArray(path, writable=True)


def _reserve(path: Path) -> None:
    """Allocate a sparse file's blocks now, so a full disk is an ENOSPC error here.

    Writing through a memory map into blocks the disk cannot supply kills the process with
    SIGBUS instead: no message, no cleanup.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no fallocate there: write as before
            raise
    finally:
        os.close(fd)


class VectorTable:
    """Read-only vectors by id over the files written by ``write_table``."""

    def __init__(
        self, ids: np.ndarray, matrix: np.ndarray, reader: DiskArray | None = None
    ) -> None:
        if ids.ndim != 1 or matrix.ndim != 2 or len(ids) != len(matrix):
            raise ValueError(f"{len(ids)} ids for a matrix of shape {matrix.shape}")
        self.ids = ids
        # Memory-mapped: for whole-table passes (building, measuring recall) only.
        self.matrix = matrix
        self._reader = reader

    @classmethod
    def open(cls, directory: Path, name: str) -> VectorTable:
        """Map a table written by ``write_table`` (ValueError when its files disagree)."""
        ids = np.load(directory / ids_file(name), mmap_mode="r", allow_pickle=False)
        matrix = np.load(directory / vectors_file(name), mmap_mode="r", allow_pickle=False)
        if ids.dtype != np.int64 or matrix.dtype != STORED_DTYPE:
            raise ValueError(f"unexpected dtypes {ids.dtype}/{matrix.dtype}")
        return cls(ids, matrix, DiskArray(directory / vectors_file(name)))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimensions(self) -> int:
        """Length of each vector."""
        return int(self.matrix.shape[1])

    def rows_of(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row of each id (-1 for unknown ids)."""
        return positions_in(self.ids, ids)

    def get(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectors of ``ids`` as float32, rows in the given order (KeyError for unknown ids)."""
        rows = self.rows_of(ids)
        if (rows < 0).any():
            raise KeyError(int(np.asarray(ids, dtype=np.int64).reshape(-1)[rows < 0][0]))
        return self.take(rows)

    def span(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32 (read, not mapped: whole-table passes stay out of RSS)."""
        found = self._reader.slice(start, stop) if self._reader is not None else \
            self.matrix[start:stop]
        return np.asarray(found, dtype=np.float32)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Vectors at the given rows as float32."""
        if not len(rows):
            return np.zeros((0, self.dimensions), dtype=np.float32)
        rows = np.asarray(rows, dtype=np.int64)
        found = self._reader.take(rows) if self._reader is not None else self.matrix[rows]
        return np.asarray(found, dtype=np.float32)
