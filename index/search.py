"""Hybrid retrieval: dense and BM25 candidates fused by z-scored, weighted sum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from index.models import Hit, SentenceSpan
from index.settings import SearchSettings

if TYPE_CHECKING:
    from index.embed import Embedder
    from index.store import Generation


def _zscores(values: np.ndarray) -> np.ndarray:
    """Standardize one signal over the candidates so signals on different scales can be added."""
    spread = float(values.std())
    if spread < 1e-9:
        return np.zeros_like(values)
    return (values - float(values.mean())) / spread


class HybridSearcher:
    """Searches one generation with the dense vectors and the lexical index together."""

    def __init__(self, generation: Generation, embedder: Embedder, settings: SearchSettings) -> None:
        self.generation = generation
        self.embedder = embedder
        self.settings = settings

    def search(self, query: str, k: int, prior: Mapping[int, float] | None = None) -> list[Hit]:
        """The ``k`` best paragraphs for ``query``; ``prior`` adds a bonus per paragraph id."""
        gen = self.generation
        total = gen.paragraph_index.ntotal
        if k <= 0 or total == 0 or not query.strip():
            return []
        vector = self.embedder.embed_queries([query])[0]
        wanted = min(max(self.settings.candidates, k), total)
        _dist, found = gen.paragraph_index.search(vector[None, :], wanted)
        candidates = [int(i) for i in found[0] if i >= 0]
        candidates += [pid for pid, _ in gen.lexical.search(query, wanted)]
        known = set(gen.all_paragraph_ids().tolist())
        candidates += [int(pid) for pid in (prior or {}) if int(pid) in known]
        ids = list(dict.fromkeys(candidates))

        dense = gen.paragraph_vectors(ids) @ vector
        bm25 = gen.lexical.score(query, ids)
        bonus = np.array([float((prior or {}).get(pid, 0.0)) for pid in ids], dtype=np.float32)
        fused = (
            self.settings.dense_weight * _zscores(dense)
            + self.settings.bm25_weight * _zscores(bm25)
            + bonus
        )
        order = np.argsort(-fused, kind="stable")[:k]
        top = [ids[i] for i in order]
        rows = {row.paragraph_id: row for row in gen.rows(top)}
        sentences = gen.sentences(top)
        hits: list[Hit] = []
        for i in order:
            pid = ids[i]
            row = rows[pid]
            sents = sentences.get(pid, ())
            scores = (
                gen.sentence_vectors([s.sentence_id for s in sents]) @ vector if sents else []
            )
            hits.append(
                Hit(
                    paragraph_id=pid,
                    article_id=row.article_id,
                    title=row.title,
                    number=row.number,
                    text=row.text,
                    score=float(fused[i]),
                    url=row.url,
                    date=row.date,
                    section=row.section,
                    signals=(("dense", float(dense[i])), ("bm25", float(bm25[i])),
                             ("prior", float(bonus[i]))),
                    sentences=tuple(
                        SentenceSpan(s.start, s.end, float(score)) for s, score in zip(sents, scores)
                    ),
                )
            )
        return hits
