"""A build's planned articles, spilled to a scratch file instead of held as Python objects.

Held in memory, a million paragraphs cost about 4 KB each as records (text, hashes, a tuple per
sentence span): more than the rest of a build together. Each planned article is pickled into an
anonymous scratch file as plain tuples as soon as it is planned; every later pass (embedding,
SQLite, vector ids, BM25) reads the records back in order, one block of the file at a time, so
memory holds one offset per article. The file has no name, so a killed build leaves nothing.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

from index.storage import ArticleRecord, ParagraphRecord

# Bytes read per step when records are read back in order.
_READ_BLOCK = 4 << 20


def _encode(article: ArticleRecord) -> bytes:
    # Plain tuples pickle and unpickle several times faster than the dataclasses themselves.
    paragraphs = tuple(
        (p.paragraph_id, p.number, p.text, p.section, p.text_hash, p.sentences, p.page)
        for p in article.paragraphs
    )
    return pickle.dumps(
        (article.article_id, article.title, article.url, article.date, article.source,
         article.content_hash, paragraphs),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _decode(data: bytes | memoryview) -> ArticleRecord:
    article_id, title, url, date, source, digest, paragraphs = pickle.loads(data)
    return ArticleRecord(article_id, title, url, date, source, digest,
                         tuple(ParagraphRecord(*p) for p in paragraphs))


class SpilledRecords(Sequence[ArticleRecord]):
    """Articles appended once, then read back in order (or by position) from a scratch file."""

    def __init__(self, folder: Path) -> None:
        self._file = tempfile.TemporaryFile(prefix=".scratch-", dir=folder)
        self._offsets = array("q", [0])
        self.paragraphs = 0
        self.sentences = 0

    def append(self, article: ArticleRecord) -> None:
        """Add ``article`` after the others."""
        data = _encode(article)
        self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))
        self.paragraphs += len(article.paragraphs)
        self.sentences += sum(len(p.sentences) for p in article.paragraphs)

    def close(self) -> None:
        """Drop the scratch file."""
        self._file.close()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> ArticleRecord: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ArticleRecord]: ...

    def __getitem__(self, index: int | slice) -> ArticleRecord | Sequence[ArticleRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        self._file.flush()
        start, end = self._offsets[index], self._offsets[index + 1]
        return _decode(os.pread(self._file.fileno(), end - start, start))

    def __iter__(self) -> Iterator[ArticleRecord]:
        self._file.flush()
        fd, offsets, count = self._file.fileno(), self._offsets, len(self)
        first = 0
        while first < count:
            start = offsets[first]
            last = first + 1  # at least one record per read, however large
            while last < count and offsets[last + 1] - start <= _READ_BLOCK:
                last += 1
            block = memoryview(os.pread(fd, offsets[last] - start, start))
            for i in range(first, last):
                yield _decode(block[offsets[i] - start : offsets[i + 1] - start])
            first = last
