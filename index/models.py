"""Frozen records passed between the indexing stages and returned by the public API."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Block:
    """One blank-line separated block of a loaded document, before cleaning and splitting."""

    text: str
    section: str | None = None
    # The page the block starts on (1-based), for formats that have pages (PDF).
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """An article as read from a file: metadata plus raw text blocks.

    ``verbatim`` marks blocks that must become paragraphs exactly as given (JSON ``paragraphs``),
    so citations keep the source's own numbering.
    """

    article_id: str
    title: str
    source: str
    blocks: tuple[Block, ...]
    url: str | None = None
    date: str | None = None
    verbatim: bool = False


@dataclass(frozen=True)
class Paragraph:
    """A citable unit: one paragraph of an article, numbered from 0 in the article's own order."""

    article_id: str
    number: int
    text: str
    section: str | None = None
    # The page the paragraph starts on (1-based), when its source has pages (PDF).
    page: int | None = None


@dataclass(frozen=True)
class Article:
    """A cleaned, split article ready to be stored."""

    article_id: str
    title: str
    source: str
    paragraphs: tuple[Paragraph, ...]
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    """A file (or record) that could not be indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """What the loaders produced from a set of paths."""

    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...]


@dataclass(frozen=True)
class BuildSummary:
    """Outcome of ``index build`` / ``index rebuild``."""

    articles: int
    added: int
    updated: int
    removed: int
    unchanged: int
    paragraphs: int
    embedded: int
    skipped: tuple[SkippedFile, ...]
    seconds: float
    generation: str = ""
    # Sentence texts embedded this run (sentence vectors are extra to the paragraphs' ``embedded``).
    embedded_sentences: int = 0
    # (article id, source, "added" | "updated" | "unchanged") of every article built, so a
    # refresh can tell each source what happened to its articles.
    changes: tuple[tuple[str, str, str], ...] = field(default=(), repr=False, compare=False)
    # Cached embeddings no kept generation uses any more, pruned after a rebuild, and the bytes
    # that gave back.
    cache_pruned: int = 0
    cache_saved_bytes: int = 0


@dataclass(frozen=True)
class IndexStats:
    """What ``index stats`` reports about the serving generation."""

    path: str
    generation: str
    model: str
    backend: str
    dimensions: int
    articles: int
    paragraphs: int
    sentences: int
    size_bytes: int
    built_at: str
    format_version: int
    # How each vector table is searched ("flat" = exact, or e.g. "ivfpq nlist=2000 nprobe=200
    # pq=48x8 refine=200") and that search's recall@10 against exact search (None: exact).
    paragraph_search: str = "flat"
    paragraph_recall: float | None = None
    sentence_search: str = "flat"
    sentence_recall: float | None = None
    # Version of the sentence splitter that split the stored sentences (see index.sentences).
    sentence_splitter: int = 0
    # How the sentence vectors were made: "shared", "paragraph" or "alone" (index.span_pool).
    sentence_vectors: str = "alone"


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a paragraph as character offsets into the paragraph's text."""

    start: int
    end: int
    score: float = 0.0


def paragraph_label(number: int, *, long: bool = False) -> str:
    """How people see paragraph ``number`` (counted from 0): "¶3", or "paragraph 3" if ``long``."""
    # People count paragraphs from 1; everything stored and passed around counts from 0.
    shown = number + 1
    return f"paragraph {shown}" if long else f"¶{shown}"


def page_label(page: int | None) -> str | None:
    """How people see a page number: "p. 4" (None when the source has no pages)."""
    return None if page is None else f"p. {page}"


@dataclass(frozen=True)
class ParagraphRef:
    """One indexed paragraph with its article's metadata: what a search finds and an answer cites.

    ``number`` counts from 0 in the article's own order (``paragraph_label`` shows it). The
    fields are in the order the store reads them, so it can build one straight from a row.
    ``page`` is the page the paragraph starts on (1-based) when its source has pages (PDF).
    """

    paragraph_id: int
    article_id: str
    number: int
    text: str
    section: str | None
    title: str
    url: str | None
    date: str | None
    page: int | None = None

    @property
    def label(self) -> str:
        """The short label people see, e.g. "¶3"."""
        return paragraph_label(self.number)


@dataclass(frozen=True)
class Hit:
    """A retrieved paragraph with its fused score and the signals behind it."""

    ref: ParagraphRef
    score: float
    signals: tuple[tuple[str, float], ...] = ()
    sentences: tuple[SentenceSpan, ...] = field(default=())

    def signal(self, name: str, default: float = 0.0) -> float:
        """Return one named retrieval signal (e.g. ``bm25``, ``dense``) of this hit."""
        for key, value in self.signals:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class ArticleInfo:
    """An indexed article as listed by ``latest_articles``."""

    article_id: str
    title: str
    url: str | None
    date: str | None
    paragraphs: int
