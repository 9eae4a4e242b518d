"""Fit the answer-sentence weights of ``bot/compose.py`` on SQuAD v1.1 *training* questions.

    python benchmarks/fit_answer_sentences.py TRAIN.questions.jsonl[.gz] --index TRAIN-INDEX \
        [--limit 8000] [--seed 7]

TRAIN-INDEX is an index built from the matching training corpus (``citebot index build
squad-v1.1-train-fit.corpus.jsonl.gz``, or a subset of its articles: questions whose article is
not in the index are skipped). For every question whose gold paragraph citebot retrieves among
its first 10 results, each sentence of that paragraph becomes one row — the dense similarity,
the idf-weighted share of the question's terms, and whether the sentence holds the kind of
answer the question asks for (``bot/answer_type.py``) — labelled by whether it contains a gold
answer string. A logistic regression is fitted on half of the articles and checked on the other
half: the share of questions whose top-scored sentence holds the answer, with the weights
before (dense + coverage) and after. The printed weights, divided by the dense weight, go into
``bot/compose.py``. Training data derives from SQuAD (CC BY-SA 4.0); no figure printed here is
a quality figure of citebot (those come from ``citebot eval`` on the dev sets).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from bot.abstain import fit_logistic
from bot.answer_type import KINDS, asked, type_features
from bot.compose import hit_sentences
from bot.question import question_terms, stems
from bot.settings import load_settings
from index import open_knowledge_base

NAMES = ("dense", "coverage", *(f"type_{k}" for k in KINDS), "first_sentence")


def _open(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path)


def main() -> int:
    """Collect sentence rows, fit, and print the weights with their held-out effect."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", required=True)
    parser.add_argument("--limit", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    kb = open_knowledge_base(load_settings(None).with_index_path(args.index).knowledge_base)
    with _open(args.questions) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    random.Random(args.seed).shuffle(records)
    rows: list[list[float]] = []
    labels: list[float] = []
    groups: list[int] = []
    halves: list[int] = []
    used = 0
    started = time.perf_counter()
    for record in records:
        if used >= args.limit:
            break
        if not kb.article_paragraph_ids(record["article_id"]):
            continue
        gold = (record["article_id"], int(record["paragraph_index"]))
        hits = kb.search(record["question"], 10)
        hit = next((h for h in hits if (h.ref.article_id, h.ref.number) == gold), None)
        if hit is None:
            continue
        terms = question_terms(record["question"], kb.term_weights)
        what = asked(record["question"])
        answers = [a.lower() for a in record["answers"] if a.strip()]
        spans = hit_sentences(hit)
        texts = [hit.ref.text[s.start : s.end] for s in spans]
        found = [any(a in t.lower() for a in answers) for t in texts]
        if not any(found) or all(found):
            continue
        used += 1
        half = hash(record["article_id"]) % 2
        for i, (span, text) in enumerate(zip(spans, texts, strict=True)):
            rows.append([span.score, terms.coverage(stems(text)), *type_features(what, text),
                         1.0 if i == 0 else 0.0])
            labels.append(1.0 if found[i] else 0.0)
            groups.append(used)
            halves.append(half)
    x, y = np.array(rows), np.array(labels)
    g, h = np.array(groups), np.array(halves)
    print(f"{used} questions, {len(rows)} sentences in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)

    fit = fit_logistic(x[h == 0], y[h == 0], l2=1.0)
    coefficients = np.array(fit.coefficients)
    old = np.zeros(len(NAMES))
    old[0], old[1] = 1.0, 1.0

    def top_accuracy(weights: np.ndarray, mask: np.ndarray) -> float:
        scores = x @ weights
        right = total = 0
        for group in np.unique(g[mask]):
            members = np.flatnonzero(g == group)
            best = members[np.argmax(scores[members])]
            right += int(y[best] == 1.0)
            total += 1
        return right / total if total else 0.0

    held = h == 1
    print(f"held-out half: top sentence holds the answer {top_accuracy(old, held):.3f} "
          f"(dense + coverage) -> {top_accuracy(coefficients, held):.3f} (fitted)")
    scale = coefficients[0]
    print("weights relative to dense:")
    for name, c in zip(NAMES, coefficients, strict=True):
        print(f"  {name:16s} {c / scale:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
