"""What hostile inputs cost: the sentence splitter, loading and cutting, and the memory they take.

Usage: python benchmarks/hostile_inputs.py [--big-mb 50] [--runs 3]

Times the sentence splitter on pathological texts (long runs without a break, many quotations,
short lines; it must stay linear), loading a corpus of bad files next to a ``--big-mb`` MB log
(judged by its size, never read), cutting 100,000-character paragraphs by tokens, and prints the
peak resident memory that reading the corpus adds (measured in a forked child). The tests check
what these inputs give (tests/test_sentences.py, tests/test_hostile_corpus.py), never how fast.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index import Embedder  # noqa: E402
from index.ingest import read_articles  # noqa: E402
from index.load import load_paths  # noqa: E402
from index.sentences import sentence_spans  # noqa: E402
from index.settings import IndexSettings, SplitSettings  # noqa: E402

SPLITTER_INPUTS = {
    "50,000 words, no full stop": "word " * 50_000,
    "200,000 characters, no space": "x" * 200_000,
    "200,000 full stops": "." * 200_000 + " Next",
    "20,000 short sentences": "It works. " * 20_000,
    "5,000 quotations": '"It works." ' * 5_000,
    "2,500 curly quotations": "“It works.” Smith said. " * 2_500,
    "5,000 unclosed quotations": 'He said "no. ' * 5_000,
    "10,000 heading lines": "Heading\n" * 10_000,
}


def _median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _hostile_corpus(folder: Path, big_mb: int) -> Path:
    """The static hostile fixtures, a big log, a FIFO and /dev/zero behind an article name."""
    corpus = folder / "corpus"
    shutil.copytree(REPO / "tests" / "fixtures" / "hostile", corpus)
    paragraph = "The committee met again on Tuesday and discussed the budget at length. " * 8
    block = ((paragraph + "\n\n") * 200).encode("utf-8")
    with open(corpus / "server-log.txt", "wb") as handle:
        handle.write(b"A very long log\n\n")
        while handle.tell() < big_mb * 1024 * 1024:
            handle.write(block)
    os.mkfifo(corpus / "pipe.txt")
    os.symlink("/dev/zero", corpus / "zero.txt")
    return corpus


def _run_on_paragraphs(folder: Path) -> Path:
    """A 100,000-character paragraph of words, and one 100,000-character "word"."""
    folder.mkdir()
    words = " ".join(f"token{i % 977}" for i in range(12_000))[:100_000]
    (folder / "run-on.txt").write_text("Run on\n\n" + words, encoding="utf-8")
    (folder / "blob.md").write_text("# Blob\n\n" + "QUJD" * 25_000, encoding="utf-8")
    return folder


def _peak_growth_mb(work: Callable[[], object]) -> float:
    """Peak resident memory ``work`` adds, in a forked child so earlier peaks do not count."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it never returns, whatever ``work`` does
        code = 1
        try:
            os.close(read_end)
            with open("/proc/self/status", encoding="ascii") as status:
                rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
            work()
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            os.write(write_end, json.dumps((peak_kb - rss_kb) / 1024).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return float(json.loads(data))


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=int, default=50, help="size of the big log (MB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per timing (median)")
    args = parser.parse_args(argv)

    print(f"{'sentence splitter':<40} {'median s':>10}")
    for name, text in SPLITTER_INPUTS.items():
        seconds = _median_seconds(lambda text=text: sentence_spans(text), args.runs)
        print(f"{'  ' + name:<40} {seconds:>10.3f}")

    embedder = Embedder()
    max_mb = IndexSettings().max_file_mb
    with tempfile.TemporaryDirectory(prefix="citebot-hostile-") as tmp:
        corpus = _hostile_corpus(Path(tmp), args.big_mb)
        run_on = _run_on_paragraphs(Path(tmp) / "run-on")
        load = _median_seconds(lambda: load_paths([corpus], max_file_mb=max_mb), args.runs)
        cut = _median_seconds(
            lambda: read_articles([run_on], SplitSettings(), embedder.count_tokens,
                                  embedder.max_tokens),
            args.runs,
        )
        growth = _peak_growth_mb(
            lambda: read_articles([corpus], SplitSettings(), embedder.count_tokens,
                                  embedder.max_tokens, max_file_mb=max_mb)
        )
    print(f"{'loading the hostile corpus (s)':<40} {load:>10.3f}")
    print(f"{'cutting 2 × 100,000 characters (s)':<40} {cut:>10.3f}")
    print(f"{'peak memory reading the corpus (MB)':<40} {growth:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
