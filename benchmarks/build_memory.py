"""Peak memory and time of a real full build of a large corpus, with the old generation serving.

    python benchmarks/build_memory.py CORPUS --paragraphs 1000000 [--work DIR] [--code DIR]

What runs:
  1. A synthetic corpus of ``--paragraphs`` paragraphs is written as JSON Lines files (articles
     of 20 paragraphs, each paragraph 3 to 7 real sentences of CORPUS drawn at random, as in
     ``benchmarks/scale.py``).
  2. The embedding cache is pre-filled, so the build measures the build and not the model: the
     corpus is read with citebot's own loader and splitter, and every paragraph and sentence
     the build will look up gets a vector (a seeded random unit vector per distinct sentence; a
     paragraph's is the normalized mean of its sentences'). No text is embedded by the model.
  3. ``citebot index rebuild`` equivalent (``build_index(rebuild=True)``) runs twice in fresh
     processes: the first makes the generation that serves; during the second a reader process
     keeps searching that generation (vector and BM25 searches, one every 50 ms) and reports
     how many searches ran and failed. Each build reports its peak RSS (VmHWM: the whole
     process, memory-mapped pages included) and time, and the peak RSS and time of each phase
     (a thread samples VmRSS every 50 ms; the phase is the innermost build step running).
     ``--first-paragraphs M`` makes the serving generation of the first M paragraphs only, and
     ``--reuse-serving`` keeps the one an earlier run left, to save a full build at 1M.

``--code DIR`` runs the builds with another checkout's ``index`` package (e.g. the code before
a change), everything else unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ARTICLE_SIZE = 20
FILE_ARTICLES = 5000


def write_corpus(folder: Path, paragraphs: int, sentences: list[str], seed: int) -> None:
    """Write ``paragraphs`` synthetic paragraphs as JSON Lines files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, 8, paragraphs)
    picks = rng.integers(0, len(sentences), int(counts.sum()))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    handle = None
    for article, first in enumerate(range(0, paragraphs, ARTICLE_SIZE)):
        if article % FILE_ARTICLES == 0:
            if handle is not None:
                handle.close()
            handle = open(folder / f"part-{article // FILE_ARTICLES:04d}.jsonl", "w",
                          encoding="utf-8")
        texts = [" ".join(sentences[s] for s in picks[bounds[p] : bounds[p + 1]])
                 for p in range(first, min(paragraphs, first + ARTICLE_SIZE))]
        record = {"id": f"synthetic-{article}", "title": f"Synthetic article {article}",
                  "paragraphs": texts}
        assert handle is not None
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    if handle is not None:
        handle.close()


def prefill(root: Path, corpus: Path, backend: str, seed: int) -> int:
    """Put a vector for every text the build will look up into the index's cache; the count."""
    from index.embed import Embedder, passage_input
    from index.embedding_cache import EmbeddingCache, text_key
    from index.ingest import read_articles
    from index.settings import EmbeddingSettings, SplitSettings
    from index.store_layout import CACHE_PATH

    embedder = Embedder.from_settings(EmbeddingSettings(backend=backend))
    split = SplitSettings()
    articles, _ = read_articles([str(corpus)], split, embedder.count_tokens,
                                split.max_tokens or embedder.max_tokens, max_file_mb=0)
    cache = EmbeddingCache(root / CACHE_PATH, embedder.model_id, embedder.passage_input_version,
                           embedder.dimensions, backend=embedder.backend)
    rng = np.random.default_rng(seed)
    sentence_vectors: dict[bytes, np.ndarray] = {}
    from index.embed import sentence_cache_text
    from index.sentences import sentence_spans

    prefix, mode = embedder.passage_prefix, embedder.sentence_vectors
    keys: list[bytes] = []
    rows: list[np.ndarray] = []
    written = 0

    def vector_of(text: str) -> np.ndarray:
        key = text_key(prefix + passage_input(text))
        if key not in sentence_vectors:
            v = rng.normal(size=embedder.dimensions).astype(np.float32)
            sentence_vectors[key] = v / np.linalg.norm(v)
            if mode == "alone":  # the build looks a sentence up by its text alone
                keys.append(key)
                rows.append(sentence_vectors[key])
        return sentence_vectors[key]

    for article in articles:
        for p in article.paragraphs:
            spans = sentence_spans(p.text)
            parts = [vector_of(p.text[a:b]) for a, b in spans] or [vector_of(p.text)]
            if mode != "alone":  # pooled in context: a key per paragraph and span
                keys += [text_key(sentence_cache_text(prefix, p.text, span, mode))
                         for span in spans]
                rows += parts[: len(spans)]
            mean = np.mean(parts, axis=0)
            keys.append(text_key(prefix + passage_input(p.text)))
            rows.append((mean / np.linalg.norm(mean)).astype(np.float32))
        if len(keys) >= 20_000:
            cache.put_many(keys, np.stack(rows))
            written += len(keys)
            keys, rows = [], []
    if keys:
        cache.put_many(keys, np.stack(rows))
        written += len(keys)
    cache.close()
    return written


