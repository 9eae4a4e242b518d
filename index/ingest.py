"""Read articles from files and folders: load, clean, split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from index.clean import clean_documents
from index.load import load_paths
from index.models import Article, Document, SkippedFile
from index.settings import SplitSettings
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
    loaded = load_paths(paths, max_file_mb=max_file_mb)
    skipped = list(loaded.skipped)
    articles = []
    # Cleaned together: boilerplate repeated across a site's pages is found across all of them.
    cleaned = list(clean_documents((*loaded.documents, *documents), settings))
    del loaded
    # Popped from the end of the reversed list so each document is freed once split: a large
    # corpus is never held both as documents and as articles.
    cleaned.reverse()
    while cleaned:
        doc = cleaned.pop()
        article = split_document(doc, settings, count_tokens, max_tokens)
        if article.paragraphs:
            articles.append(article)
        else:
            reason = f"article '{doc.article_id}' has no text left after removing boilerplate"
            skipped.append(SkippedFile(doc.source, reason))
    return tuple(articles), tuple(skipped)
