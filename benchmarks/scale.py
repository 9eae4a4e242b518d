"""Scale benchmark: build time, disk, memory, ANN recall and latency at 2k, 100k and 1M paragraphs.

    python benchmarks/scale.py CORPUS QUESTIONS [--index DIR] [--sizes 100000,1000000]

Rows:
  * ``--index DIR``: a real index built by ``citebot index build`` (e.g. of SQuAD v1.1 dev,
    2,067 paragraphs); its build time is not measured here (it is embedding-bound).
  * each of ``--sizes``: a synthetic generation written directly through the store API
    (``index.store_writer.write_generation``), exactly as a build writes one, into ``--work``.

How the synthetic generations are made:
  * Text: every paragraph joins 3 to 7 (uniformly drawn) real sentences picked at random from the
    sentence pool, so BM25 sees real words with realistic term statistics; articles have 20
    paragraphs and the title "Synthetic article <n>".
  * Sentence pool: the sentences of CORPUS (JSON Lines ``{"id", "title", "paragraphs"}``), cut
    by citebot's own sentence splitter; at most ``--pool`` of them (seeded sample).
  * Vectors: the pool sentences are embedded with the real model (or read from ``--pool-vectors``
    NAME.npy, whose NAME.texts.json lists the embedded sentences, e.g. a cache of CORPUS). A
    synthetic sentence's vector is its pool sentence's embedding plus Gaussian noise (sigma
    ``--noise`` per dimension), renormalized; a paragraph's vector is the normalized mean of its
    sentences' embeddings plus the same noise, renormalized. The noise keeps the many reuses of
    a pool sentence from being exact duplicates while staying in the model's distribution.

Per row, measured in a fresh serving subprocess (``bot.engine.Engine`` over the index, the
configured embedding backend, the first ``--queries`` QUESTIONS spread over the file):
  * RSS (VmRSS) and peak (VmHWM) after opening the index and loading the model (one warm-up
    question), and after all timed queries; RssAnon is the process's own memory, the rest is
    memory-mapped index files, shared with other processes and reclaimable by the kernel;
  * latency p50/p95 (ms) of: embedding the question; the paragraph-vector candidate search
    alone (40 candidates); ``KnowledgeBase.search`` (hybrid retrieval with a given query vector,
    i.e. candidates from BM25, paragraph and sentence vectors, every candidate scored); a full
    ``Engine.ask`` (embedding, retrieval, answer composition, abstention); and ``Engine.ask``
    with a cross-encoder reranker when ``--rerank-model`` is given;
  * recall@10 of the paragraph search against exact search (brute force over the stored
    vectors), with the real question vectors; it is 1 for exact (flat) indexes.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CANDIDATES = 40
ARTICLE_SIZE = 20
MIN_SENTENCE_CHARS = 25


# -- inputs ----------------------------------------------------------------------------------------


def read_sentences(corpus: Path) -> list[str]:
    """Distinct sentences of a JSON Lines corpus, in file order."""
    from index.sentences import sentence_spans

    seen: dict[str, None] = {}
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            for paragraph in json.loads(line).get("paragraphs", []):
                for start, end in sentence_spans(paragraph):
                    text = paragraph[start:end]
                    if len(text) >= MIN_SENTENCE_CHARS:
                        seen.setdefault(text)
    return list(seen)


def read_questions(path: Path, count: int) -> list[str]:
    """``count`` questions spread evenly over a JSON Lines file (answerable ones)."""
    questions = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if record.get("paragraph_index") is not None:
                    questions.append(str(record["question"]))
    step = max(1, len(questions) // max(1, count))
    return questions[::step][:count]


def sentence_pool(args: argparse.Namespace) -> tuple[list[str], np.ndarray, str]:
    """The real sentences and their embeddings, with a note on where the vectors came from."""
    if args.pool_vectors:
        texts = json.loads(Path(str(args.pool_vectors)[: -len(".npy")] + ".texts.json").read_text())
        vectors = np.load(args.pool_vectors).astype(np.float32)
        keep = [i for i, t in enumerate(texts) if len(t) >= MIN_SENTENCE_CHARS][: args.pool]
        return [texts[i] for i in keep], vectors[keep], f"read from {Path(args.pool_vectors).name}"
    sentences = read_sentences(args.corpus)
    rng = np.random.default_rng(args.seed)
    picked = sorted(rng.choice(len(sentences), min(args.pool, len(sentences)), replace=False))
    texts = [sentences[i] for i in picked]
    embedder = _embedder(args.backend)
    started = time.perf_counter()
    vectors = embedder.embed_passages(texts)
    return texts, vectors, f"embedded here in {time.perf_counter() - started:.0f} s"


def _embedder(backend: str):  # noqa: ANN202 - index.embed imported lazily
    from index.embed import Embedder
    from index.settings import EmbeddingSettings

    return Embedder.from_settings(EmbeddingSettings(backend=backend))


# -- synthetic generations -------------------------------------------------------------------------


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def build_synthetic(
    root: Path, paragraphs: int, texts: list[str], pool: np.ndarray, args: argparse.Namespace
) -> float:
    """Write a synthetic generation of ``paragraphs`` paragraphs at ``root``; returns seconds."""
    from index.manifest import FORMAT_VERSION, Manifest
    from index.storage import ArticleRecord, ParagraphRecord
    from index.store_layout import write_current
    from index.store_writer import write_generation

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed + paragraphs)
    counts = rng.integers(3, 8, paragraphs)
    total = int(counts.sum())
    picks = rng.integers(0, len(texts), total)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    dims = pool.shape[1]

    records: list[ArticleRecord] = []
    sentence_id = 1
    for first in range(0, paragraphs, ARTICLE_SIZE):
        members = []
        for p in range(first, min(paragraphs, first + ARTICLE_SIZE)):
            parts, spans, at = [], [], 0
            for s in picks[bounds[p] : bounds[p + 1]]:
                sentence = texts[s]
                spans.append((sentence_id, at, at + len(sentence)))
                sentence_id += 1
                parts.append(sentence)
                at += len(sentence) + 1
            text = " ".join(parts)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            members.append(ParagraphRecord(p + 1, p - first, text, None, digest, tuple(spans)))
        article = f"synthetic-{first // ARTICLE_SIZE}"
        records.append(ArticleRecord(article, f"Synthetic article {first // ARTICLE_SIZE}", None,
                                     None, "synthetic", article, tuple(members)))

    work = root / "vectors"
    work.mkdir(parents=True, exist_ok=True)
    sentence_vectors = np.lib.format.open_memmap(work / "sentences.npy", mode="w+",
                                                 dtype=np.float16, shape=(total, dims))
    chunk = 200_000
    for start in range(0, total, chunk):
        rows = pool[picks[start : start + chunk]]
        noise = rng.normal(0.0, args.noise, rows.shape).astype(np.float32)
        sentence_vectors[start : start + len(rows)] = _unit(rows + noise)
    paragraph_vectors = np.zeros((paragraphs, dims), dtype=np.float32)
    for start in range(0, paragraphs, chunk):
        stop = min(paragraphs, start + chunk)
        sums = np.add.reduceat(pool[picks[bounds[start] : bounds[stop]]],
                               bounds[start:stop] - bounds[start], axis=0)
        noise = rng.normal(0.0, args.noise, sums.shape).astype(np.float32)
        paragraph_vectors[start:stop] = _unit(_unit(sums) + noise)

    embedder = _embedder(args.backend)
    generation = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    manifest = Manifest(FORMAT_VERSION, generation, embedder.model_id, embedder.backend,
                        embedder.dimensions, True, embedder.passage_input_version,
                        embedder.passage_prefix, 0, 0, 0,
                        datetime.now(UTC).isoformat(timespec="seconds"))
    write_generation(root / "generations" / generation, records, paragraph_vectors,
                     sentence_vectors, manifest, approximate_above=args.approximate_above)
    write_current(root, generation)
    del sentence_vectors
    (work / "sentences.npy").unlink()
    work.rmdir()
    return time.perf_counter() - started


# -- serving subprocess ------------------------------------------------------------------------


def _memory() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in kB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def _ms(samples: list[float]) -> tuple[float, float]:
    from bot.metrics import percentile

    return percentile(samples, 0.5) * 1000, percentile(samples, 0.95) * 1000


def serve(root: Path, questions_file: Path, out: Path, backend: str, rerank_model: str) -> None:
    """Open ``root`` like a serving bot, time the questions, and write the figures to ``out``."""
    from bot.engine import Engine
    from bot.rerank import Reranker
    from bot.settings import RerankSettings, Settings
    from index.settings import EmbeddingSettings, IndexSettings

    questions = json.loads(questions_file.read_text())
    settings = Settings(index=IndexSettings(path=str(root)),
                        embedding=EmbeddingSettings(backend=backend))
    engine = Engine.open(settings)
    engine.ask(questions[0])  # loads the model: serving memory includes it
    result: dict[str, object] = {"open": _memory()}
    kb = engine.kb
    generation = kb._serving.generation  # noqa: SLF001 - the benchmark times the vector search alone
    timings: dict[str, list[float]] = {"embed": [], "vector": [], "search": [], "ask": []}
    vectors = []
    for question in questions:
        t = time.perf_counter()
        vector = kb.embed_query(question)
        timings["embed"].append(time.perf_counter() - t)
        vectors.append(vector)
        t = time.perf_counter()
        generation.paragraph_index.search(vector[None, :], CANDIDATES)
        timings["vector"].append(time.perf_counter() - t)
        t = time.perf_counter()
        kb.search(question, 10, vector=vector)
        timings["search"].append(time.perf_counter() - t)
    result["after"] = _memory()
    # Full answers on a second engine: the first one's search already met these questions'
    # candidates, and their remembered terms would flatter the timing.
    fresh = Engine.open(settings)
    fresh.ask(questions[0])
    for question in questions:
        t = time.perf_counter()
        fresh.ask(question)
        timings["ask"].append(time.perf_counter() - t)
    if rerank_model:
        reranked = Engine(dataclasses.replace(settings, rerank=RerankSettings(model=rerank_model)),
                          kb, Reranker.from_settings(RerankSettings(model=rerank_model)))
        reranked.ask(questions[0])
        timings["rerank"] = []
        for question in questions:
            t = time.perf_counter()
            reranked.ask(question)
            timings["rerank"].append(time.perf_counter() - t)
    result["latency"] = {name: _ms(values) for name, values in timings.items()}
    result["backend"] = kb.embedder.backend
    result["threads"] = os.cpu_count()
    np.save(out.with_suffix(".npy"), np.asarray(vectors, dtype=np.float32))
    out.write_text(json.dumps(result))


def measure(root: Path, questions: list[str], args: argparse.Namespace) -> dict[str, object]:
    """Serve ``root`` in a fresh subprocess, then measure recall here; returns the row."""
    from index.ann import exact_top_rows
    from index.store_layout import directory_size
    from index.store_reader import open_generation

    with tempfile.TemporaryDirectory() as folder:
        qfile, out = Path(folder) / "questions.json", Path(folder) / "result.json"
        qfile.write_text(json.dumps(questions))
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(root),
                   "--serve-questions", str(qfile), "--serve-out", str(out),
                   "--backend", args.backend, "--rerank-model", args.rerank_model]
        subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        row = json.loads(out.read_text())
        vectors = np.load(out.with_suffix(".npy"))
    generation = open_generation(root)
    search = generation.paragraph_index
    exact = exact_top_rows(search.table, vectors, 10)
    _, found = search.search_rows(vectors, 10)
    row["recall"] = float(np.mean([len(set(e) & set(f)) / len(e)
                                   for e, f in zip(exact, found, strict=True)]))
    manifest = generation.manifest
    row["kind"] = f"{manifest.paragraph_search.kind}/{manifest.sentence_search.kind}"
    row["build_recall"] = (manifest.paragraph_search.recall_at_10,
                           manifest.sentence_search.recall_at_10)
    row["paragraphs"], row["sentences"] = manifest.paragraphs, manifest.sentences
    row["disk"] = directory_size(generation.path)
    generation.close()
    return row


# -- report ----------------------------------------------------------------------------------------


def _mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def print_table(rows: list[dict[str, object]], rerank: bool) -> None:
    """Print the figures of every row as an aligned text table."""
    header = ["paragraphs", "sentences", "build s", "kind p/s", "disk MB", "RSS open MB",
              "RSS after MB", "HWM MB", "anon after MB", "recall@10", "build recall p/s",
              "embed ms", "vectors ms", "search ms", "ask ms"]
    if rerank:
        header.append("ask+rerank ms")
    lines = [header]
    for row in rows:
        lat = row["latency"]
        recall = row["build_recall"]
        cells = [
            f"{row['paragraphs']:,}", f"{row['sentences']:,}",
            "-" if row.get("build_s") is None else f"{row['build_s']:.0f}",
            str(row["kind"]), f"{row['disk'] / 2**20:.0f}",
            _mb(row["open"]["VmRSS"]), _mb(row["after"]["VmRSS"]), _mb(row["after"]["VmHWM"]),
            _mb(row["after"]["RssAnon"]), f"{row['recall']:.3f}",
            "/".join("-" if r is None else f"{r:.3f}" for r in recall),
        ]
        for name in ("embed", "vector", "search", "ask") + (("rerank",) if rerank else ()):
            p50, p95 = lat[name]
            cells.append(f"{p50:.1f}/{p95:.1f}")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    print("latency cells are p50/p95; kind and build recall are paragraphs/sentences")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpus", type=Path, nargs="?",
                        help="JSON Lines articles {id, title, paragraphs}: the sentence pool")
    parser.add_argument("questions", type=Path, nargs="?",
                        help="JSON Lines questions {question, paragraph_index, ...}")
    parser.add_argument("--index", type=Path, help="a real index to measure as the first row")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="paragraph counts of the synthetic rows "
                             "(comma-separated; '' for none)")
    parser.add_argument("--work", type=Path,
                        help="folder for the synthetic indexes (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic indexes")
    parser.add_argument("--queries", type=int, default=200, help="questions timed per row")
    parser.add_argument("--pool", type=int, default=4000, help="real sentences in the pool")
    parser.add_argument("--pool-vectors", help="NAME.npy of pool embeddings (+ NAME.texts.json)")
    parser.add_argument("--noise", type=float, default=0.01, help="noise sigma per dimension")
    parser.add_argument("--approximate-above", type=int, default=None,
                        help="index.approximate_above for the synthetic rows "
                             "(default: the setting's)")
    parser.add_argument("--backend", default="torch",
                        help="[embedding] backend of the serving side")
    parser.add_argument("--rerank-model", default="",
                        help="also time Engine.ask with this reranker")
    parser.add_argument("--build-threads", type=int, default=1,
                        help="FAISS threads for the synthetic builds (default 1: polite on a "
                             "shared machine, and OpenMP spin-waits badly when cores are busy)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-questions", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.serve:
        serve(args.serve, args.serve_questions, args.serve_out, args.backend, args.rerank_model)
        return 0
    if args.corpus is None or args.questions is None:
        parser.error("CORPUS and QUESTIONS are required")
    if args.approximate_above is None:
        from index.settings import IndexSettings

        args.approximate_above = IndexSettings().approximate_above
    import faiss

    faiss.omp_set_num_threads(max(1, args.build_threads))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    questions = read_questions(args.questions, args.queries)
    rows: list[dict[str, object]] = []
    if args.index:
        rows.append(measure(args.index, questions, args))
        print(f"measured {args.index}", file=sys.stderr, flush=True)
    if sizes:
        texts, pool, origin = sentence_pool(args)
        print(f"sentence pool: {len(texts)} real sentences of {args.corpus.name}, "
              f"vectors {origin}; noise sigma {args.noise}", flush=True)
        work = args.work or Path(tempfile.mkdtemp(prefix="citebot-scale-"))
        for size in sizes:
            root = work / f"synthetic-{size}"
            if (root / "CURRENT").exists():
                build_s = None  # reused from an earlier run with --keep
            else:
                build_s = build_synthetic(root, size, texts, pool, args)
            print(f"built {size:,} paragraphs in {build_s or 0:.0f} s", file=sys.stderr, flush=True)
            rows.append({**measure(root, questions, args), "build_s": build_s})
            if not args.keep:
                import shutil

                shutil.rmtree(root, ignore_errors=True)
    backend = rows[0]["backend"] if rows else args.backend
    print(f"{len(questions)} questions of {args.questions.name}; embedding backend {backend}; "
          f"{os.cpu_count()} CPUs; approximate_above {args.approximate_above}")
    print_table(rows, bool(args.rerank_model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
