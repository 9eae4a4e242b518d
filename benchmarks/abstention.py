"""Abstention curve: how often citebot answers answerable questions and abstains on the others.

Usage:
  python benchmarks/abstention.py SQUAD_CORPUS SQUAD_QUESTIONS --dialogs DIALOGS
      --dialog-corpus DIALOG_CORPUS [--index DIR] [--limit N] [--fit]

SQUAD_CORPUS / SQUAD_QUESTIONS are the SQuAD v2.0 dev corpus and questions as JSON Lines
({"id", "title", "paragraphs"} / {"question", "article_id", "paragraph_index", "is_impossible"}).
Off-topic questions are every turn of the CoQA literature (gutenberg) dialogs in DIALOGS (their
sources are read from DIALOG_CORPUS), asked on their own against the SQuAD corpus, plus a handful
of general-knowledge questions. The corpus is indexed into --index (a temporary folder by
default; an index already there is reused). Every question is answered by the engine with its
default settings, and the table shows, per confidence threshold, the share of answerable
questions answered and the shares of unanswerable and off-topic questions abstained on.

--fit refits the confidence model (bot/abstain.py) on the fitting half of the questions (SQuAD
articles and dialogs split by a hash of their id): a logistic regression of answerable vs.
off-topic on the answer-level evidence, its intercept shifted so that the default threshold
keeps KEEP of the fitting half's answerable questions answered. It prints the coefficients to
store as DEFAULT_CALIBRATION and the curve of the refitted model on the held-out half.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.abstain import FEATURES, Calibration, fit_logistic, shift_to_keep  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.settings import Settings  # noqa: E402
from index import Embedder, IndexSettings, build_index  # noqa: E402

GENERAL = (
    "What is the boiling point of mercury?",
    "Who painted the Mona Lisa?",
    "How many legs does a spider have?",
    "What is the capital of Australia?",
    "When did the Titanic sink?",
    "Who wrote Pride and Prejudice?",
    "How do I bake sourdough bread?",
    "What is the speed of light in a vacuum?",
    "Who won the 2018 FIFA World Cup?",
    "What is the tallest mountain in Africa?",
    "How many calories are in an apple?",
    "What does DNA stand for?",
    "Who invented the telephone?",
    "What is the chemical symbol for gold?",
    "How far is the Moon from Earth?",
    "What language is spoken in Brazil?",
    "When was the Eiffel Tower built?",
    "What is the population of Tokyo?",
    "How do vaccines work?",
    "Who is the author of Harry Potter?",
)
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
KEEP = 0.98
GROUPS = ("answerable", "unanswerable", "off-topic", "general")


@dataclasses.dataclass
class Item:
    group: str
    split: int
    question: str
    features: tuple[float, ...] | None = None
    confidence: float = 0.0


def _half(key: str) -> int:
    return zlib.crc32(key.encode("utf-8")) % 2


def load_items(args: argparse.Namespace) -> list[Item]:
    """Answerable, unanswerable, off-topic and general questions with their split."""
    items: list[Item] = []
    with open(args.questions, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                q = json.loads(line)
                group = "unanswerable" if q.get("is_impossible") else "answerable"
                items.append(Item(group, _half(str(q["article_id"])), q["question"]))
    sources = {}
    with open(args.dialog_corpus, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                sources[record["id"]] = record.get("source")
    with open(args.dialogs, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                dialog = json.loads(line)
                if sources.get(dialog["doc_id"]) == "gutenberg":
                    for turn in dialog["turns"]:
                        items.append(Item("off-topic", _half(dialog["id"]), turn["question"]))
    items += [Item("general", -1, q) for q in GENERAL]
    if args.limit:
        rng = np.random.default_rng(0)
        keep = set(rng.choice(len(items) - len(GENERAL), size=min(args.limit, len(items)),
                              replace=False).tolist())
        items = [it for i, it in enumerate(items) if i in keep or it.group == "general"]
    return items


def curve(items: list[Item], default: float, held_out_only: bool) -> str:
    """The table: per threshold, answered share of answerable, abstained share of the others."""
    chosen = [it for it in items if not held_out_only or it.split != 0]
    rows = ["| threshold | answerable answered | unanswerable abstained | off-topic abstained "
            "| general abstained |",
            "|---:|---:|---:|---:|---:|"]
    for threshold in sorted({*THRESHOLDS, default}):
        cells = []
        for group in GROUPS:
            conf = np.array([it.confidence for it in chosen if it.group == group])
            if not len(conf):
                cells.append("–")
                continue
            answered = float((conf >= threshold).mean())
            share = answered if group == "answerable" else 1.0 - answered
            cells.append(f"{100 * share:.1f}%")
        mark = f"**{threshold:.2f}** (default)" if threshold == default else f"{threshold:.2f}"
        rows.append(f"| {mark} | " + " | ".join(cells) + " |")
    counts = ", ".join(f"{g} {sum(1 for it in chosen if it.group == g)}" for g in GROUPS)
    return "\n".join(rows) + f"\n({counts} questions)"


def retrieval_only(items: list[Item], keep: float = 0.97) -> str:
    """What a threshold on the retrieval score alone does at the same answered share."""
    index = FEATURES.index("retrieval")
    score = {id(it): it.features[index] if it.features else -1e9 for it in items}
    answerable = np.array([score[id(it)] for it in items if it.group == "answerable"])
    cut = float(np.quantile(answerable, 1.0 - keep))
    parts = []
    for group in GROUPS[1:]:
        values = np.array([score[id(it)] for it in items if it.group == group])
        parts.append(f"{group} abstained {100 * float((values < cut).mean()):.1f}%")
    return (f"retrieval score alone, keeping {100 * keep:.0f}% answerable answered: "
            + ", ".join(parts))


def fit(items: list[Item]) -> Calibration:
    """Fit the confidence model on the fitting half (answerable vs off-topic)."""
    rows = [it for it in items if it.split == 0 and it.features is not None
            and it.group in ("answerable", "off-topic")]
    x = np.array([it.features for it in rows], dtype=np.float64)
    y = np.array([1.0 if it.group == "answerable" else 0.0 for it in rows])
    calibration = fit_logistic(x, y, l2=1.0)
    positives = np.array([it.features for it in rows if it.group == "answerable"], dtype=np.float64)
    return shift_to_keep(calibration, positives, keep=KEEP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="SQuAD v2.0 dev corpus (JSON Lines)")
    parser.add_argument("questions", type=Path, help="SQuAD v2.0 dev questions (JSON Lines)")
    parser.add_argument("--dialogs", type=Path, required=True, help="CoQA dialogs (JSON Lines)")
    parser.add_argument("--dialog-corpus", type=Path, required=True,
                        help="the dialogs' corpus (JSON Lines), for each story's source")
    parser.add_argument("--index", type=Path, help="index folder to build into or reuse")
    parser.add_argument("--limit", type=int, default=0, help="ask a random sample of N questions")
    parser.add_argument("--fit", action="store_true",
                        help="refit the confidence model and print it")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--features", type=Path, metavar="FILE",
                        help="also write each question's group, half and evidence (JSON Lines)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    items = load_items(args)
    with tempfile.TemporaryDirectory() as temp:
        root = args.index or Path(temp) / "index"
        settings = Settings(index=IndexSettings(path=str(root), sources=(str(args.corpus),)))
        embedder = Embedder.from_settings(settings.embedding)
        build_index(settings.knowledge_base, embedder=embedder)
        engine = Engine.open(settings, embedder)
        started = time.monotonic()
        for it in items:
            trace = engine.trace(it.question)
            it.features = trace.evidence.vector() if trace.evidence is not None else None
            it.confidence = trace.reply.answer.confidence
        print(f"{len(items)} questions in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.features:
        with open(args.features, "w", encoding="utf-8") as out:
            for it in items:
                out.write(json.dumps({"group": it.group, "split": it.split,
                                      "features": it.features}) + "\n")

    default = settings.answer.abstain_threshold
    if args.fit:
        calibration = fit(items)
        for it in items:
            it.confidence = calibration.confidence_of(it.features) if it.features else 0.0
        coefficients = ", ".join(f"{c:.4g}" for c in calibration.coefficients)
        print(f"Calibration(intercept={calibration.intercept:.4g}, coefficients=({coefficients},))")
        print("features: " + ", ".join(FEATURES))
        print("\nHeld-out half (not used for fitting):")
        print(curve(items, default, held_out_only=True))
        print("\nAll questions:")
    print(curve(items, default, held_out_only=False))
    print(retrieval_only(items))


if __name__ == "__main__":
    main()
