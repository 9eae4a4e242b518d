"""Choose how the answer selector's score is combined with retrieval (``bot/select.py``).

    python benchmarks/fit_selector_fusion.py TRAIN.questions.jsonl[.gz] --index TRAIN-INDEX \
        [--limit 1500] [--seed 7]

On SQuAD v1.1 *training* questions (an index of the matching training articles; questions of
other articles are skipped) each question is searched once and then composed with every pair
of weights of a small grid; printed per pair: how often the first citation is the gold
paragraph and how often the quoted text holds a gold answer, next to citebot without the
selector. The data derives from SQuAD (CC BY-SA 4.0); these are fitting figures, not quality
figures (those come from ``citebot eval`` on the dev sets).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
from collections.abc import Sequence
from pathlib import Path

import bot.select as select
from bot.compose import compose
from bot.question import question_terms
from bot.selector import AnswerSelector
from bot.settings import load_settings
from index import open_knowledge_base

RETRIEVAL = (0.25, 0.5, 1.0, 2.0)
SENTENCE = (0.0, 1.0, 2.0, 4.0)


class _Memo:
    """The selector with its scores remembered, so each grid point reads nothing again."""

    def __init__(self, selector: AnswerSelector) -> None:
        self.selector = selector
        self.seen: dict[tuple[str, str], float] = {}

    def scores(self, question: str, sentences: Sequence[str]) -> list[float]:
        todo = [s for s in sentences if (question, s) not in self.seen]
        for s, v in zip(todo, self.selector.scores(question, todo) if todo else [], strict=True):
            self.seen[(question, s)] = v
        return [self.seen[(question, s)] for s in sentences]


def main() -> int:
    """Search each question once, compose per grid point, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index", required=True)
    parser.add_argument("--limit", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    kb = open_knowledge_base(load_settings(None).with_index_path(args.index).knowledge_base)
    opener = gzip.open if args.questions.suffix == ".gz" else open
    with opener(args.questions, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        records = [json.loads(line) for line in handle if line.strip()]
    random.Random(args.seed).shuffle(records)
    cases = []
    for record in records:
        if len(cases) >= args.limit:
            break
        if not kb.article_paragraph_ids(record["article_id"]):
            continue
        hits = kb.search(record["question"], 10)
        terms = question_terms(record["question"], kb.term_weights)
        gold = (record["article_id"], int(record["paragraph_index"]))
        cases.append((terms, hits, gold, [a.lower() for a in record["answers"]]))
    memo = _Memo(AnswerSelector())

    def measure(selector: _Memo | None) -> tuple[float, float]:
        cited = quoted = 0
        for terms, hits, gold, answers in cases:
            draft = compose(terms, hits, selector=selector)
            if not draft.citations:
                continue
            first = draft.citations[0].ref
            cited += (first.article_id, first.number) == gold
            text = " ".join(q.text for q in draft.quotes if q.citation == 1).lower()
            quoted += any(a in text for a in answers)
        return cited / len(cases), quoted / len(cases)

    print(f"{len(cases)} questions")
    print("no selector: cite@1 {:.3f}  quote {:.3f}".format(*measure(None)))
    for rw, sw in itertools.product(RETRIEVAL, SENTENCE):
        select.RETRIEVAL_WEIGHT, select.SENTENCE_WEIGHT = rw, sw
        print("retrieval {:.2f} sentence {:.1f}: cite@1 {:.3f}  quote {:.3f}".format(
            rw, sw, *measure(memo)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
