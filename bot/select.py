"""Choosing the answer sentence, and with it the paragraph, by reading them with the question.

Retrieval orders paragraphs by how well they match the question; the best few paragraphs'
likeliest sentences are then read together with the question by the answer selector
(bot/selector.py). A sentence's final score is the selector's, plus a share of its paragraph's
retrieval score (relative to the first paragraph) and of the lexical-dense sentence score: the
paragraph holding the best-scored sentence answers, and that sentence is quoted. The shares
were chosen on SQuAD v1.1 training questions (benchmarks/fit_selector_fusion.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from index import Hit

if TYPE_CHECKING:
    from bot.compose import SentenceChoice

# Paragraphs, and sentences of each (the best by the lexical-dense score), read by the selector.
SELECT_PARAGRAPHS = 3
SELECT_SENTENCES = 4
# Shares of the retrieval score (log-odds, relative to the first paragraph) and of the
# lexical-dense sentence score added to the selector's score (a logit).
RETRIEVAL_WEIGHT = 1.0
SENTENCE_WEIGHT = 1.0
# Sentences scored this far below the best are never preferred to a read one.
UNREAD_PENALTY = 100.0


class Selector(Protocol):
    """What choosing needs from the answer selector."""

    def scores(self, question: str, sentences: Sequence[str]) -> list[float]:
        """One score per sentence; higher answers better."""
        ...


def choose(
    selector: Selector,
    question: str,
    hits: Sequence[Hit],
    ranked: dict[int, list[SentenceChoice]],
    *,
    retrieval_weight: float | None = None,
    sentence_weight: float | None = None,
) -> tuple[list[Hit], dict[int, list[SentenceChoice]]]:
    """Re-score the first paragraphs' likeliest sentences with the selector.

    Returns the hits with the paragraph of the best sentence first (the others keep their
    order) and each hit's sentences re-ranked by the combined score.
    """
    retrieval_weight = RETRIEVAL_WEIGHT if retrieval_weight is None else retrieval_weight
    sentence_weight = SENTENCE_WEIGHT if sentence_weight is None else sentence_weight
    head = list(hits[:SELECT_PARAGRAPHS])
    if not head:
        return list(hits), ranked
    top = head[0].score
    candidates = [(h, c) for h in head for c in ranked[h.ref.paragraph_id][:SELECT_SENTENCES]]
    if not candidates:
        return list(hits), ranked
    read = selector.scores(question, [c.text for _, c in candidates])
    rescored: dict[int, list[SentenceChoice]] = {h.ref.paragraph_id: [] for h in head}
    for (hit, choice), score in zip(candidates, read, strict=True):
        combined = score + retrieval_weight * (hit.score - top) + sentence_weight * choice.score
        rescored[hit.ref.paragraph_id].append(
            dataclasses.replace(choice, score=combined, selected=score))
    out = dict(ranked)
    best_of: dict[int, float] = {}
    for hit in head:
        mine = sorted(rescored[hit.ref.paragraph_id], key=lambda c: (-c.score, c.start))
        floor = (mine[-1].score if mine else 0.0) - UNREAD_PENALTY
        unread = [dataclasses.replace(c, score=floor + c.score)
                  for c in ranked[hit.ref.paragraph_id][SELECT_SENTENCES:]]
        out[hit.ref.paragraph_id] = mine + unread
        best_of[hit.ref.paragraph_id] = mine[0].score if mine else float("-inf")
    order = sorted(range(len(head)), key=lambda i: (-best_of[head[i].ref.paragraph_id], i))
    return [head[i] for i in order] + list(hits[SELECT_PARAGRAPHS:]), out
