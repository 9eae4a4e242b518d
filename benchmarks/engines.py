"""The FAISS and Milvus engines side by side: build speed, memory, disk, R@1, retrieval latency.

Usage: python benchmarks/engines.py CORPUS.jsonl QUESTIONS.jsonl [--paragraphs N] [--limit N]
       [--milvus-limit N] [--synthetic N] [--work DIR] [--milvus-uri URI]

CORPUS and QUESTIONS are as for ``retrieval_eval.py`` (e.g. SQuAD v1.1 dev as JSON Lines).

What is indexed:
  * by default the first articles of CORPUS holding about ``--paragraphs`` paragraphs. They are
    embedded once by a full FAISS build (model and embedding included: its time gives the
    embedding rate, printed apart), which fills the embedding cache;
  * with ``--synthetic N``, N synthetic paragraphs made of real sentences of CORPUS and an
    embedding cache pre-filled with a seeded vector for every text (both made by
    ``benchmarks/build_memory.py``'s code; nothing is embedded by the model).

Each engine then builds the same articles into a fresh folder holding a copy of that cache:
a real ``citebot index build`` in a fresh process, so its time is the build without embedding
(loading, splitting, writing, indexing, read-back; "process s" is the command from start to
exit, which for Milvus Lite includes its engine finishing its writes) and its peak RSS (VmHWM)
is the whole build process's, Milvus Lite's in-process engine included (a Milvus server's
memory is not). Disk is the index without the embedding cache (FAISS: ``generations/``;
Milvus Lite: its data folder).

Then the questions are searched on each engine with the same query vectors, embedded by the real
model (query embedding excluded from the times): hybrid retrieval p50/p95, and R@1 on a slice of
the real corpus (synthetic paragraphs have no gold answer). QUESTIONS on the slice's articles,
or with ``--synthetic`` every answerable question spread over the file; ``--limit`` caps them
for both engines, ``--milvus-limit`` for Milvus alone (Milvus Lite's engine is pure Python and
far slower). Milvus is Milvus Lite in a file unless ``--milvus-uri`` names a server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.build_memory import prefill, write_corpus  # noqa: E402
from benchmarks.retrieval_eval import load_questions  # noqa: E402
from benchmarks.scale import read_questions, read_sentences  # noqa: E402
from bot.metrics import percentile  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from index import Embedder  # noqa: E402
from index.knowledge_base import open_knowledge_base  # noqa: E402
from index.store_layout import directory_size  # noqa: E402

BACKEND = "onnx-int8"  # the default backend of a new index, named so the cache matches

# One `citebot index build` through the CLI, then the process's peak RSS on the last line.
_BUILD = """
import json, sys, time
from pathlib import Path
from bot.cli import main
started = time.perf_counter()
code = main(["--config", sys.argv[1], "index", "build", "--json"])
seconds = time.perf_counter() - started
status = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines())
print(json.dumps({"code": code, "seconds": seconds, "hwm_kb": int(status["VmHWM"].split()[0])}))
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpus", type=Path, help="JSON Lines corpus: {id, title, paragraphs}")
    parser.add_argument("questions", type=Path,
                        help="JSON Lines questions: {question, article_id, paragraph_index}")
    parser.add_argument("--paragraphs", type=int, default=2_000,
                        help="index the first articles up to about this many paragraphs")
    parser.add_argument("--synthetic", type=int, default=0,
                        help="index N synthetic paragraphs of real sentences instead")
    parser.add_argument("--pool", type=int, default=20_000,
                        help="real sentences the synthetic paragraphs are drawn from")
    parser.add_argument("--limit", type=int, default=0, help="ask at most N questions (0: all)")
    parser.add_argument("--milvus-limit", type=int, default=0,
                        help="ask Milvus at most N of them (0: as many as FAISS)")
    parser.add_argument("--milvus-uri", default="", help="Milvus server URI (default: Lite file)")
    parser.add_argument("--work", type=Path, help="folder for corpus, cache and indexes "
                        "(default: temporary; an existing corpus and cache there are reused)")
    parser.add_argument("--seed", type=int, default=7)
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
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(kept), encoding="utf-8")
    return {json.loads(line)["id"] for line in kept}


def _config(root: Path, articles: Path, engine: str, uri: str) -> Path:
    """A citebot config for one engine's index in ``root``."""
    prefix = f"bench{int(time.time())}" if uri else "bench"
    root.mkdir(parents=True, exist_ok=True)
    path = root.parent / f"{root.name}.toml"
    path.write_text(
        f'[index]\nengine = "{engine}"\npath = "{root}"\nsources = ["{articles}"]\n'
        f'max_file_mb = 0\n[embedding]\nbackend = "{BACKEND}"\n'
        f'[milvus]\nuri = "{uri}"\ncollection_prefix = "{prefix}"\ntimeout_seconds = 600\n',
        encoding="utf-8",
    )
    return path


