"""What builds and searches need from an index engine, and the records that cross that seam.

An engine keeps immutable generations of the knowledge base, one of them serving: a build writes
a new one and switches to it, readers open the serving one and look paragraphs, sentences and
vectors up by id. ``index.store.DiskStore`` (FAISS + SQLite files in a folder) and
``index.milvus_store.MilvusStore`` (collections behind an alias) are the engines, chosen in
``open_storage``.

An engine brings candidates (BM25, paragraph and sentence vectors) and the corpus's term
statistics; everything citebot ranks by (fusion signals, answers) is computed by citebot on the
returned candidates, so engines differ only in which candidates they find.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from index.errors import SettingsInvalid

if TYPE_CHECKING:
    import numpy as np

    from index.bm25 import QueryTerms
    from index.diskarray import VectorRows
    from index.embed import Embedder
    from index.manifest import Manifest
    from index.models import ArticleInfo, ParagraphRef
    from index.settings import KnowledgeBaseSettings


@dataclass(frozen=True)
class SentenceRow:
    """A sentence of a stored paragraph, as character offsets into its text."""

    sentence_id: int
    paragraph_id: int
    start: int
    end: int
    # Its lexical terms as ``index.lexical_tokens.sentence_terms`` gives them, when the engine
    # stored them at build time (None: tokenize ``text[start:end]``).
    terms: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ParagraphRecord:
    """A paragraph to be written into a new generation."""

    paragraph_id: int
    number: int
    text: str
    section: str | None
    text_hash: str
    sentences: tuple[tuple[int, int, int], ...]  # (sentence_id, start, end)
    page: int | None = None


@dataclass(frozen=True)
class ArticleRecord:
    """An article to be written into a new generation."""

    article_id: str
    title: str
    url: str | None
    date: str | None
    source: str
    content_hash: str
    paragraphs: tuple[ParagraphRecord, ...]


@dataclass(frozen=True)
class PreviousGeneration:
    """What a build needs from the serving generation: content hashes and paragraph ids."""

    generation: str
    content_hashes: dict[str, str]
    # (article_id, number, text_hash) → paragraph id, so unchanged paragraphs keep their id.
    paragraph_ids: dict[tuple[str, int, str], int]
    max_paragraph_id: int


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: the slice of the sources one build process writes."""

    index: int = 1
    count: int = 1

    def holds(self, article_id: str) -> bool:
        """Whether the article belongs to this shard (the same answer in every process)."""
        return zlib.crc32(article_id.encode("utf-8")) % self.count == self.index - 1


class CandidateSearch(Protocol):
    """Nearest stored vectors by inner product, answered with ids like a FAISS index."""

    @property
    def ntotal(self) -> int:
        """Number of searchable vectors."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors per query (-1 ids pad)."""
        ...


