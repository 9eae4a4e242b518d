"""Hybrid retrieval: candidates from BM25, paragraph vectors and sentence vectors, then fusion.

Sentence-level signals matter: a question is usually answered by one sentence, and a paragraph
vector averages that sentence with the rest. So each candidate is scored by its paragraph cosine,
its best sentence's cosine, and how much of the query's wording (idf-weighted) it and its best
sentence hold; ``index.fusion`` combines them linearly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from index.fusion import SIGNALS, fuse, heading_terms, lexical_match, paragraph_terms
from index.models import Hit, ParagraphRef, SentenceSpan
from index.settings import SearchSettings
from index.term_cache import LruMemo

if TYPE_CHECKING:
    from index.embed import Embedder
    from index.storage import SentenceRow, StoredGeneration


@dataclass(frozen=True)
class Pool:
    """Every candidate of one query with its signals (refs and sentences by id)."""

    ids: tuple[int, ...]
    features: dict[str, np.ndarray]
    refs: dict[int, ParagraphRef]
    sentences: dict[int, tuple[SentenceSpan, ...]]


class HybridSearcher:
    """Searches one generation with the dense vectors and the lexical index together."""

    def __init__(
        self, generation: StoredGeneration, embedder: Embedder, settings: SearchSettings
    ) -> None:
        self.generation = generation
        self.embedder = embedder
        self.settings = settings
        # ~150 short strings per paragraph: 20,000 paragraphs stay around 30 MB, titles less.
        self._paragraph_terms: LruMemo[int, list[list[str]]] = LruMemo(20_000)
        self._heading_terms: LruMemo[tuple[str, str], list[list[str]]] = LruMemo(20_000)

    def search(
        self,
        query: str,
        k: int,
        prior: Mapping[int, float] | None = None,
        *,
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The ``k`` best paragraphs for ``query``; ``prior`` adds a bonus per paragraph id.

        ``vector`` is the query's embedding when the caller already has it (batch evaluation).
        """
        if k <= 0 or not query.strip() or self.generation.paragraph_index.ntotal == 0:
            return []
        if vector is None:
            vector = self.embedder.embed_queries([query])[0]
        pool = self.pool(query, vector, prior)
        if not pool.ids:
            return []
        fused = pool.features["fused"]
        # Ties (e.g. paragraphs with identical text) go to the lower id, so results are stable.
        order = np.lexsort((np.asarray(pool.ids), -fused))
        # A paragraph without sentences (a heading standing alone) has nothing to quote.
        quotable = [int(i) for i in order if pool.sentences[pool.ids[i]]][:k]
        return [self._hit(pool, i) for i in quotable]

    def pool(
        self, query: str, vector: np.ndarray, prior: Mapping[int, float] | None = None
    ) -> Pool:
        """Gather the candidates of ``query`` and compute every signal for each of them."""
        gen = self.generation
        lexical = gen.lexical
        wanted = max(1, self.settings.candidates)
        found = lexical.candidates(query, wanted)
        ids = self._candidates(vector, found.top, wanted, prior or {})
        refs = {ref.paragraph_id: ref for ref in gen.rows(ids)}
        ids = [pid for pid in ids if pid in refs]
        if not ids:
            return Pool((), {}, {}, {})
        stored = gen.sentences(ids)

        dense = gen.paragraph_vectors(ids) @ vector
        flat = [s.sentence_id for pid in ids for s in stored.get(pid, ())]
        sims = gen.sentence_vectors(flat) @ vector if flat else np.zeros(0, dtype=np.float32)
        terms = lexical.query_terms(query)
        mass = max(terms.mass, 1e-9)
        bm25 = found.scores(ids, [refs[pid].text for pid in ids])

        n = len(ids)
        features = {name: np.zeros(n, dtype=np.float32) for name in SIGNALS}
        features["dense"] = dense.astype(np.float32)
        features["bm25"] = bm25.astype(np.float32)
        features["bm25_share"] = (bm25 / mass).astype(np.float32)
        sentences: dict[int, tuple[SentenceSpan, ...]] = {}
        at = 0
        for i, pid in enumerate(ids):
            group: Sequence[SentenceRow] = stored.get(pid, ())
            scores = sims[at : at + len(group)]
            at += len(group)
            spans = [(s.start, s.end) for s in group]
            ref = refs[pid]
            heading = (ref.title, ref.section or "")
            match = lexical_match(
                terms,
                ref.text,
                spans,
                heading,
                pieces=self._pieces(pid, ref.text, group, spans),
                # get() calls the factory at once, so binding this iteration's values is safe.
                head_pieces=self._heading_terms.get(heading, partial(heading_terms, heading)),
            )
            features["sentence"][i] = float(scores.max()) if len(group) else dense[i]
            features["coverage"][i] = match.coverage
            features["sentence_coverage"][i] = max(match.sentence_coverage)
            features["phrase"][i] = match.phrase
            features["title_coverage"][i] = match.title_coverage
            features["title_sentence_coverage"][i] = match.title_sentence_coverage
            features["title_phrase"][i] = match.title_phrase
            features["prior"][i] = float((prior or {}).get(pid, 0.0))
            sentences[pid] = tuple(
                SentenceSpan(s.start, s.end, float(score))
                for s, score in zip(group, scores, strict=True)
            )
        features["fused"] = fuse(features, self.settings)
        return Pool(tuple(ids), features, refs, sentences)

    def _candidates(
        self,
        vector: np.ndarray,
        lexical_top: list[tuple[int, float]],
        wanted: int,
        prior: Mapping[int, float],
    ) -> list[int]:
        """Union of the lexical, paragraph-vector and sentence-vector top lists, plus the prior."""
        gen = self.generation
        query = np.ascontiguousarray(vector[None, :], dtype=np.float32)
        found: list[int] = [pid for pid, _ in lexical_top]
        paragraphs = gen.paragraph_index
        _, top = paragraphs.search(query, min(wanted, paragraphs.ntotal))
        found += [int(i) for i in top[0] if i >= 0]
        sentences = gen.sentence_index
        if sentences.ntotal:
            _, top = sentences.search(query, min(wanted, sentences.ntotal))
            owners = gen.sentence_paragraphs([int(i) for i in top[0] if i >= 0])
            found += [owners[int(i)] for i in top[0] if int(i) in owners]
        found += [int(pid) for pid in prior]
        return list(dict.fromkeys(found))

    def _pieces(
        self, pid: int, text: str, group: Sequence[SentenceRow], spans: list[tuple[int, int]]
    ) -> Sequence[Sequence[str]]:
        """Each sentence's terms: as stored at build time, else tokenized (and remembered)."""
        stored = [s.terms for s in group if s.terms is not None]
        if group and len(stored) == len(group):
            return stored
        return self._paragraph_terms.get(pid, partial(paragraph_terms, text, spans))

    @staticmethod
    def _hit(pool: Pool, i: int) -> Hit:
        pid = pool.ids[i]
        return Hit(
            ref=pool.refs[pid],
            score=float(pool.features["fused"][i]),
            signals=tuple((name, float(pool.features[name][i])) for name in SIGNALS),
            sentences=pool.sentences[pid],
        )