def _build(config: Path) -> dict[str, float]:
    """A real ``citebot index build`` in a fresh process: its summary, seconds and peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _BUILD, str(config)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=False)
    # The whole command, start to exit: Milvus Lite in a file finishes writing as it exits.
    process = time.perf_counter() - started
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        sys.exit(f"build failed ({config}):\n{out.stderr[-2000:]}")
    figures = json.loads(lines[-1])
    if figures["code"] != 0:
        sys.exit(f"build failed ({config}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    summary = json.loads("\n".join(lines[:-1]))
    return {**figures, "process": process, "paragraphs": summary["paragraphs"],
            "embedded": summary["embedded"], "embedded_sentences": summary["embedded_sentences"]}


def _inputs(args: argparse.Namespace, work: Path) -> tuple[Path, Path, list[tuple[str, tuple]]]:
    """The articles, a folder whose cache holds all their vectors, and the questions."""
    articles, seed = work / "articles", work / "seed"
    if args.synthetic:
        if not (seed / "cache").exists():
            sentences = read_sentences(args.corpus)[: args.pool]
            write_corpus(articles, args.synthetic, sentences, args.seed)
            count = prefill(seed, articles, BACKEND, args.seed)
            print(f"{args.synthetic:,} synthetic paragraphs from {len(sentences):,} real "
                  f"sentences; cache pre-filled with {count:,} vectors", flush=True)
        spread = read_questions(args.questions, args.limit or 1_000)
        return articles, seed, [(q, ("", -1)) for q in spread]
    ids = _slice(args.corpus, args.paragraphs, articles)
    questions = [(q, gold) for q, gold in load_questions(args.questions) if gold[0] in ids]
    if not (seed / "cache").exists():
        shutil.rmtree(seed, ignore_errors=True)
        full = _build(_config(seed, articles, "faiss", ""))
        print(f"embedding (a full FAISS build, model included): {full['seconds']:.1f} s, "
              f"{full['paragraphs'] / full['seconds']:.1f} paragraphs/s ({full['embedded']:,} "
              f"paragraphs and {full['embedded_sentences']:,} sentences embedded)", flush=True)
    return articles, seed, questions[: args.limit] if args.limit else questions


def _search(settings_path: Path, embedder: Embedder, questions: list, vectors: list
            ) -> tuple[list[float], float | None]:
    """Retrieval milliseconds per question, and R@1 when the questions have gold answers."""
    kb = open_knowledge_base(load_settings(settings_path).knowledge_base, embedder)
    if questions:  # the first query pays for loading (FAISS files, Milvus collections)
        kb.search(questions[0][0], 1, vector=vectors[0])
    hits, times = 0, []
    for (question, gold), vector in zip(questions, vectors, strict=True):
        started = time.perf_counter()
        found = kb.search(question, 1, vector=vector)
        times.append((time.perf_counter() - started) * 1000)
        hits += bool(found) and (found[0].ref.article_id, found[0].ref.number) == gold
    graded = questions and questions[0][1][1] >= 0
    return times, hits / len(questions) if graded else None


def main() -> None:
    """Build with both engines, search the same questions, print one row per engine."""
    args = _arguments()
    work = args.work or Path(tempfile.mkdtemp(prefix="citebot-engines-"))
    articles, seed, questions = _inputs(args, work)
    embedder = Embedder.from_settings(load_settings(_config(seed, articles, "faiss", ""))
                                      .knowledge_base.embedding)
    vectors = list(embedder.embed_queries([q for q, _gold in questions]))
    print(f"{len(questions)} questions; embedding backend {embedder.backend}; build times "
          "exclude embedding (every vector is in the cache), retrieval excludes the query's")
    print("engine  paragraphs  build s  paragraphs/s  process s  peak RSS MB  disk MB  R@1     "
          "queries  p50 ms  p95 ms", flush=True)
    for engine in ("faiss", "milvus"):
        root = work / engine
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(seed / "cache", root / "cache")
        config = _config(root, articles, engine, args.milvus_uri if engine == "milvus" else "")
        built = _build(config)
        if built["embedded"] or built["embedded_sentences"]:
            sys.exit(f"{engine}: texts were embedded; the cache did not hold every vector")
        index_files = root / ("generations" if engine == "faiss" else "milvus.db")
        disk = directory_size(index_files) / 1e6 if index_files.exists() else float("nan")
        limit = args.milvus_limit if engine == "milvus" and args.milvus_limit else len(questions)
        times, r1 = _search(config, embedder, questions[:limit], vectors[:limit])
        print(f"{engine:<7} {built['paragraphs']:>10,}  {built['seconds']:7.1f}  "
              f"{built['paragraphs'] / built['seconds']:12.1f}  {built['process']:9.1f}  "
              f"{built['hwm_kb'] / 1024:11.0f}  "
              f"{disk:7.0f}  {'—' if r1 is None else f'{r1:.4f}':<6}  {len(times):>7}  "
              f"{percentile(times, 0.5):6.1f}  {percentile(times, 0.95):6.1f}", flush=True)


if __name__ == "__main__":
    main()
