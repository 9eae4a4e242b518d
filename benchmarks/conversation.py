"""Follow-up questions: evidence retrieval per turn of CoQA dialogs, with and without history.

Usage: python benchmarks/conversation.py CORPUS DIALOGS [--index DIR] [--limit N]

CORPUS is JSON Lines of {"id", "title", "source", "paragraphs"} (the stories of the dialogs) and
DIALOGS is JSON Lines of {"id", "doc_id", "turns": [{"question", "paragraph_index"}, ...]}. The
corpus is indexed into --index (a temporary folder by default; an index already there is
reused). CoQA stores no headline for its news stories, only a file name ("cnn_<sha1>.story"),
so those records are indexed without their title (the loader then titles them with their first
words) unless --keep-titles is given.

For every follow-up turn (turn 2 onwards, with an evidence paragraph) the evidence paragraph is
ranked over the whole corpus:
  (a) the question alone;
  (b) citebot with its history handling, where the history is citebot's OWN earlier answers
      (what it cited), never the gold;
  (c) "stay on the previous turn's paragraph": the gold previous paragraph (an oracle), and
      citebot's own previous top result.
A topic-switch check follows: each dialog's first question is asked right after the first
three turns of the previous dialog (another story); it reports how many of the questions that
retrieval gets right on their own stay right with that unrelated history.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine import Engine  # noqa: E402
from bot.evaluation import Dialog, evaluate_dialogs, format_dialog_report, load_dialogs  # noqa: E402
from bot.models import Conversation  # noqa: E402
from bot.settings import Settings  # noqa: E402
from index import Embedder, IndexSettings, build_index  # noqa: E402

SWITCH_HISTORY = 3


def topic_switch(engine: Engine, dialogs: list[Dialog]) -> str:
    """First questions asked after another dialog's turns: how many stay right."""
    right_alone = kept = new_topic = 0
    for previous, dialog in zip([dialogs[-1], *dialogs[:-1]], dialogs, strict=True):
        first = dialog.turns[0]
        if first.gold is None:
            continue
        alone = engine.trace(first.question, history=False).hits
        if not alone or (alone[0].ref.article_id, alone[0].ref.number) != first.gold:
            continue
        right_alone += 1
        conversation = Conversation()
        for turn in previous.turns[:SWITCH_HISTORY]:
            conversation = engine.ask(turn.question, conversation).conversation
        trace = engine.trace(first.question, conversation)
        hits = trace.hits
        kept += bool(hits) and (hits[0].ref.article_id, hits[0].ref.number) == first.gold
        new_topic += bool(trace.resolution and trace.resolution.new_topic)
    if not right_alone:
        return "topic switch: no first question is retrieved right on its own"
    return (
        f"topic switch: {kept}/{right_alone} ({100 * kept / right_alone:.1f}%) first questions "
        f"retrieved right on their own stay right after {SWITCH_HISTORY} turns about another "
        f"story ({new_topic} recognized as a new topic)"
    )


def without_file_name_titles(corpus: Path, folder: Path) -> Path:
    """A copy of ``corpus`` in ``folder`` whose news records have no (file name) title."""
    out = folder / corpus.name
    with open(corpus, encoding="utf-8") as source, open(out, "w", encoding="utf-8") as target:
        for line in source:
            if not line.strip():
                continue
            record = json.loads(line)
            if str(record.get("title", "")).endswith(".story"):
                record.pop("title")
            target.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="the dialogs' stories (JSON Lines)")
    parser.add_argument("dialogs", type=Path, help="dialogs (JSON Lines)")
    parser.add_argument("--index", type=Path, help="index folder to build into or reuse")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N dialogs")
    parser.add_argument("--keep-titles", action="store_true",
                        help="index news stories with their file-name titles as given")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    dialogs = load_dialogs(args.dialogs, args.limit)
    with tempfile.TemporaryDirectory() as temp:
        root = args.index or Path(temp) / "index"
        corpus = (args.corpus if args.keep_titles
                  else without_file_name_titles(args.corpus, Path(temp)))
        settings = Settings(index=IndexSettings(path=str(root), sources=(str(corpus),)))
        embedder = Embedder.from_settings(settings.embedding)
        build_index(settings.knowledge_base, embedder=embedder)
        engine = Engine.open(settings, embedder)
        started = time.monotonic()
        report = evaluate_dialogs(engine, dialogs)
        print(format_dialog_report(report))
        print(topic_switch(engine, dialogs))
        print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
