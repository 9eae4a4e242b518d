"""citebot's knowledge base: build an index of articles and search it.

Importing this package is cheap: torch, sentence-transformers and FAISS load on first use.
"""

from index.build import build_index
from index.embed import Embedder, EmbeddingModelError
from index.errors import (
    CitebotIndexError,
    IndexCorrupt,
    IndexLocked,
    IndexMismatch,
    IndexNotFound,
    NothingIndexed,
)
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
    SentenceSpan,
    SkippedFile,
)
from index.sentences import sentence_spans
from index.settings import (
    EmbeddingSettings,
    IndexSettings,
    KnowledgeBaseSettings,
    SearchSettings,
    SplitSettings,
)

__all__ = [
    "Article",
    "ArticleInfo",
    "Block",
    "BuildSummary",
    "CitebotIndexError",
    "Document",
    "Embedder",
    "EmbeddingModelError",
    "EmbeddingSettings",
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
    "SearchSettings",
    "SentenceSpan",
    "SkippedFile",
    "SplitSettings",
    "build_index",
    "open_knowledge_base",
    "sentence_spans",
    "tokenize",
]
