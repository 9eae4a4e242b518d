"""Training groups for the answer-sentence selector, from SQuAD v1.1 *training* data.

    python training/selector_data.py CORPUS.jsonl.gz QUESTIONS.jsonl.gz OUT.jsonl.gz [--seed 13]

Every paragraph is split into sentences by citebot's own splitter (index/sentences.py), so the
selector learns on the sentences it will see. A question whose gold answer string lies in
exactly one sentence of its paragraph makes one group: that sentence, the paragraph's other
sentences (the hardest negatives: same topic, same words), the three sentences of other
paragraphs of the article that share the most words with the question, and one sentence of
another article. Half of the questions are lower-cased and lose their question mark, the way
people type them. Ten articles (chosen by the seed) are held out for validation.
The data derives from SQuAD (CC BY-SA 4.0).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

from index.sentences import sentence_spans

OTHER_PARAGRAPH_NEGATIVES = 3
MAX_SAME_PARAGRAPH_NEGATIVES = 8
HELD_OUT_ARTICLES = 10
_WORD = re.compile(r"\w+")


def main() -> int:
    """Write the groups as gzip JSON Lines: {"q", "pos", "neg": [...], "split"}."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    sentences: dict[tuple[str, int], list[str]] = {}
    articles: dict[str, list[int]] = {}
    with gzip.open(args.corpus, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            articles[record["id"]] = list(range(len(record["paragraphs"])))
            for i, text in enumerate(record["paragraphs"]):
                sentences[(record["id"], i)] = [text[a:b] for a, b in sentence_spans(text)]
    names = sorted(articles)
    held_out = set(rng.sample(names, HELD_OUT_ARTICLES))
    all_keys = list(sentences)

    written = skipped = 0
    with gzip.open(args.questions, "rt", encoding="utf-8") as handle, \
            gzip.open(args.out, "wt", encoding="utf-8") as out:
        for line in handle:
            q = json.loads(line)
            key = (q["article_id"], int(q["paragraph_index"]))
            own = sentences.get(key, [])
            answers = [a for a in q["answers"] if a.strip()]
            holding = [i for i, s in enumerate(own) if any(a in s for a in answers)]
            if len(holding) != 1 or len(own) < 2:
                skipped += 1
                continue
            positive = own[holding[0]]
            negatives = [s for i, s in enumerate(own) if i != holding[0]]
            negatives = rng.sample(negatives, min(len(negatives), MAX_SAME_PARAGRAPH_NEGATIVES))
            words = set(_WORD.findall(q["question"].lower()))
            others = [
                s for p in articles[q["article_id"]] if p != key[1]
                for s in sentences[(q["article_id"], p)]
                if not any(a in s for a in answers)
            ]
            others.sort(key=lambda s: -len(words & set(_WORD.findall(s.lower()))))
            negatives += others[:OTHER_PARAGRAPH_NEGATIVES]
            far = rng.choice(all_keys)
            if far[0] != q["article_id"] and sentences[far]:
                negatives.append(rng.choice(sentences[far]))
            question = q["question"].strip()
            if rng.random() < 0.5:
                question = question.lower().rstrip("?").strip()
            split = "valid" if q["article_id"] in held_out else "train"
            out.write(json.dumps({"q": question, "pos": positive, "neg": negatives,
                                  "split": split}, ensure_ascii=False) + "\n")
            written += 1
    print(f"{written} groups, {skipped} questions skipped (answer in 0 or 2+ sentences)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
