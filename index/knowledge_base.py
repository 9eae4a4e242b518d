"""The knowledge base as the rest of citebot sees it: search and look up indexed paragraphs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.ann import describe
from index.embed import Embedder
from index.errors import CitebotIndexError, IndexCorrupt, IndexMismatch
from index.manifest import stale_sentences
from index.models import ArticleInfo, Hit, IndexStats, Paragraph, ParagraphRef, SentenceSpan
from index.settings import KnowledgeBaseSettings
from index.storage import Storage, StoredGeneration, open_storage

if TYPE_CHECKING:
    from index.search import HybridSearcher
    from index.spelling import Speller

log = logging.getLogger(__name__)

# Ways ``KnowledgeBase.search`` can rank: the product's fusion, or one retriever alone.
SEARCH_MODES = ("hybrid", "bm25", "dense")


@dataclass(frozen=True)
class _Serving:
    """A generation with its searcher; swapped as a whole so a call never mixes two."""

    generation: StoredGeneration
    searcher: HybridSearcher


def _paragraph(row: ParagraphRef) -> Paragraph:
    return Paragraph(row.article_id, row.number, row.text, row.section, row.page)


class KnowledgeBase:
    """Read access to the serving generation of an index; safe to use from several threads."""

    def __init__(
        self,
        settings: KnowledgeBaseSettings,
        embedder: Embedder,
        store: Storage,
        generation: StoredGeneration,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.root = Path(settings.index.path)
        self._store = store
        self._refresh_lock = threading.Lock()
        # The newest generation refresh could not open, and why (logged once).
        self._rejected: str | None = None
        self._rejected_reason: str | None = None
        self._serving = self._serve(generation)
        self._spellers: dict[str, Speller] = {}

    def _serve(self, generation: StoredGeneration) -> _Serving:
        from index.search import HybridSearcher

        notice = stale_sentences(generation.manifest, self.root)
        if notice:
            log.warning("%s", notice)
        return _Serving(generation, HybridSearcher(generation, self.embedder, self.settings.search))

    @property
    def generation(self) -> str:
        """Name of the generation being served."""
        return self._serving.generation.generation

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        prior: Mapping[int, float] | None = None,
        mode: str = "hybrid",
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The ``k`` best paragraphs for ``query``; ``prior`` maps paragraph id → score bonus.

        ``mode`` "bm25" or "dense" ranks by that retriever alone (baselines for evaluation;
        those hits carry no sentence scores and ignore ``prior``). ``vector`` is the query's
        embedding when the caller already has it (batch evaluation, benchmarks).
        """
        serving = self._serving
        if mode == "hybrid":
            return serving.searcher.search(query, k, prior, vector=vector)
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r} (known: {', '.join(SEARCH_MODES)})")
        generation = serving.generation
        if k <= 0 or not query.strip():
            return []
        ranked: list[tuple[int, float]]
        if mode == "bm25":
            ranked = generation.lexical.search(query, k)
        else:
            index = generation.paragraph_index
            query_vector = self.embed_query(query) if vector is None else vector
            vector = np.ascontiguousarray(query_vector[None, :], dtype=np.float32)
            ranked = []
            if index.ntotal:  # an empty FAISS index refuses to search
                scores, ids = index.search(vector, min(k, index.ntotal))
                pairs = zip(ids[0], scores[0], strict=True)
                ranked = [(int(i), float(s)) for i, s in pairs if i >= 0]
        refs = {ref.paragraph_id: ref for ref in generation.rows([pid for pid, _ in ranked])}
        return [
            Hit(refs[pid], score, signals=((mode, score),)) for pid, score in ranked if pid in refs
        ]

    def paragraph(self, article_id: str, number: int) -> Paragraph | None:
        """One paragraph by article id and its number in the article (from 0)."""
        row = self._serving.generation.paragraph_row(article_id, number)
        return _paragraph(row) if row else None

    def hit_for(self, paragraph_id: int) -> Hit | None:
        """A paragraph as an unscored hit (with its sentence spans), e.g. for a cited follow-up."""
        generation = self._serving.generation
        ref = next(iter(generation.rows([paragraph_id])), None)
        if ref is None:
            return None
        sentences = generation.sentences([paragraph_id])[paragraph_id]
        return Hit(ref, 0.0, sentences=tuple(SentenceSpan(s.start, s.end) for s in sentences))

    def article_paragraphs(self, article_id: str) -> tuple[Paragraph, ...]:
        """All paragraphs of an article in order (empty when it is not indexed)."""
        return tuple(_paragraph(r) for r in self._serving.generation.article_rows(article_id))

    def article_paragraph_ids(self, article_id: str) -> tuple[int, ...]:
        """Paragraph ids of an article in its own order (e.g. for a follow-up's prior)."""
        return tuple(r.paragraph_id for r in self._serving.generation.article_rows(article_id))

    def term_weights(self, terms: Iterable[str]) -> dict[str, float]:
        """The idf of lexical terms (``tokenize`` output); terms no paragraph holds weigh most."""
        lexical = self._serving.generation.lexical
        out: dict[str, float] = {}
        for term in terms:
            tid = lexical.term_id.get(term)
            out[term] = lexical.unseen_idf if tid is None else float(lexical.idf[tid])
        return out

    def spelling_corrections(
        self, words: Iterable[str], real_words: bool = False
    ) -> dict[str, str]:
        """Corrections of lower-cased words whose term no paragraph holds to terms it does.

        Real words are left alone unless ``real_words`` ("quake" is no typo of "quaker").
        """
        serving = self._serving
        speller = self._spellers.get(serving.generation.generation)
        if speller is None:
            from index.spelling import Speller

            lexical = serving.generation.lexical
            speller = Speller(lexical.vocab, lexical.document_frequencies(),
                              self.embedder.dictionary_words(), known=lexical.term_id)
            # One generation serves at a time; the speller of a replaced one is dropped.
            self._spellers = {serving.generation.generation: speller}
        out: dict[str, str] = {}
        for word in words:
            fixed = speller.correct(word, real_words)
            if fixed is not None:
                out[word] = fixed
        return out

    def latest_articles(self, n: int) -> tuple[ArticleInfo, ...]:
        """The ``n`` most recent articles (by date, undated last)."""
        return tuple(self._serving.generation.latest_articles(n))

    def stats(self) -> IndexStats:
        """Model, counts, size on disk (whole index folder) and build time of the index."""
        generation = self._serving.generation
        manifest = generation.manifest
        return IndexStats(
            path=str(self.root),
            generation=generation.generation,
            model=manifest.model_id,
            backend=manifest.backend,
            dimensions=manifest.dimensions,
            articles=manifest.articles,
            paragraphs=manifest.paragraphs,
            sentences=manifest.sentences,
            size_bytes=self._store.size_bytes(),
            built_at=manifest.built_at,
            format_version=manifest.format_version,
            paragraph_search=describe(manifest.paragraph_search),
            paragraph_recall=manifest.paragraph_search.recall_at_10,
            sentence_search=describe(manifest.sentence_search),
            sentence_recall=manifest.sentence_search.recall_at_10,
            sentence_splitter=manifest.sentence_splitter,
            sentence_vectors=manifest.sentence_vectors,
        )

    def embed_query(self, text: str) -> np.ndarray:
        """The query vector of ``text`` (normalized float32)."""
        return self.embedder.embed_queries([text])[0]

    def refresh(self) -> bool:
        """Serve a newer generation if one was built; the old one serves until this returns.

        A newer generation that cannot be opened (corrupt, mismatched) is logged once and
        skipped: the generation being served keeps serving until a good one is built.
        """
        with self._refresh_lock:
            name: str | None = None
            try:
                name = self._store.serving()
                if name == self.generation or name == self._rejected:
                    return False
                fresh = self._store.open(name, self.embedder)
            except CitebotIndexError as exc:
                # Generations never change once written, so one that failed stays failed: a
                # message per refresh tick would only bury the first one.
                if str(exc) != self._rejected_reason:
                    log.warning("still serving generation %s: %s", self.generation, exc)
                self._rejected_reason = str(exc)
                # Only a generation is final; CURRENT itself may still be mid-repair.
                final = name is not None and isinstance(exc, (IndexCorrupt, IndexMismatch))
                self._rejected = name if final else None
                return False
            self._rejected = self._rejected_reason = None
            # Calls already running keep their reference to the old generation; it is closed
            # by garbage collection once the last of them is done.
            self._serving = self._serve(fresh)
            return True


def open_knowledge_base(
    settings: KnowledgeBaseSettings, embedder: Embedder | None = None
) -> KnowledgeBase:
    """Open the serving generation of the configured index (the model loads on first query)."""
    embedder = embedder or Embedder.from_settings(settings.embedding)
    store = open_storage(settings)
    return KnowledgeBase(settings, embedder, store, store.open(embedder=embedder))
