"""Cold start of ``citebot ask`` per embedding backend: a fresh process, question to answer.

Usage: python benchmarks/cold_start.py [--backends torch,onnx,onnx-int8] [--runs N]
       [--articles DIR] [--question TEXT] [--queries QUESTIONS.jsonl [--query-count N]]

For each backend the script builds an index of the bundled sample articles (examples/articles)
in a temporary folder (which also makes the ONNX export, so the export cache is warm), then
times ``python -m bot.cli ask QUESTION`` from process start to exit, ``--runs`` times, and
prints the median next to the import time of the CLI module alone. With ``--queries`` (JSON
Lines with a "question" field, e.g. the SQuAD v1.1 dev questions) it also times embedding one
question at a time in a warm process, per backend: the median over the first ``--query-count``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnx", "onnx-int8")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time a fresh `citebot ask` process per embedding backend."
    )
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated backends (default {','.join(BACKENDS)})")
    parser.add_argument("--runs", type=int, default=5, help="runs per backend; median (default 5)")
    parser.add_argument("--articles", type=Path, default=REPO / "examples" / "articles",
                        help="articles to index (default: the bundled examples/articles)")
    parser.add_argument("--question", default="When was the Rosetta Stone found?",
                        help="the question asked")
    parser.add_argument("--queries", type=Path,
                        help="JSON Lines questions: also time one-question query embedding")
    parser.add_argument("--query-count", type=int, default=100,
                        help="questions timed with --queries (default 100)")
    parser.add_argument("--cache-dir", default="",
                        help="ONNX export cache (default: citebot's, ~/.cache/citebot)")
    return parser.parse_args()


def _wall(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed: {done.stderr.strip()}")
    return seconds, done.stdout


def _query_embedding_ms(backend: str, questions: list[str], cache_dir: str) -> float:
    """Median milliseconds to embed one question, in a process whose model is loaded."""
    from index import Embedder, EmbeddingSettings

    embedder = Embedder.from_settings(EmbeddingSettings(backend=backend, cache_dir=cache_dir))
    embedder.embed_queries(questions[:5])  # loads the model and warms the session
    times = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_queries([question])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    """Build the indexes, time the processes, print the table."""
    args = _arguments()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cli = [sys.executable, "-m", "bot.cli"]
    imports = [_wall([sys.executable, "-c", "import bot.cli, bot.cli_answer"], env)[0]
               for _ in range(args.runs)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="citebot-cold-") as scratch:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            config = Path(scratch) / f"{backend}.toml"
            cache = f'cache_dir = "{args.cache_dir}"\n' if args.cache_dir else ""
            config.write_text(
                f'[index]\npath = "index-{backend}"\nsources = ["{args.articles}"]\n'
                f'[embedding]\nbackend = "{backend}"\n{cache}',
                encoding="utf-8",
            )
            print(f"... {backend}: building the index", file=sys.stderr, flush=True)
            _wall([*cli, "--config", str(config), "index", "build"], env)
            times = []
            for run in range(args.runs):
                print(f"... {backend}: ask ({run + 1}/{args.runs})", file=sys.stderr, flush=True)
                seconds, answer = _wall([*cli, "--config", str(config), "ask", args.question], env)
                times.append(seconds)
            rows.append((backend, statistics.median(times), min(times), max(times), answer))
    print(f"question: {args.question!r}; {args.runs} runs per backend; warm export cache")
    print()
    print("| process | median s | min s | max s |")
    print("|---|---:|---:|---:|")
    print(f"| import bot.cli + bot.cli_answer | {statistics.median(imports):.2f} | "
          f"{min(imports):.2f} | {max(imports):.2f} |")
    for backend, median, low, high, _answer in rows:
        print(f"| citebot ask, backend {backend} | {median:.2f} | {low:.2f} | {high:.2f} |")
    if args.queries:
        sys.path.insert(0, str(REPO))  # only this part imports citebot into this process
        lines = args.queries.read_text(encoding="utf-8").splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()]
        questions = questions[: args.query_count]
        print()
        print(f"query embedding, one question at a time, median of {len(questions)} "
              f"({args.queries.name}):")
        for backend, *_rest in rows:
            ms = _query_embedding_ms(backend, questions, args.cache_dir)
            print(f"  {backend}: {ms:.1f} ms")
    answers = {answer for *_rest, answer in rows}
    print()
    print("same answer text from every backend" if len(answers) == 1
          else "answers differ between backends:\n" + "\n---\n".join(sorted(answers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
