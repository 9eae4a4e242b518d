"""Objects written once to an unnamed scratch file, then read back in order or by position.

A build holds a corpus's documents and planned records this way instead of as Python objects:
memory keeps one offset per object, however large the corpus. The scratch file has no name
(it is unlinked from the start), so a killed build leaves nothing behind.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Generic, TypeVar, overload

T = TypeVar("T")

# Bytes read per step when objects are read back in order.
READ_BLOCK = 4 << 20


class Spill(Sequence[T], Generic[T]):
    """A sequence of pickled objects in a scratch file in ``folder`` (default: the temp dir)."""

    def __init__(self, folder: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(prefix=".scratch-", dir=folder)
        self._offsets = array("q", [0])

    def encode(self, item: T) -> bytes:
        """The bytes stored for ``item``."""
        return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes | memoryview) -> T:
        """The object stored as ``data``."""
        item: T = pickle.loads(data)  # our own scratch file, written by ``encode``
        return item

    def append(self, item: T) -> None:
        """Add ``item`` after the others."""
        data = self.encode(item)
        self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))

    def close(self) -> None:
        """Drop the scratch file."""
        self._file.close()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        self._file.flush()
        start, end = self._offsets[index], self._offsets[index + 1]
        return self.decode(os.pread(self._file.fileno(), end - start, start))

    def __iter__(self) -> Iterator[T]:
        self._file.flush()
        fd, offsets, count = self._file.fileno(), self._offsets, len(self)
        first = 0
        while first < count:
            start = offsets[first]
            last = first + 1  # at least one object per read, however large
            while last < count and offsets[last + 1] - start <= READ_BLOCK:
                last += 1
            block = memoryview(os.pread(fd, offsets[last] - start, start))
            for i in range(first, last):
                yield self.decode(block[offsets[i] - start : offsets[i + 1] - start])
            first = last
