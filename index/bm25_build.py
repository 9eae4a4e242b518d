"""Writing a BM25 index of a whole build without holding its postings in memory.

``LexicalIndex.build`` sorts every (term, document, count) posting in memory: about 55 bytes a
posting, over 3 GB at a million paragraphs. Here the postings go to an anonymous scratch file
as the texts are tokenized (in document order), and are then placed term range by term range:
each range's postings are counted into place (a stable counting sort, so documents stay
ascending within a term, exactly as the in-memory sort leaves them) and written at their final
offset in ``rows.npy`` and ``weights.npy``. Memory holds the vocabulary and one range. The files
are byte for byte those ``LexicalIndex.build(...).save(...)`` writes.
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from index.bm25 import _PARAMS, _VOCAB, DEFAULT_B, DEFAULT_K1, FORMAT_VERSION
from index.diskarray import DiskArray
from index.lexical_tokens import TOKENIZER_VERSION, tokenize

# Postings (term, document, count as three int32) buffered before each write to scratch.
_FLUSH = 1 << 20
# Postings read back from scratch per step, and placed per term range: bound the memory.
_READ = 1 << 20
_RANGE = 1 << 22


def _new_npy(path: Path, dtype: type, rows: int) -> DiskArray | None:
    """An empty ``.npy`` with ``np.save``'s header, written with ``pwrite`` (nothing mapped)."""
    if rows == 0:  # numpy cannot map an empty array; there is nothing to write into it
        np.save(path, np.zeros(0, dtype=dtype), allow_pickle=False)
        return None
    header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(rows,))
    del header  # only the header is written through the map
    return DiskArray(path, writable=True)


class _Postings:
    """(term, document, count) triples in an unnamed scratch file, in the order they came."""

    def __init__(self, folder: Path) -> None:
        self.file: BinaryIO = tempfile.TemporaryFile(prefix=".scratch-", dir=folder)
        self.buffer = array("i")
        self.count = 0

    def add(self, term: int, document: int, count: int) -> None:
        self.buffer.extend((term, document, count))
        if len(self.buffer) >= 3 * _FLUSH:
            self.flush()

    def flush(self) -> None:
        self.buffer.tofile(self.file)
        self.count += len(self.buffer) // 3
        self.buffer = array("i")
        self.file.flush()

    def chunks(self, size: int = _READ) -> Iterable[np.ndarray]:
        """The postings as (n, 3) int32 blocks, in order."""
        fd = self.file.fileno()
        for first in range(0, self.count, size):
            n = min(size, self.count - first)
            data = os.pread(fd, n * 12, first * 12)
            yield np.frombuffer(data, dtype=np.int32).reshape(n, 3)


def write_lexical(
    directory: Path,
    texts: Iterable[str],
    ids: np.ndarray,
    *,
    scratch: Path,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    range_postings: int = _RANGE,
) -> None:
    """Write the BM25 index of ``texts`` (``ids[i]`` identifies the i-th) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = np.asarray(ids, dtype=np.int64)
    term_id: dict[str, int] = {}
    lengths = np.zeros(len(ids), dtype=np.float32)
    postings = _Postings(scratch)
    try:
        row = -1
        for row, text in enumerate(texts):
            if row >= len(ids):
                raise ValueError("texts and ids differ in length")
            tokens = tokenize(text)
            lengths[row] = len(tokens)
            for term, count in Counter(tokens).items():
                postings.add(term_id.setdefault(term, len(term_id)), row, count)
        if row + 1 != len(ids):
            raise ValueError("texts and ids differ in length")
        postings.flush()
        indptr = np.zeros(len(term_id) + 1, dtype=np.int64)
        for chunk in postings.chunks():
            indptr[1:] += np.bincount(chunk[:, 0], minlength=len(term_id))
        np.cumsum(indptr, out=indptr)
        avg = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
        norm = k1 * (1.0 - b + b * lengths / avg)
        rows_out = _new_npy(directory / "rows.npy", np.int32, postings.count)
        weights_out = _new_npy(directory / "weights.npy", np.float32, postings.count)
        for first, last in _term_ranges(indptr, range_postings):
            rows, tf = _place(postings, indptr, first, last)
            assert rows_out is not None and weights_out is not None  # postings exist
            rows_out.write(int(indptr[first]), rows)
            weights_out.write(int(indptr[first]), tf * (k1 + 1.0) / (tf + norm[rows]))
        del rows_out, weights_out
    finally:
        postings.file.close()
    params = {"format": FORMAT_VERSION, "tokenizer": TOKENIZER_VERSION, "k1": k1, "b": b,
              "documents": len(ids), "terms": len(term_id)}
    (directory / _PARAMS).write_text(json.dumps(params), encoding="utf-8")
    vocab = sorted(term_id, key=term_id.__getitem__)
    (directory / _VOCAB).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    for name, values in (("ids", ids), ("lengths", lengths), ("indptr", indptr)):
        np.save(directory / f"{name}.npy", values, allow_pickle=False)


def _term_ranges(indptr: np.ndarray, size: int) -> Iterable[tuple[int, int]]:
    """Consecutive term ranges of about ``size`` postings (a bigger term gets a range alone)."""
    terms, first = len(indptr) - 1, 0
    while first < terms:
        last = int(np.searchsorted(indptr, indptr[first] + size, side="right")) - 1
        last = min(terms, max(first + 1, last))
        yield first, last
        first = last


def _place(
    postings: _Postings, indptr: np.ndarray, first: int, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """Documents and counts of terms ``first:last``, ordered by term then document."""
    base = int(indptr[first])
    rows = np.empty(int(indptr[last]) - base, dtype=np.int32)
    tf = np.empty(len(rows), dtype=np.float32)
    fill = indptr[first:last] - base  # next free slot of each term
    for chunk in postings.chunks():
        terms = chunk[:, 0]
        picked = chunk[(terms >= first) & (terms < last)]
        if not len(picked):
            continue
        # Stable: postings came in document order, so each term's documents stay ascending.
        picked = picked[np.argsort(picked[:, 0], kind="stable")]
        local = picked[:, 0] - first
        starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
        sizes = np.diff(np.r_[starts, len(local)])
        rank = np.arange(len(local)) - np.repeat(starts, sizes)
        at = fill[local] + rank
        rows[at] = picked[:, 1]
        tf[at] = picked[:, 2]
        fill[local[starts]] += sizes
    return rows, tf
