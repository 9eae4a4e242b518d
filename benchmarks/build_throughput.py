"""Index build throughput next to raw ``model.encode`` on the same texts.

Usage: python benchmarks/build_throughput.py CORPUS.jsonl [--threads N] [--batch-size N]

CORPUS is a JSON Lines file of ``{"id", "title", "paragraphs": [...]}`` records (for example the
SQuAD v1.1 dev corpus). The script

1. embeds every paragraph, then every sentence, with ``model.encode`` directly (the ceiling);
2. runs a full ``build_index`` into a fresh index with an empty embedding cache;
3. runs the same build again (everything cached: nothing may be embedded);
4. checks that every article and paragraph is indexed with the corpus's own numbering;

and prints a table of items per second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import (  # noqa: E402
    Embedder,
    IndexSettings,
    KnowledgeBaseSettings,
    build_index,
    open_knowledge_base,
    sentence_spans,
)
from index.embed import passage_input  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure index build throughput against raw model.encode on one corpus."
    )
    parser.add_argument("corpus", type=Path, help="JSON Lines corpus: {id, title, paragraphs}")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="encode batch size (default 32)")
    parser.add_argument("--index", type=Path, help="index folder to build into (default: a temp dir)")
    return parser.parse_args()


def _timed(what: str, action):  # type: ignore[no-untyped-def]
    print(f"... {what}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> int:
    """Run the measurements and print the table."""
    args = _arguments()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    paragraphs = [(r["title"], text) for r in records for text in r["paragraphs"]]
    sentences = [
        passage_input(title, text[start:end])
        for title, text in paragraphs for start, end in sentence_spans(text)
    ]
    texts = [passage_input(title, text) for title, text in paragraphs]

    embedder = Embedder(batch_size=args.batch_size)
    _model, load_seconds = _timed("loading the model", lambda: embedder.model)
    encode = lambda items: embedder.model.encode(  # noqa: E731
        items, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    _v, raw_paragraphs = _timed(f"model.encode on {len(texts)} paragraphs", lambda: encode(texts))
    _v, raw_sentences = _timed(f"model.encode on {len(sentences)} sentences", lambda: encode(sentences))

    with tempfile.TemporaryDirectory(prefix="citebot-bench-") as scratch:
        folder = args.index or Path(scratch) / "index"
        settings = KnowledgeBaseSettings(
            index=IndexSettings(path=str(folder), sources=(str(args.corpus),))
        )
        cold, cold_seconds = _timed(
            "full build, empty cache", lambda: build_index(settings, rebuild=True, clean_cache=True, embedder=embedder)
        )
        warm, warm_seconds = _timed("second build, nothing changed", lambda: build_index(settings, embedder=embedder))
        kb = open_knowledge_base(settings, embedder)
        mismatched = sum(
            1
            for r in records
            for number, text in enumerate(r["paragraphs"])
            if (found := kb.paragraph(r["id"], number)) is None or found.text != text
        )
        stats = kb.stats()

    # (step, paragraphs embedded or indexed, sentences embedded, seconds)
    rows = [
        ("raw model.encode, paragraphs", len(texts), 0, raw_paragraphs),
        ("raw model.encode, sentences", 0, len(sentences), raw_sentences),
        ("raw model.encode, both", len(texts), len(sentences), raw_paragraphs + raw_sentences),
        ("full build (empty cache)", cold.paragraphs, cold.embedded_sentences, cold_seconds),
        ("second build (all cached)", warm.paragraphs, warm.embedded_sentences, warm_seconds),
    ]
    print(f"corpus: {args.corpus.name}, torch threads: {args.threads}, batch size: {args.batch_size}, "
          f"model load: {load_seconds:.1f} s")
    print()
    print("| step | paragraphs | sentences | seconds | texts/s | paragraphs/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n_paragraphs, n_sentences, seconds in rows:
        texts_rate = (n_paragraphs + n_sentences) / seconds
        paragraph_rate = f"{n_paragraphs / seconds:.1f}" if n_paragraphs else "-"
        print(f"| {name} | {n_paragraphs:,} | {n_sentences:,} | {seconds:.1f} | "
              f"{texts_rate:.1f} | {paragraph_rate} |")
    print()
    print(
        f"full build embedded {cold.embedded:,} paragraphs + {cold.embedded_sentences:,} sentences; "
        f"second build embedded {warm.embedded} + {warm.embedded_sentences}"
    )
    print(
        f"indexed {stats.articles} articles / {stats.paragraphs:,} paragraphs / "
        f"{stats.sentences:,} sentences ({len(records)} / {len(texts):,} in the corpus); "
        f"paragraphs not found under their original number: {mismatched}; "
        f"skipped: {len(cold.skipped)}"
    )
    ok = mismatched == 0 and stats.paragraphs == len(texts) and warm.embedded == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
