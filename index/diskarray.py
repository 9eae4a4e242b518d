"""Read-only ``.npy`` arrays read on demand with ``pread``: shared page cache, nothing mapped.

Memory-mapping big arrays that are read a few scattered rows at a time looks free but is not
on kernels that keep files in large folios: touching one 768-byte row maps the whole folio into
the process, and 200 random rows of a 384 MB vector file put 223 MB into its RSS. ``pread``
copies just the bytes asked for; the file's pages stay in the kernel's page cache, shared by
every process that reads them, and opening costs nothing but the header.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class DiskArray:
    """A C-ordered ``.npy`` file whose slices and rows are read when asked for."""

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        header = np.load(path, mmap_mode="r", allow_pickle=False)  # parses and checks the header
        if not header.flags.c_contiguous:
            raise ValueError(f"{path}: not a C-ordered array")
        self.path = path
        self.shape: tuple[int, ...] = tuple(header.shape)
        self.dtype = header.dtype
        self.offset = int(header.offset)
        self.row_bytes = int(self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64)))
        del header
        mode = os.O_RDWR if writable else os.O_RDONLY
        self._fd = os.open(path, mode | getattr(os, "O_CLOEXEC", 0))

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)  # absent when __init__ failed before opening
        if fd >= 0:
            os.close(fd)
            self._fd = -1

    def _read(self, start: int, count: int) -> np.ndarray:
        size = count * self.row_bytes
        data = os.pread(self._fd, size, self.offset + start * self.row_bytes) if size else b""
        if len(data) != size:
            raise OSError(f"{self.path}: short read (file truncated?)")
        return np.frombuffer(data, dtype=self.dtype).reshape((count, *self.shape[1:]))

    def write(self, start: int, rows: np.ndarray) -> None:
        """Store ``rows`` (cast to the array's type) from row ``start`` on (opened ``writable``)."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        if start < 0 or start + len(data) > len(self) or data.shape[1:] != self.shape[1:]:
            raise IndexError(f"rows {start}:{start + len(data)} do not fit {self.path}")
        view = data.data.cast("B")
        at = self.offset + start * self.row_bytes
        while view:  # pwrite may write less than asked (signals, big writes)
            written = os.pwrite(self._fd, view, at)
            view, at = view[written:], at + written

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (clipped to the array)."""
        start, stop = max(0, int(start)), min(len(self), int(stop))
        return self._read(start, max(0, stop - start))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows, in the given order; adjacent rows are read in one call."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError(f"row out of range for {self.path}")
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        # One pread per run of adjacent rows, issued from one comprehension and placed with one
        # fancy index: a query reads ~1,000 scattered rows, and a Python loop per run cost more
        # than the reads themselves.
        breaks = np.flatnonzero(np.diff(ordered) > 1) + 1
        starts = np.concatenate([[0], breaks])
        ends = np.concatenate([breaks, [len(ordered)]])
        firsts = ordered[starts]
        counts = ordered[ends - 1] - firsts + 1
        size, at = self.row_bytes, self.offset
        data = b"".join([os.pread(self._fd, int(c) * size, at + int(f) * size)
                         for f, c in zip(firsts.tolist(), counts.tolist(), strict=True)])
        if len(data) != int(counts.sum()) * size:
            raise OSError(f"{self.path}: short read (file truncated?)")
        block = np.frombuffer(data, dtype=self.dtype).reshape((-1, *self.shape[1:]))
        run = np.repeat(np.arange(len(starts)), ends - starts)
        run_offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[order] = block[run_offset[run] + ordered - firsts[run]]
        return out


# Vectors a build hands to a storage engine: in memory, or (a real build) in a scratch file.
VectorRows = np.ndarray | DiskArray