class LexicalCandidates(Protocol):
    """The BM25 candidates of one query."""

    @property
    def top(self) -> list[tuple[int, float]]:
        """The best (paragraph id, score) pairs, best first."""
        ...

    def scores(self, ids: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """citebot's own BM25 score of each paragraph (``texts`` are their texts), for fusion."""
        ...


class LexicalSearch(Protocol):
    """Full-text candidates and the corpus's term statistics (idf, vocabulary)."""

    vocab: list[str]
    term_id: dict[str, int]
    idf: np.ndarray
    unseen_idf: float

    def document_frequencies(self) -> np.ndarray:
        """How many paragraphs hold each term of ``vocab``."""
        ...

    def query_terms(self, query: str) -> QueryTerms:
        """The distinct terms of ``query`` with their idf, and its adjacent term pairs."""
        ...

    def candidates(self, query: str, k: int) -> LexicalCandidates:
        """The ``k`` best BM25 candidates of ``query``."""
        ...

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (paragraph id, score) pairs by BM25 alone, best first."""
        ...


class StoredGeneration(Protocol):
    """One opened, read-only generation; safe to share between threads."""

    @property
    def generation(self) -> str:
        """The generation's name."""
        ...

    @property
    def manifest(self) -> Manifest:
        """What the generation holds and how it was embedded."""
        ...

    @property
    def lexical(self) -> LexicalSearch:
        """BM25 candidates and term statistics of its paragraphs."""
        ...

    @property
    def paragraph_index(self) -> CandidateSearch:
        """Candidate search over the paragraph vectors."""
        ...

    @property
    def sentence_index(self) -> CandidateSearch:
        """Candidate search over the sentence vectors."""
        ...

    def rows(self, paragraph_ids: Sequence[int]) -> list[ParagraphRef]:
        """Paragraph rows in the order of ``paragraph_ids`` (unknown ids are left out)."""
        ...

    def paragraph_row(self, article_id: str, number: int) -> ParagraphRef | None:
        """One paragraph by its article and number."""
        ...

    def article_rows(self, article_id: str) -> list[ParagraphRef]:
        """All paragraphs of an article, in its own order."""
        ...

    def sentences(self, paragraph_ids: Sequence[int]) -> dict[int, tuple[SentenceRow, ...]]:
        """Sentences of each paragraph, in text order."""
        ...

    def sentence_paragraphs(self, sentence_ids: Sequence[int]) -> dict[int, int]:
        """Paragraph id of each given sentence id (unknown ids are left out)."""
        ...

    def paragraph_vectors(self, paragraph_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the paragraphs (rows in the given order; KeyError for unknown ids)."""
        ...

    def sentence_vectors(self, sentence_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the sentences (rows in the given order; KeyError for unknown ids)."""
        ...

    def latest_articles(self, n: int) -> list[ArticleInfo]:
        """The ``n`` most recent articles: by date (undated last), then newest indexed first."""
        ...

    def close(self) -> None:
        """Release the generation (only once no thread uses it)."""
        ...


class Storage(Protocol):
    """An index engine: builds publish generations into it, readers open the serving one."""

    def serving(self) -> str:
        """Name of the serving generation; ``IndexNotFound`` when nothing has been built."""
        ...

    def open(
        self, generation: str | None = None, embedder: Embedder | None = None
    ) -> StoredGeneration:
        """Open a generation (default: the serving one); with ``embedder``, check compatibility."""
        ...

    def manifest(self, generation: str) -> Manifest:
        """A generation's manifest, without opening the rest of it."""
        ...

    def previous(self, generation: str) -> PreviousGeneration:
        """Content hashes and paragraph ids of a generation, for an incremental build."""
        ...

    def remove_unfinished(self) -> list[str]:
        """Delete what failed or killed builds left half-written (call under the build lock)."""
        ...

    def publish(
        self,
        articles: Sequence[ArticleRecord],
        paragraph_vectors: VectorRows,
        sentence_vectors: VectorRows,
        manifest: Manifest,
        *,
        approximate_above: int,
        embedder: Embedder,
    ) -> Manifest:
        """Write, verify and switch to the generation ``manifest`` names; its final manifest.

        Vectors are rows aligned with the paragraphs (and sentences) in ``articles`` order. When
        anything fails, the serving generation stays as it was and nothing new is left behind.
        """
        ...

    def prune(self, keep: int) -> list[str]:
        """Delete generations older than the serving one and the ``keep`` newest others."""
        ...

    def size_bytes(self) -> int:
        """Space the whole index takes up."""
        ...


def new_generation_id() -> str:
    """A fresh generation name that sorts by build time."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


ENGINES = ("faiss", "milvus")


def open_storage(settings: KnowledgeBaseSettings) -> Storage:
    """The engine holding the configured index."""
    engine = settings.index.engine
    if engine == "milvus":
        from index.milvus_store import MilvusStore

        return MilvusStore.connect(settings.milvus, Path(settings.index.path))
    if engine != "faiss":
        raise SettingsInvalid(
            f"[index] engine must be one of {', '.join(ENGINES)}, got {engine!r}"
        )
    from index.store import DiskStore

    return DiskStore(Path(settings.index.path))