_BUILD = """
import importlib, json, sys, threading, time
from pathlib import Path
from index.build import build_index
from index.settings import EmbeddingSettings, IndexSettings, KnowledgeBaseSettings
root, corpus, backend, keep_cache = sys.argv[1:5]
if keep_cache == "1":
    # A first generation of part of the corpus must not prune the rest of the pre-filled cache.
    import index.build
    index.build._prune_cache = lambda root: (0, 0)
settings = KnowledgeBaseSettings(index=IndexSettings(path=root, sources=(corpus,), max_file_mb=0),
                                 embedding=EmbeddingSettings(backend=backend))

# Peak RSS per phase: a thread samples VmRSS; the phase is the innermost wrapped call running.
stack, peaks, seconds_in = ["start"], {}, {}
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
def sample():
    while True:
        peaks[stack[-1]] = max(peaks.get(stack[-1], 0), rss_mb())
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
def wrap(module, name, phase):
    owner_name, _, klass = module.partition(":")
    try:
        owner = importlib.import_module(owner_name)
        owner = getattr(owner, klass) if klass else owner
        original = getattr(owner, name)
    except (ImportError, AttributeError):  # another checkout (--code) may lack it
        return
    def wrapped(*args, **kwargs):
        stack.append(phase)
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds_in[phase] = seconds_in.get(phase, 0) + time.perf_counter() - began
            peaks[phase] = max(peaks.get(phase, 0), rss_mb())
            stack.pop()
    setattr(owner, name, staticmethod(wrapped) if klass else wrapped)
for module, name, phase in [
    # Since articles stream, loading happens inside planning ("plan" = load + plan there).
    ("index.ingest", "read_articles", "load"), ("index.build", "_plan", "plan"),
    ("index.build", "plan_build", "plan"), ("index.build", "_embed", "vectors"),
    ("index.store", "estimate_generation_bytes", "estimate"),
    ("index.store_writer", "_write_meta", "sqlite"),
    ("index.store_writer", "write_table", "tables"),
    ("index.store_writer", "_write_search_index", "faiss"),
    ("index.bm25:LexicalIndex", "build", "bm25"), ("index.bm25_build", "write_lexical", "bm25"),
    ("index.store_writer", "file_checksum", "checksums"),
    ("index.store:Generation", "open", "read-back"),
]:
    wrap(module, name, phase)
t = time.perf_counter()
summary = build_index(settings, rebuild=True)
seconds = time.perf_counter() - t
status = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines())
print(json.dumps({"seconds": seconds, "hwm_kb": int(status["VmHWM"].split()[0]),
                  "paragraphs": summary.paragraphs, "embedded": summary.embedded,
                  "embedded_sentences": summary.embedded_sentences,
                  "phase_peak_mb": peaks,
                  "phase_seconds": {k: round(v, 1) for k, v in seconds_in.items()}}))
"""

