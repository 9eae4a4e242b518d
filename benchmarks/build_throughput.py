"""Index build throughput per embedding backend, next to raw encoding of the same texts.

Usage: python benchmarks/build_throughput.py CORPUS.jsonl [--backends torch,onnx,onnx-int8]
       [--articles N] [--repeats N] [--threads N]

CORPUS is a JSON Lines file of ``{"id", "title", "paragraphs": [...]}`` records (for example the
SQuAD v1.1 dev corpus). For each backend the script, after loading the model once (not timed in
the rates, shown apart):

1. embeds every paragraph, then every sentence, with the embedder directly (the ceiling);
2. runs a full ``build_index`` into a fresh index with an empty embedding cache;
3. runs the same build again with nothing changed (a no-op build: nothing may be embedded);
4. checks that every article and paragraph is indexed with the corpus's own numbering;

each step ``--repeats`` times, and prints one table of medians with the ratios side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import (  # noqa: E402
    BuildSummary,
    Embedder,
    EmbeddingSettings,
    IndexSettings,
    KnowledgeBaseSettings,
    build_index,
    open_knowledge_base,
    sentence_spans,
)
from index.embed import passage_input  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure index build throughput per embedding backend against raw encoding."
    )
    parser.add_argument("corpus", type=Path, help="JSON Lines corpus: {id, title, paragraphs}")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated backends (default {','.join(BACKENDS)})")
    parser.add_argument("--articles", type=int, default=0,
                        help="use only the first N articles (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per step; medians (default 3)")
    parser.add_argument("--threads", type=int, default=0,
                        help="embedding threads (default 0: the backend's own default)")
    parser.add_argument("--batch-size", type=int, default=32, help="torch batch size (default 32)")
    parser.add_argument("--cache-dir", default="",
                        help="ONNX export cache (default: citebot's, ~/.cache/citebot)")
    return parser.parse_args()


def _median_seconds(what: str, repeats: int, action: Callable[[], Any]) -> tuple[Any, float]:
    times, result = [], None
    for run in range(repeats):
        print(f"... {what} ({run + 1}/{repeats})", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def _measure(backend: str, args: argparse.Namespace, corpus: Path, records: list[dict[str, Any]],
             texts: list[str], sentences: list[str], scratch: Path) -> dict[str, Any]:
    embedding = EmbeddingSettings(backend=backend, threads=args.threads,
                                  batch_size=args.batch_size, cache_dir=args.cache_dir)
    if backend == "torch" and args.threads:
        import torch

        torch.set_num_threads(args.threads)
    embedder = Embedder.from_settings(embedding)
    started = time.perf_counter()
    embedder.embed_passages(["load the model"])  # a first ONNX use may export: not a rate
    load_seconds = time.perf_counter() - started
    _v, raw_paragraphs = _median_seconds(
        f"{backend}: encode {len(texts)} paragraphs", args.repeats,
        lambda: embedder.embed_passages(texts))
    _v, raw_sentences = _median_seconds(
        f"{backend}: encode {len(sentences)} sentences", args.repeats,
        lambda: embedder.embed_passages(sentences))
    settings = KnowledgeBaseSettings(
        index=IndexSettings(path=str(scratch / f"index-{backend}"), sources=(str(corpus),)),
        embedding=embedding,
    )
    full: BuildSummary
    full, full_seconds = _median_seconds(
        f"{backend}: full build, empty cache", args.repeats,
        lambda: build_index(settings, rebuild=True, clean_cache=True, embedder=embedder))
    noop: BuildSummary
    noop, noop_seconds = _median_seconds(
        f"{backend}: no-op build", args.repeats, lambda: build_index(settings, embedder=embedder))
    kb = open_knowledge_base(settings, embedder)
    mismatched = sum(
        1
        for r in records
        for number, text in enumerate(r["paragraphs"])
        if (found := kb.paragraph(r["id"], number)) is None or found.text != text
    )
    stats = kb.stats()
    ok = (mismatched == 0 and stats.paragraphs == len(texts) and noop.embedded == 0
          and noop.embedded_sentences == 0 and stats.backend == backend)
    return {
        "backend": backend, "load": load_seconds, "raw_paragraphs": raw_paragraphs,
        "raw_sentences": raw_sentences, "full": full_seconds, "noop": noop_seconds,
        "embedded": (full.embedded, full.embedded_sentences), "ok": ok,
        "mismatched": mismatched,
    }


def main() -> int:
    """Run the measurements and print the table."""
    args = _arguments()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    lines = [line for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.articles:
        lines = lines[: args.articles]
    records = [json.loads(line) for line in lines]
    paragraphs = [text for r in records for text in r["paragraphs"]]
    texts = [passage_input(text) for text in paragraphs]
    sentences = [
        passage_input(text[start:end])
        for text in paragraphs for start, end in sentence_spans(text)
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="citebot-bench-") as scratch_name:
        scratch = Path(scratch_name)
        corpus = scratch / "corpus.jsonl"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for backend in backends:
            results.append(_measure(backend, args, corpus, records, texts, sentences, scratch))

    counter = Embedder()  # counts with the model's tokenizer.json; loads no model
    tokens = statistics.mean(counter.count_tokens(t) for t in texts)
    print(f"corpus: {args.corpus.name}, {len(records)} articles, {len(texts):,} paragraphs "
          f"(mean {tokens:.0f} tokens), {len(sentences):,} sentences; threads: "
          f"{args.threads or 'default'}; medians of {args.repeats} runs; model load excluded")
    print()
    print("| backend | model load s | encode paragraphs/s | encode texts/s | full build s | "
          "build paragraphs/s | build ÷ encode time | no-op build s | no-op ÷ full |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        raw = r["raw_paragraphs"] + r["raw_sentences"]
        print(
            f"| {r['backend']} | {r['load']:.1f} | {len(texts) / r['raw_paragraphs']:.1f} | "
            f"{(len(texts) + len(sentences)) / raw:.1f} | {r['full']:.1f} | "
            f"{len(texts) / r['full']:.1f} | {r['full'] / raw:.2f} | {r['noop']:.2f} | "
            f"{100 * r['noop'] / r['full']:.1f}% |"
        )
    if len(results) > 1:
        base = results[0]
        print()
        print(f"full build speed-up over {base['backend']}: " + ", ".join(
            f"{r['backend']} {base['full'] / r['full']:.2f}x" for r in results[1:]))
    print()
    for r in results:
        print(f"{r['backend']}: full build embedded {r['embedded'][0]:,} paragraphs + "
              f"{r['embedded'][1]:,} sentences; paragraphs not found under their original "
              f"number: {r['mismatched']}; checks {'passed' if r['ok'] else 'FAILED'}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
