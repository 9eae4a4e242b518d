"""A build's planned articles, spilled to a scratch file instead of held as Python objects.

Held in memory, a million paragraphs cost about 4 KB each as records (text, hashes, a tuple per
sentence span): more than the rest of a build together. Each planned article is written to an
unnamed scratch file (``index.spill``) as soon as it is planned; every later pass (embedding,
SQLite, vector ids, BM25) reads the records back in order, a block of the file at a time.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from index.spill import Spill
from index.storage import ArticleRecord, ParagraphRecord


class SpilledRecords(Spill[ArticleRecord]):
    """Planned articles in a scratch file in ``folder``; their paragraph and sentence counts."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.paragraphs = 0
        self.sentences = 0

    def encode(self, item: ArticleRecord) -> bytes:
        """The article as plain tuples: they pickle several times faster than dataclasses."""
        paragraphs = tuple(
            (p.paragraph_id, p.number, p.text, p.section, p.text_hash, p.sentences, p.page)
            for p in item.paragraphs
        )
        return pickle.dumps(
            (item.article_id, item.title, item.url, item.date, item.source, item.content_hash,
             paragraphs),
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    def decode(self, data: bytes | memoryview) -> ArticleRecord:
        """The article ``encode`` stored."""
        article_id, title, url, date, source, digest, paragraphs = pickle.loads(data)
        return ArticleRecord(article_id, title, url, date, source, digest,
                             tuple(ParagraphRecord(*p) for p in paragraphs))

    def append(self, item: ArticleRecord) -> None:
        """Add ``item`` after the others."""
        super().append(item)
        self.paragraphs += len(item.paragraphs)
        self.sentences += sum(len(p.sentences) for p in item.paragraphs)
