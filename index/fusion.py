"""Per-candidate retrieval signals and their fusion into one score.

Every signal is on a scale that does not depend on the other candidates of the query, so the
fused score means the same thing from one query to the next (an abstention threshold can use
it): cosines for the dense signals, shares of the query's idf mass in [0, 1] for the lexical
ones. The fused score is a linear ranker fitted on (answering paragraph − other candidate)
feature differences, so a difference of 1 is one unit of log-odds that one paragraph beats
the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.bm25 import QueryTerms
from index.lexical_tokens import sentence_terms
from index.settings import SearchSettings

# Names of the signals a Hit carries, in this order; "fused" is the ranking score.
SIGNALS = (
    "fused",
    "dense",
    "sentence",
    "coverage",
    "sentence_coverage",
    "phrase",
    "bm25",
    "bm25_share",
    "prior",
)


@dataclass(frozen=True)
class LexicalMatch:
    """How much of a query's wording one paragraph holds."""

    # Share of the query's idf mass whose terms occur in the paragraph.
    coverage: float
    # The same share per sentence of the paragraph (aligned with the spans given).
    sentence_coverage: list[float]
    # Share of the idf mass of the query's adjacent term pairs found adjacent in the paragraph.
    phrase: float


def lexical_match(terms: QueryTerms, text: str, spans: Sequence[tuple[int, int]]) -> LexicalMatch:
    """Measure the query's wording in ``text`` as a whole and in each sentence span."""
    mass = terms.mass
    pieces = sentence_terms(text, spans) if spans else [sentence_terms(text, [(0, len(text))])[0]]
    if mass <= 0:
        return LexicalMatch(0.0, [0.0] * len(pieces), 0.0)
    weight = dict(zip(terms.terms, terms.idf.tolist()))
    wanted = weight.keys()
    per_sentence = [sum(weight[t] for t in wanted & set(piece)) / mass for piece in pieces]
    sequence = [term for piece in pieces for term in piece]
    coverage = sum(weight[t] for t in wanted & set(sequence)) / mass

    phrase = 0.0
    pair_mass = float(terms.bigram_idf.sum())
    if pair_mass > 0:
        pairs = set(zip(sequence, sequence[1:]))
        phrase = sum(w for pair, w in zip(terms.bigrams, terms.bigram_idf.tolist())
                     if pair in pairs) / pair_mass
    return LexicalMatch(coverage, per_sentence, phrase)


def fuse(features: dict[str, np.ndarray], settings: SearchSettings) -> np.ndarray:
    """The fused score of each candidate from its signals (``prior`` added as it is)."""
    return (
        settings.dense_weight * features["dense"]
        + settings.sentence_weight * features["sentence"]
        + settings.coverage_weight * features["coverage"]
        + settings.sentence_coverage_weight * features["sentence_coverage"]
        + settings.phrase_weight * features["phrase"]
        + settings.bm25_weight * features["bm25_share"]
        + features["prior"]
    ).astype(np.float32)
