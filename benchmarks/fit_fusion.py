"""Fit the retrieval fusion weights (``[search]`` in the config, ``index.fusion.fuse``).

    python benchmarks/fit_fusion.py TRAIN.questions.jsonl[.gz] --index TRAIN-INDEX \
        [--config FILE] [--limit 6000] [--seed 7]

TRAIN-INDEX is an index of the matching training articles (questions of other articles are
skipped), built with the sentence vectors the weights are for (``[embedding] sentence_vectors``
in FILE). Every question is searched once; each candidate paragraph gets its signals (paragraph
and best-sentence cosines, the lexical shares with the title counted at ``title_weight``), and
an L2-regularized logistic regression is fitted on (gold paragraph − other candidate)
differences, both ways round, on the questions of half of the articles (split by a hash of the
article id). Printed: the weights (a difference of 1 in the fused score is one unit of log-odds)
and R@1 on the other half's questions with the configured weights and with the fitted ones.
Training data derives from SQuAD (CC BY-SA 4.0); no figure printed here is a quality figure of
citebot (those come from ``citebot eval`` on the dev sets).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.abstain import fit_logistic  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from index import Hit, open_knowledge_base  # noqa: E402

NAMES = ("dense", "sentence", "coverage", "sentence_coverage", "phrase")
POOL = 200


def features(hit: Hit, title: float) -> list[float]:
    """The fused signals of one candidate, title shares folded in as ``fuse`` does."""
    s = dict(hit.signals)
    return [
        s["dense"],
        s["sentence"],
        s["coverage"] + title * s["title_coverage"],
        s["sentence_coverage"] + title * s["title_sentence_coverage"],
        s["phrase"] + title * s["title_phrase"],
    ]


def main() -> int:
    """Search every question once, fit on half of the articles, check on the other half."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", required=True)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    settings = load_settings(args.config).with_index_path(args.index).knowledge_base
    kb = open_knowledge_base(settings)
    search = settings.search
    configured = np.array([search.dense_weight, search.sentence_weight, search.coverage_weight,
                           search.sentence_coverage_weight, search.phrase_weight])
    opener = gzip.open if args.questions.suffix == ".gz" else open
    with opener(args.questions, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        questions = [json.loads(line) for line in handle if line.strip()]
    questions = [q for q in questions if kb.paragraph(q["article_id"], q["paragraph_index"])]
    random.Random(args.seed).shuffle(questions)
    questions = questions[: args.limit]

    fit_x: list[np.ndarray] = []
    held: list[tuple[np.ndarray, int]] = []  # (candidate features, gold row or -1)
    for q in questions:
        hits = kb.search(q["question"], k=POOL)
        rows = np.array([features(h, search.title_weight) for h in hits], dtype=np.float64)
        gold = next((i for i, h in enumerate(hits) if h.ref.article_id == q["article_id"]
                     and h.ref.number == q["paragraph_index"]), -1)
        if zlib.crc32(q["article_id"].encode()) % 2:
            held.append((rows, gold))
        elif gold >= 0 and len(rows) > 1:
            fit_x.append(rows[gold] - np.delete(rows, gold, axis=0))
    pairs = np.concatenate(fit_x)
    x = np.concatenate([pairs, -pairs])
    y = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    fitted = np.asarray(fit_logistic(x, y, l2=args.l2).coefficients)

    def r1(weights: np.ndarray) -> float:
        right = sum(1 for rows, gold in held
                    if gold >= 0 and int(np.argmax(rows @ weights)) == gold)
        return right / max(1, len(held))

    print(f"{len(questions)} questions: {len(fit_x)} fitting, {len(held)} held out; "
          f"{len(pairs)} pairs")
    for name, c, f in zip(NAMES, configured, fitted, strict=True):
        print(f"  {name:18s} configured {c:6.2f}  fitted {f:6.2f}")
    print(f"held-out R@1: configured {r1(configured):.4f}, fitted {r1(fitted):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
