"""Index build throughput per embedding backend, next to raw encoding of the same texts.

Usage: python benchmarks/build_throughput.py CORPUS.jsonl [--backends torch,onnx,onnx-int8]
       [--sentence-vectors shared,paragraph,alone] [--articles N] [--repeats N] [--threads N]

CORPUS is a JSON Lines file of ``{"id", "title", "paragraphs": [...]}`` records (for example the
SQuAD v1.1 dev corpus). For each backend the script, after loading the model once (not timed in
the rates, shown apart):

1. embeds every paragraph, then every sentence, with the embedder directly;
2. for each way of making sentence vectors (``[embedding] sentence_vectors``: sharing the
   paragraph's lower layers, pooled from its pass, or each sentence embedded alone), runs a
   full ``build_index`` into a fresh
   index with an empty embedding cache;
3. runs the same build again with nothing changed (a no-op build: nothing may be embedded);
4. checks that every article and paragraph is indexed with the corpus's own numbering;

each step ``--repeats`` times, and prints one table of medians with the ratios side by side,
among them the build's paragraphs per second over sentence-transformers' own ``encode`` of
the paragraphs alone (with the torch backend; the library itself, not citebot's embedder).
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
from dataclasses import replace
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
from index.embed import passage_input, resolve_model  # noqa: E402

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
    parser.add_argument("--sentence-vectors", default="shared,paragraph,alone",
                        help="ways of making sentence vectors to build with (default all)")
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


def _build(mode: str, embedder: Embedder, embedding: EmbeddingSettings, corpus: Path,
           records: list[dict[str, Any]], texts: list[str], repeats: int,
           scratch: Path) -> dict[str, Any]:
    """Full and no-op builds with one way of making sentence vectors, and their checks."""
    backend = embedder.backend
    settings = KnowledgeBaseSettings(
        index=IndexSettings(path=str(scratch / f"index-{backend}-{mode}"), sources=(str(corpus),)),
        embedding=replace(embedding, sentence_vectors=mode),
    )
    embedder.requested_sentence_vectors = mode  # one loaded model for both ways
    full: BuildSummary
    full, full_seconds = _median_seconds(
        f"{backend}, sentences {mode}: full build, empty cache", repeats,
        lambda: build_index(settings, rebuild=True, clean_cache=True, embedder=embedder))
    noop: BuildSummary
    noop, noop_seconds = _median_seconds(
        f"{backend}, sentences {mode}: no-op build", repeats,
        lambda: build_index(settings, embedder=embedder))
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
    return {"mode": mode, "full": full_seconds, "noop": noop_seconds, "ok": ok,
            "embedded": (full.embedded, full.embedded_sentences), "mismatched": mismatched}


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
    plain = _plain_torch_seconds(embedding, texts, args) if backend == "torch" else None
    builds = [_build(mode, embedder, embedding, corpus, records, texts, args.repeats, scratch)
              for mode in args.sentence_vectors.split(",")]
    return {"backend": backend, "load": load_seconds, "raw_paragraphs": raw_paragraphs,
            "raw_sentences": raw_sentences, "plain": plain, "builds": builds}


def _plain_torch_seconds(
    embedding: EmbeddingSettings, texts: list[str], args: argparse.Namespace
) -> float:
    """Seconds sentence-transformers itself takes to encode ``texts`` in one call.

    The ratios' denominator: the library's own ``encode`` (which sorts all texts by length),
    not citebot's torch embedder, so that nothing citebot does can make the baseline slower.
    """
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(embedding.model), device="cpu", backend="torch")
    model.encode(texts[:8], batch_size=args.batch_size)  # warm-up
    _v, seconds = _median_seconds(
        f"sentence-transformers: encode {len(texts)} paragraphs", args.repeats,
        lambda: model.encode(texts, batch_size=args.batch_size, show_progress_bar=False,
                             normalize_embeddings=True))
    return seconds


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
    torch_rate = next((len(texts) / r["plain"] for r in results if r["plain"]), None)
    if torch_rate:
        print(f"torch baseline: sentence-transformers encode, batch {args.batch_size}: "
              f"{torch_rate:.1f} paragraphs/s")
        print()
    print("| backend | sentence vectors | model load s | encode paragraphs/s | encode texts/s | "
          "full build s | build paragraphs/s | build ÷ encode time | build ÷ torch encode | "
          "no-op build s | no-op ÷ full |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        raw = r["raw_paragraphs"] + r["raw_sentences"]
        for b in r["builds"]:
            rate = len(texts) / b["full"]
            versus = f"{rate / torch_rate:.2f}x" if torch_rate else "-"
            print(
                f"| {r['backend']} | {b['mode']} | {r['load']:.1f} | "
                f"{len(texts) / r['raw_paragraphs']:.1f} | "
                f"{(len(texts) + len(sentences)) / raw:.1f} | {b['full']:.1f} | {rate:.1f} | "
                f"{b['full'] / raw:.2f} | {versus} | {b['noop']:.2f} | "
                f"{100 * b['noop'] / b['full']:.1f}% |"
            )
    print()
    print('"build ÷ torch encode": build paragraphs/s over sentence-transformers\' own encode of '
          "the paragraphs alone (the sentences not counted)")
    print()
    for r in results:
        for b in r["builds"]:
            print(f"{r['backend']}, sentences {b['mode']}: full build embedded "
                  f"{b['embedded'][0]:,} paragraphs + {b['embedded'][1]:,} sentences; paragraphs "
                  f"not found under their original number: {b['mismatched']}; checks "
                  f"{'passed' if b['ok'] else 'FAILED'}")
    return 0 if all(b["ok"] for r in results for b in r["builds"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
