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
from itertools import pairwise

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
    "title_coverage",
    "title_sentence_coverage",
    "title_phrase",
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
    # What the article title and section heading add to each of the three: the share of the
    # query's idf mass (or pair mass) they hold that the text (or best sentence) does not, so a
    # word found in both counts once.
    title_coverage: float = 0.0
    title_sentence_coverage: float = 0.0
    title_phrase: float = 0.0


def paragraph_terms(text: str, spans: Sequence[tuple[int, int]]) -> list[list[str]]:
    """The terms of each sentence span of ``text`` (the whole text when there are no spans)."""
    return sentence_terms(text, spans) if spans else sentence_terms(text, [(0, len(text))])


def heading_terms(context: Sequence[str]) -> list[list[str]]:
    """The terms of each non-empty title or heading in ``context``."""
    return [sentence_terms(c, [(0, len(c))])[0] for c in context if c]


def lexical_match(
    terms: QueryTerms,
    text: str,
    spans: Sequence[tuple[int, int]],
    context: Sequence[str] = (),
    *,
    pieces: Sequence[Sequence[str]] | None = None,
    head_pieces: Sequence[Sequence[str]] | None = None,
) -> LexicalMatch:
    """Measure the query's wording in ``text`` as a whole and in each sentence span.

    ``context`` holds the paragraph's article title and section heading: words found there and
    not in the text are measured separately, so the fusion weighs them at their own discount.
    ``pieces`` and ``head_pieces`` are the terms of the spans and of the context when the caller
    has them already (``paragraph_terms``), which spares tokenizing the same paragraph again.
    """
    mass = terms.mass
    if pieces is None:
        pieces = paragraph_terms(text, spans)
    if mass <= 0:
        return LexicalMatch(0.0, [0.0] * len(pieces), 0.0)
    weight = terms.weight
    wanted = weight.keys()
    sets = [wanted & set(piece) for piece in pieces]
    per_sentence = [sum(weight[t] for t in found) / mass for found in sets]
    sequence = [term for piece in pieces for term in piece]
    in_text = wanted & set(sequence)
    coverage = sum(weight[t] for t in in_text) / mass

    if head_pieces is None:
        head_pieces = heading_terms(context)
    in_head = wanted & {t for piece in head_pieces for t in piece}
    title_coverage = sum(weight[t] for t in in_head - in_text) / mass
    best = max(per_sentence)
    title_sentence = 0.0
    if in_head:
        with_head = (sum(weight[t] for t in found | in_head) / mass for found in sets)
        title_sentence = max(with_head) - best

    phrase = title_phrase = 0.0
    pair_mass = terms.pair_mass
    if pair_mass > 0:
        pairs = set(pairwise(sequence))
        head_pairs = {pair for piece in head_pieces for pair in pairwise(piece)} - pairs
        for pair, w in terms.pair_weights:
            if pair in pairs:
                phrase += w / pair_mass
            elif pair in head_pairs:
                title_phrase += w / pair_mass
    return LexicalMatch(
        coverage, per_sentence, phrase, title_coverage, title_sentence, title_phrase
    )


def fuse(features: dict[str, np.ndarray], settings: SearchSettings) -> np.ndarray:
    """The fused score of each candidate from its signals (``prior`` added as it is)."""
    # The title and section count as part of the paragraph and of each of its sentences, at
    # ``title_weight`` times the weight of the text's own words.
    title = settings.title_weight
    return (
        settings.dense_weight * features["dense"]
        + settings.sentence_weight * features["sentence"]
        + settings.coverage_weight * (features["coverage"] + title * features["title_coverage"])
        + settings.sentence_coverage_weight
        * (features["sentence_coverage"] + title * features["title_sentence_coverage"])
        + settings.phrase_weight * (features["phrase"] + title * features["title_phrase"])
        + settings.bm25_weight * features["bm25_share"]
        + features["prior"]
    ).astype(np.float32)
