"""The FAISS and Milvus engines side by side: R@1, build throughput, retrieval latency.

Usage: python benchmarks/engines.py CORPUS.jsonl QUESTIONS.jsonl [--paragraphs N] [--limit N]
       [--milvus-uri URI]

CORPUS and QUESTIONS are as for ``retrieval_eval.py`` (e.g. SQuAD v1.1 dev as JSON Lines). The
first articles holding about ``--paragraphs`` paragraphs are indexed by each engine into a fresh
folder: a full build (embedding included), then a rebuild whose embeddings all come from the
cache (what writing the index itself costs). The questions on those articles are then searched
on each engine with the same query vectors: R@1 and the hybrid retrieval time per query
(p50/p95, query embedding excluded). Milvus is Milvus Lite in a file unless ``--milvus-uri``
names a server (e.g. ``milvus-lite server`` or a cluster).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.retrieval_eval import load_questions  # noqa: E402
from bot.metrics import percentile  # noqa: E402
from index import Embedder, IndexSettings, KnowledgeBaseSettings, build_index  # noqa: E402
from index.knowledge_base import open_knowledge_base  # noqa: E402
from index.settings import MilvusSettings  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="JSON Lines corpus: {id, title, paragraphs}")
    parser.add_argument("questions", type=Path,
                        help="JSON Lines questions: {question, article_id, paragraph_index}")
    parser.add_argument("--paragraphs", type=int, default=2_000,
                        help="index the first articles up to about this many paragraphs")
    parser.add_argument("--limit", type=int, default=0, help="ask at most N questions (0: all)")
    parser.add_argument("--milvus-uri", default="", help="Milvus server URI (default: Lite file)")
    return parser.parse_args()


def _slice(corpus: Path, paragraphs: int, folder: Path) -> set[str]:
    """Write the first articles holding about ``paragraphs`` paragraphs; their ids."""
    kept, count = [], 0
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and count < paragraphs:
                record = json.loads(line)
                kept.append(line)
                count += len(record.get("paragraphs", [])) or 1
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(kept), encoding="utf-8")
    return {json.loads(line)["id"] for line in kept}


def main() -> None:
    """Build with both engines, search the same questions, print one row per engine."""
    args = _arguments()
    work = Path(tempfile.mkdtemp(prefix="citebot-engines-"))
    ids = _slice(args.corpus, args.paragraphs, work / "articles")
    questions = [(q, gold) for q, gold in load_questions(args.questions) if gold[0] in ids]
    if args.limit:
        questions = questions[: args.limit]
    base = KnowledgeBaseSettings(index=IndexSettings(sources=(str(work / "articles"),)))
    embedder = Embedder.from_settings(base.embedding)
    vectors = embedder.embed_queries([q for q, _gold in questions])
    print(f"{len(questions)} questions; embedding backend {embedder.backend}")
    print("engine  paragraphs  build s  paragraphs/s  rebuild (cached) s  R@1     p50 ms  p95 ms")
    for engine in ("faiss", "milvus"):
        settings = dataclasses.replace(
            base,
            index=dataclasses.replace(base.index, path=str(work / engine), engine=engine),
            milvus=MilvusSettings(uri=args.milvus_uri,
                                  collection_prefix=f"bench{int(time.time())}"),
        )
        started = time.perf_counter()
        summary = build_index(settings, embedder=embedder)
        built = time.perf_counter() - started
        started = time.perf_counter()
        build_index(settings, embedder=embedder, rebuild=True)
        rebuilt = time.perf_counter() - started
        kb = open_knowledge_base(settings, embedder)
        if questions:  # the first query pays for loading (FAISS files, Milvus collections)
            kb.search(questions[0][0], 1, vector=vectors[0])
        hits, times = 0, []
        for (question, gold), vector in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            found = kb.search(question, 1, vector=vector)
            times.append((time.perf_counter() - started) * 1000)
            hits += bool(found) and (found[0].ref.article_id, found[0].ref.number) == gold
        print(f"{engine:<7} {summary.paragraphs:>10}  {built:7.1f}  "
              f"{summary.paragraphs / built:12.1f}  {rebuilt:18.1f}  "
              f"{hits / max(len(questions), 1):.4f}  {percentile(times, 0.5):6.1f}  "
              f"{percentile(times, 0.95):6.1f}")


if __name__ == "__main__":
    main()
