"""Paragraph retrieval quality: BM25 only, dense only and the default hybrid, in one run.

Usage: python benchmarks/retrieval_eval.py CORPUS.jsonl QUESTIONS.jsonl [--index DIR] [--limit N]

CORPUS is JSON Lines of ``{"id", "title", "paragraphs": [...]}`` records (e.g. the SQuAD v1.1 dev
corpus); QUESTIONS is JSON Lines of ``{"question", "article_id", "paragraph_index"}`` (questions
whose ``paragraph_index`` is null are skipped). The corpus is indexed with the real build into
``--index`` (a temporary folder by default; an index already there is reused, and rebuilt only
where the corpus changed), every question is asked, and the gold unit is (article id, paragraph
number). Prints Recall@1/5/10 and MRR@10 per method and the hybrid search time per query.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.evaluation import recall_at  # noqa: E402
from bot.metrics import percentile  # noqa: E402
from index import Embedder, IndexSettings, KnowledgeBaseSettings, build_index  # noqa: E402
from index.search import HybridSearcher  # noqa: E402
from index.settings import EmbeddingSettings, SearchSettings  # noqa: E402
from index.store_reader import open_generation  # noqa: E402

DEPTH = 10


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="JSON Lines corpus: {id, title, paragraphs}")
    parser.add_argument("questions", type=Path,
                        help="JSON Lines questions: {question, article_id, paragraph_index}")
    parser.add_argument("--index", type=Path, help="index folder to build into or reuse")
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--candidates", type=int, default=SearchSettings.candidates,
                        help="candidates per retriever (default %(default)s)")
    parser.add_argument("--title-weight", type=float, default=SearchSettings.title_weight,
                        help="weight of title and section words in the hybrid, relative to the "
                             "text's (default %(default)s; 0 ignores titles)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--sentence-vectors", default=EmbeddingSettings.sentence_vectors,
                        help="how sentence vectors are made: shared, paragraph or alone "
                             "(default %(default)s)")
    return parser.parse_args()


def load_questions(path: Path, limit: int = 0) -> list[tuple[str, tuple[str, int]]]:
    """(question, (article id, paragraph number)) of every answerable question in ``path``."""
    out: list[tuple[str, tuple[str, int]]] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("paragraph_index") is None:
                continue
            out.append((record["question"],
                        (str(record["article_id"]), int(record["paragraph_index"]))))
            if limit and len(out) >= limit:
                break
    return out


def main() -> None:
    args = _arguments()
    import torch

    torch.set_num_threads(args.threads)
    questions = load_questions(args.questions, args.limit)
    with tempfile.TemporaryDirectory() as temp:
        root = args.index or Path(temp) / "index"
        settings = KnowledgeBaseSettings(index=IndexSettings(path=str(root),
                                                             sources=(str(args.corpus),)),
                                         search=SearchSettings(candidates=args.candidates,
                                                               title_weight=args.title_weight),
                                         embedding=EmbeddingSettings(
                                             sentence_vectors=args.sentence_vectors))
        embedder = Embedder.from_settings(settings.embedding)
        started = time.monotonic()
        summary = build_index(settings, embedder=embedder)
        print(f"index: {summary.paragraphs} paragraphs, {summary.embedded} texts embedded, "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        generation = open_generation(root, embedder)
        searcher = HybridSearcher(generation, embedder, settings.search)

        texts = [q for q, _ in questions]
        started = time.monotonic()
        vectors = embedder.embed_queries(texts)
        embed_ms = 1000 * (time.monotonic() - started) / max(1, len(texts))

        bm25 = [[pid for pid, _ in generation.lexical.search(q, DEPTH)] for q in texts]
        _, dense_top = generation.paragraph_index.search(vectors, DEPTH)
        dense = [[int(i) for i in row if i >= 0] for row in dense_top]
        hybrid: list[list[int]] = []
        times: list[float] = []
        for text, vector in zip(texts, vectors, strict=True):
            tick = time.perf_counter()
            hits = searcher.search(text, DEPTH, vector=vector)
            times.append(1000 * (time.perf_counter() - tick))
            hybrid.append([h.ref.paragraph_id for h in hits])

        ids = sorted({pid for ranking in (*bm25, *dense, *hybrid) for pid in ranking})
        unit = {r.paragraph_id: (r.article_id, r.number) for r in generation.rows(ids)}
        gold = [g for _, g in questions]
        print(f"{len(questions)} questions, {generation.manifest.paragraphs} paragraphs")
        print(f"{'method':10s} {'R@1':>7s} {'R@5':>7s} {'R@10':>7s} {'MRR@10':>7s}")
        for name, rankings in (("bm25", bm25), ("dense", dense), ("hybrid", hybrid)):
            metrics = recall_at([[unit[p] for p in r] for r in rankings], gold)
            print(f"{name:10s} " + " ".join(f"{metrics[m]:7.4f}" for m in
                                            ("R@1", "R@5", "R@10", "MRR@10")))
        print(f"hybrid search per query: median {statistics.median(times):.1f} ms, "
              f"p95 {percentile(times, 0.95):.1f} ms "
              f"(+ query embedding {embed_ms:.1f} ms, batched)")
        generation.close()


if __name__ == "__main__":
    main()
