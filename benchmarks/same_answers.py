"""Check that a change keeps every answer the same: dump answers now, compare with earlier.

Usage:
  python benchmarks/same_answers.py QUESTIONS.jsonl --index DIR --out AFTER.jsonl [--limit 500]
  python benchmarks/same_answers.py QUESTIONS.jsonl --index DIR --out AFTER.jsonl \\
      --compare BEFORE.jsonl

Each question of QUESTIONS (JSON Lines with a "question" field, e.g. the SQuAD v1.1 dev
questions) is asked in a fresh conversation, and the JSON answer (quotes, citations with their
scores, confidence) is written as one line. With ``--compare``, the two dumps are compared line by
line and every difference is printed; the exit status is 1 if any answer changed. Refactors that
must not change behaviour (same index, same settings) are checked this way, together with
``citebot eval``'s R@1/MRR on the same questions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine import Engine  # noqa: E402
from bot.models import Answer  # noqa: E402
from bot.settings import load_settings  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", type=Path, help="JSON Lines with a 'question' field")
    parser.add_argument("--index", type=Path, required=True, help="index directory")
    parser.add_argument("--config", type=Path, help="TOML config file (default settings if none)")
    parser.add_argument("--out", type=Path, required=True, help="where to write this run's answers")
    parser.add_argument("--compare", type=Path, help="an earlier dump to compare with")
    parser.add_argument("--limit", type=int, default=500, help="ask only the first N questions")
    return parser.parse_args()


def _questions(path: Path, limit: int) -> list[str]:
    questions = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                questions.append(json.loads(line)["question"])
                if len(questions) == limit:
                    break
    return questions


def _comparable(answer: Answer) -> dict[str, Any]:
    """Everything an answer shows or decides with, in JSON."""
    shown = answer.to_json()
    shown["confidence"] = round(answer.confidence, 6)
    shown["quotes"] = [[quote.citation, quote.text] for quote in answer.quotes]
    shown["more"] = [citation.to_json() for citation in answer.more]
    return shown


def main() -> int:
    """Dump the answers, and compare them with an earlier dump if one is given."""
    args = _arguments()
    settings = load_settings(args.config).with_index_path(args.index)
    engine = Engine.open(settings)
    with args.out.open("w", encoding="utf-8") as out:
        for question in _questions(args.questions, args.limit):
            answer = engine.ask(question).answer
            out.write(json.dumps(_comparable(answer), sort_keys=True) + "\n")
    if args.compare is None:
        print(f"wrote {args.out}")
        return 0
    before = args.compare.read_text(encoding="utf-8").splitlines()
    after = args.out.read_text(encoding="utf-8").splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
    if len(before) != len(after):
        print(f"different lengths: {len(before)} before, {len(after)} after")
    for i in changed[:20]:
        print(f"question {i + 1} changed:\n  before {before[i]}\n  after  {after[i]}")
    same = min(len(before), len(after)) - len(changed)
    print(f"{same} of {len(after)} answers identical")
    return 1 if changed or len(before) != len(after) else 0


if __name__ == "__main__":
    sys.exit(main())
