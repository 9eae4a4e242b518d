"""Read articles from files and folders: load, clean, split."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

from index.clean import Cleaner
from index.load import iter_documents
from index.models import Article, Document, SkippedFile
from index.settings import SplitSettings
from index.spill import Spill
from index.split import split_document


def read_articles(
    paths: Sequence[str | Path],
    settings: SplitSettings,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    *,
    max_file_mb: float = 0,
    documents: Sequence[Document] = (),
) -> tuple[tuple[Article, ...], tuple[SkippedFile, ...]]:
    """Load, clean and split every article under ``paths`` and in ``documents`` (already
    loaded, e.g. web pages); report what had to be skipped."""
    stream = ArticleStream(paths, settings, count_tokens, max_tokens, max_file_mb=max_file_mb,
                           documents=documents)
    articles = tuple(stream)
    return articles, stream.skipped


class ArticleStream(Iterable[Article]):
    """The articles of ``read_articles``, in the same order, read a file at a time.

    Cleaning counts repeated blocks over every prose document (``index.clean``) before it can
    clean the first, so from the first prose document on, documents wait in a scratch file in
    ``scratch`` (``index.spill``) rather than in memory; verbatim documents (JSON
    ``paragraphs``) before it need no cleaning and go straight on. ``skipped`` is complete once
    the articles were read.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        settings: SplitSettings,
        count_tokens: Callable[[str], int],
        max_tokens: int,
        *,
        max_file_mb: float = 0,
        documents: Iterable[Document] = (),
        scratch: Path | None = None,
    ) -> None:
        self._paths = paths
        self._settings = settings
        self._count_tokens = count_tokens
        self._max_tokens = max_tokens
        self._max_file_mb = max_file_mb
        self._documents = documents
        self._scratch = scratch
        self._load_skipped: list[SkippedFile] = []
        self._split_skipped: list[SkippedFile] = []

    @property
    def skipped(self) -> tuple[SkippedFile, ...]:
        """Files and records that could not be indexed, and why (loading first, as listed)."""
        return (*self._load_skipped, *self._split_skipped)

    def __iter__(self) -> Iterator[Article]:
        cleaner = Cleaner(self._settings)
        waiting: Spill[Document] | None = None
        loaded = iter_documents(self._paths, self._load_skipped, max_file_mb=self._max_file_mb)
        try:
            for doc in chain(loaded, self._documents):
                doc = cleaner.add(doc)
                if waiting is None and doc.verbatim:
                    yield from self._split(doc)
                    continue
                if waiting is None:
                    waiting = Spill(self._scratch)
                waiting.append(doc)
            cleaner.finish()
            for doc in waiting or ():
                yield from self._split(cleaner.clean(doc))
        finally:
            if waiting is not None:
                waiting.close()

    def _split(self, doc: Document) -> Iterator[Article]:
        article = split_document(doc, self._settings, self._count_tokens, self._max_tokens)
        if article.paragraphs:
            yield article
        else:
            reason = f"article '{doc.article_id}' has no text left after removing boilerplate"
            self._split_skipped.append(SkippedFile(doc.source, reason))