_READER = """
import sys, time
from pathlib import Path
import numpy as np
from index.store_reader import open_generation
root, stop = Path(sys.argv[1]), Path(sys.argv[2])
generation = open_generation(root)
rng = np.random.default_rng(1)
done = failed = 0
words = ["river", "king", "war", "science", "music", "city", "university", "energy"]
while not stop.exists():
    try:
        q = rng.normal(size=generation.paragraph_index.d).astype(np.float32)
        generation.paragraph_index.search(q[None, :] / np.linalg.norm(q), 40)
        generation.lexical.search(" ".join(rng.choice(words, 3)), 40)
        done += 1
    except Exception as exc:
        failed += 1
        print(repr(exc), file=sys.stderr)
    time.sleep(0.05)
print(done, failed)
"""


def run_build(
    code: Path, root: Path, corpus: Path, backend: str, keep_cache: bool = False
) -> dict[str, object]:
    """One full build in a fresh process running ``code``'s packages; its figures."""
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _BUILD, str(root), str(corpus), backend,
                          "1" if keep_cache else "0"],
                         env=env, capture_output=True, text=True, cwd=code)
    if out.returncode:
        raise SystemExit(f"the build failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["embedded"] or figures["embedded_sentences"]:
        print(f"warning: the build embedded {figures['embedded']} + "
              f"{figures['embedded_sentences']} texts: the cache was not fully pre-filled, so "
              "the model is measured too", flush=True)
    return figures


def main() -> int:
    """Make the corpus and cache, run the two builds and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpus", type=Path, help="JSON Lines {id, title, paragraphs}: sentences")
    parser.add_argument("--paragraphs", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=20_000, help="real sentences drawn from")
    parser.add_argument("--work", type=Path, help="folder for corpus and index (default: temp)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose build runs")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--first-paragraphs", type=int, default=0,
                        help="make the serving generation of only the corpus files holding the "
                             "first N paragraphs (default: all of them), to save a full build")
    parser.add_argument("--reuse-serving", action="store_true",
                        help="keep the generation an earlier run left serving instead of the "
                             "first build")
    parser.add_argument("--once", action="store_true",
                        help="only the first build (no serving generation during it)")
    args = parser.parse_args()
    from benchmarks.scale import read_sentences

    work = args.work or Path(tempfile.mkdtemp(prefix="citebot-build-memory-"))
    corpus, root = work / "corpus", work / "index"
    if not corpus.exists():
        sentences = read_sentences(args.corpus)[: args.pool]
        t = time.perf_counter()
        write_corpus(corpus, args.paragraphs, sentences, args.seed)
        print(f"corpus: {args.paragraphs:,} paragraphs from {len(sentences):,} real sentences "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
        t = time.perf_counter()
        count = prefill(root, corpus, args.backend, args.seed)
        print(f"cache pre-filled with {count:,} vectors ({time.perf_counter() - t:.0f} s)",
              flush=True)
    first_source = corpus
    if args.first_paragraphs:
        per_file = ARTICLE_SIZE * FILE_ARTICLES
        first_source = work / "first-corpus"
        first_source.mkdir(exist_ok=True)
        for part in sorted(corpus.glob("*.jsonl"))[: -(-args.first_paragraphs // per_file)]:
            if not (first_source / part.name).exists():
                os.link(part, first_source / part.name)  # same files, no copy
    if args.reuse_serving and (root / "CURRENT").exists():
        first = {"reused": (root / "CURRENT").read_text().strip()}
    else:
        first = run_build(args.code, root, first_source, args.backend,
                          keep_cache=first_source != corpus)
    print(f"first build (code {args.code.name}): {json.dumps(first)}", flush=True)
    if args.once:
        return 0
    stop = work / "stop-reader"
    stop.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(args.code)}
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(root), str(stop)], env=env,
                              stdout=subprocess.PIPE, text=True, cwd=args.code)
    time.sleep(2)
    second = run_build(args.code, root, corpus, args.backend)
    stop.touch()
    served, failed = reader.communicate()[0].split()
    print(f"second build, previous generation serving: {json.dumps(second)}; "
          f"reader meanwhile: {served} searches, {failed} failed")
    print(f"peak RSS {second['hwm_kb'] / 1024:.0f} MB, {second['seconds']:.0f} s for "
          f"{second['paragraphs']:,} paragraphs (texts embedded: {second['embedded']} + "
          f"{second['embedded_sentences']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
