"""citebot's knowledge base: build an index of articles and search it.

Importing this package is cheap: its names load their modules on first use (PEP 562), and
numpy, FAISS, onnxruntime and torch load only when something needs them; ``import
index.settings`` (which the CLI needs to read its config) pulls in nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.build import build_index
    from index.cache_gc import CacheGc, collect_garbage
    from index.embed import Embedder, EmbeddingModelError
    from index.errors import (
        CitebotError,
        CitebotIndexError,
        DiskFull,
        IndexCorrupt,
        IndexLocked,
        IndexMismatch,
        IndexNotFound,
        NothingIndexed,
        SourceError,
        UnknownSource,
    )
    from index.integrity import FallBack, VerifyReport, fall_back, verify_index
    from index.knowledge_base import KnowledgeBase, open_knowledge_base
    from index.lexical_tokens import tokenize
    from index.models import (
        Article,
        ArticleInfo,
        Block,
        BuildSummary,
        Document,
        Hit,
        IndexStats,
        LoadResult,
        Paragraph,
        ParagraphRef,
        SentenceSpan,
        SkippedFile,
        page_label,
        paragraph_label,
    )
    from index.schema import migrate, schema_version
    from index.sentences import SPLITTER_VERSION, sentence_spans
    from index.settings import (
        EmbeddingSettings,
        FeedSource,
        IndexSettings,
        KnowledgeBaseSettings,
        SearchSettings,
        SourcesSettings,
        SplitSettings,
    )
    from index.uploads import (
        UPLOAD_FORMATS,
        UnsupportedUpload,
        add_upload,
        upload_id,
        upload_suffix,
    )
    from index.web_models import RefreshReport, SourceResult, SourceStatus
    from index.web_sources import add_urls, refresh_sources, remove_source, source_status

# Public name → the module that defines it.
_WHERE = {
    "migrate": "index.schema",
    "schema_version": "index.schema",
    "build_index": "index.build",
    "CacheGc": "index.cache_gc",
    "collect_garbage": "index.cache_gc",
    "Embedder": "index.embed",
    "EmbeddingModelError": "index.embed",
    "CitebotError": "index.errors",
    "CitebotIndexError": "index.errors",
    "DiskFull": "index.errors",
    "IndexCorrupt": "index.errors",
    "IndexLocked": "index.errors",
    "IndexMismatch": "index.errors",
    "IndexNotFound": "index.errors",
    "NothingIndexed": "index.errors",
    "SourceError": "index.errors",
    "FallBack": "index.integrity",
    "VerifyReport": "index.integrity",
    "fall_back": "index.integrity",
    "verify_index": "index.integrity",
    "UnknownSource": "index.errors",
    "KnowledgeBase": "index.knowledge_base",
    "open_knowledge_base": "index.knowledge_base",
    "tokenize": "index.lexical_tokens",
    "Article": "index.models",
    "ArticleInfo": "index.models",
    "Block": "index.models",
    "BuildSummary": "index.models",
    "Document": "index.models",
    "Hit": "index.models",
    "IndexStats": "index.models",
    "LoadResult": "index.models",
    "Paragraph": "index.models",
    "ParagraphRef": "index.models",
    "page_label": "index.models",
    "paragraph_label": "index.models",
    "SentenceSpan": "index.models",
    "SkippedFile": "index.models",
    "sentence_spans": "index.sentences",
    "SPLITTER_VERSION": "index.sentences",
    "EmbeddingSettings": "index.settings",
    "IndexSettings": "index.settings",
    "KnowledgeBaseSettings": "index.settings",
    "SearchSettings": "index.settings",
    "SplitSettings": "index.settings",
    "FeedSource": "index.settings",
    "SourcesSettings": "index.settings",
    "RefreshReport": "index.web_models",
    "SourceResult": "index.web_models",
    "SourceStatus": "index.web_models",
    "UPLOAD_FORMATS": "index.uploads",
    "UnsupportedUpload": "index.uploads",
    "add_upload": "index.uploads",
    "upload_id": "index.uploads",
    "upload_suffix": "index.uploads",
    "add_urls": "index.web_sources",
    "refresh_sources": "index.web_sources",
    "remove_source": "index.web_sources",
    "source_status": "index.web_sources",
}


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'index' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Article",
    "ArticleInfo",
    "Block",
    "BuildSummary",
    "CacheGc",
    "CitebotError",
    "CitebotIndexError",
    "DiskFull",
    "Document",
    "Embedder",
    "EmbeddingModelError",
    "EmbeddingSettings",
    "FallBack",
    "FeedSource",
    "Hit",
    "IndexCorrupt",
    "IndexLocked",
    "IndexMismatch",
    "IndexNotFound",
    "IndexSettings",
    "IndexStats",
    "KnowledgeBase",
    "KnowledgeBaseSettings",
    "LoadResult",
    "NothingIndexed",
    "Paragraph",
    "RefreshReport",
    "ParagraphRef",
    "SearchSettings",
    "SPLITTER_VERSION",
    "SentenceSpan",
    "SkippedFile",
    "SourceError",
    "SourceResult",
    "SourceStatus",
    "SourcesSettings",
    "SplitSettings",
    "UPLOAD_FORMATS",
    "UnknownSource",
    "UnsupportedUpload",
    "VerifyReport",
    "add_upload",
    "add_urls",
    "build_index",
    "collect_garbage",
    "fall_back",
    "migrate",
    "open_knowledge_base",
    "page_label",
    "paragraph_label",
    "refresh_sources",
    "remove_source",
    "schema_version",
    "sentence_spans",
    "source_status",
    "tokenize",
    "upload_id",
    "upload_suffix",
    "verify_index",
]
