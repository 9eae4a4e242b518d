"""Retrieval metrics shared by the retrieval benchmark and ``citebot eval``."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

DEFAULT_KS = (1, 5, 10)


def recall_at(
    ranked_ids_per_question: Sequence[Sequence[Hashable]],
    gold_ids: Sequence[Hashable],
    ks: Sequence[int] = DEFAULT_KS,
    mrr_depth: int = 10,
) -> dict[str, float]:
    """Recall@k for each k (gold id among the first k) and MRR@``mrr_depth``, as ``{"R@1": ...}``.

    Each question has one gold id; questions with an empty ranking count as misses.
    """
    if len(ranked_ids_per_question) != len(gold_ids):
        raise ValueError("one ranking per gold id is needed")
    total = len(gold_ids)
    hits = {k: 0 for k in ks}
    reciprocal = 0.0
    for ranked, gold in zip(ranked_ids_per_question, gold_ids):
        rank = next((i for i, pid in enumerate(ranked, start=1) if pid == gold), None)
        if rank is None:
            continue
        for k in ks:
            hits[k] += rank <= k
        if rank <= mrr_depth:
            reciprocal += 1.0 / rank
    metrics = {f"R@{k}": hits[k] / total if total else 0.0 for k in ks}
    metrics[f"MRR@{mrr_depth}"] = reciprocal / total if total else 0.0
    return metrics
