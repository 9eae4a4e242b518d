"""Kill -9 a real ``citebot index build`` at random times and check the index recovers every time.

Usage: python benchmarks/kill_build.py CORPUS... [--trials 30] [--config FILE] [--seed-cache FILE]

Each trial adds a new article with text never embedded before (so every build has embedding to
do), starts ``citebot index build`` or ``rebuild`` as a subprocess and SIGKILLs it after a random
delay between 0 and the length of an uninterrupted build; every third trial instead waits for
the build's temporary generation folder to appear and kills it while the generation is being
written, verified or switched. Then it checks that

1. the generation named by CURRENT opens and gives the same hits as the generation served
   before the trial (or, when the kill came after the switch, as a fresh build of the new
   files), scores equal within 1e-4 (the search runs in this process, the builds in others);
2. the next ``citebot index build`` succeeds, removes every temporary file the killed one left
   behind, and its answers equal those of a fresh build of the same files (built in-process
   into a separate folder, from the embedding cache as it was before any kill).

It prints one line per trial and a summary: trials, killed mid-build, recovered, stale
temporaries found and cleaned. ``--seed-cache`` copies an existing embedding cache (same model
and backend) into the new index so the first build does not embed the whole corpus.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import load_settings  # noqa: E402
from index import Embedder, KnowledgeBaseSettings, build_index, open_knowledge_base  # noqa: E402
from index.store_layout import CACHE_PATH, generations_dir, read_current  # noqa: E402

QUERIES = (
    "when was the university founded",
    "who won the championship game",
    "what causes the disease",
    "how many people live in the city",
    "which river flows through the capital",
    "what did the field survey find",  # the article each trial adds or replaces
)
WORDS = (
    "amber basalt cedar delta ember fjord granite harbor iris juniper kelp lagoon meadow nickel "
    "orchid prairie quartz reef saffron tundra umber valley willow xenon yarrow zephyr"
).split()
SCORE_TOLERANCE = 1e-4


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SIGKILL index builds at random times.")
    parser.add_argument("corpus", nargs="+", type=Path, help="files or folders to index")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, help="citebot config (e.g. to pin the backend)")
    parser.add_argument("--index", type=Path, help="index folder (default: a temporary folder)")
    parser.add_argument("--seed-cache", type=Path, help="embedding cache to start from")
    parser.add_argument("--paragraphs", type=int, default=30,
                        help="paragraphs of the new article each trial adds (default 30)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per build (default 1)")
    return parser.parse_args()


def _extra_article(folder: Path, trial: int, paragraphs: int, rng: random.Random) -> Path:
    """A JSON Lines article whose text is new in every trial (nothing of it is cached)."""
    texts = []
    for number in range(paragraphs):
        sentences = [
            f"In trial {trial} the {rng.choice(WORDS)} survey {number} found "
            + " ".join(rng.choice(WORDS) for _ in range(12)) + "."
            for _ in range(3)
        ]
        texts.append(" ".join(sentences))
    for old in folder.glob("trial-*.jsonl"):
        old.unlink()
    path = folder / f"trial-{trial}.jsonl"
    record = {"id": f"trial-{trial}", "title": f"Field survey {trial}", "paragraphs": texts}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def _answers(settings: KnowledgeBaseSettings, embedder: Embedder) -> list[Any]:
    kb = open_knowledge_base(settings, embedder)
    return [
        [(h.ref.article_id, h.ref.number, h.ref.text, h.score) for h in kb.search(q, 5)]
        for q in QUERIES
    ]


def _same(a: list[Any], b: list[Any]) -> bool:
    """Same hits in the same order with scores equal up to float noise between processes."""
    if len(a) != len(b):
        return False
    for hits_a, hits_b in zip(a, b, strict=True):
        if [h[:3] for h in hits_a] != [h[:3] for h in hits_b]:
            return False
        if any(abs(x[3] - y[3]) > SCORE_TOLERANCE for x, y in zip(hits_a, hits_b, strict=True)):
            return False
    return True


def _leftovers(root: Path) -> list[str]:
    found = [p.name for p in generations_dir(root).glob(".tmp-*")]
    return found + [p.name for p in root.glob("CURRENT.tmp-*")]


def _command(kind: str, root: Path, config: Path | None, paths: list[Path]) -> list[str]:
    command = [sys.executable, "-m", "bot.cli", "index", kind, "--json", "--index", str(root)]
    if config is not None:
        command += ["--config", str(config)]
    return command + [str(p) for p in paths]


def _environment(threads: int) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


def _run(command: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return done.returncode, time.monotonic() - started, done.stderr.strip()[-300:]


def _fresh_answers(
    settings: KnowledgeBaseSettings, paths: list[Path], cache: Path, scratch: Path,
    embedder: Embedder,
) -> list[Any]:
    """Answers of a fresh build of ``paths`` in its own folder (cache from before any kill)."""
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / CACHE_PATH).parent.mkdir(parents=True)
    shutil.copyfile(cache, scratch / CACHE_PATH)
    where = dataclasses.replace(settings.index, path=str(scratch))
    fresh = dataclasses.replace(settings, index=where)
    build_index(fresh, [str(p) for p in paths], embedder=embedder)
    return _answers(fresh, embedder)


def main() -> int:
    """Run the trials and print the figures."""
    args = _arguments()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="citebot-kill-"))
    root = args.index or work / "index"
    settings = load_settings(args.config).with_index_path(str(root)).knowledge_base
    embedder = Embedder.from_settings(settings.embedding)
    env = _environment(args.threads)
    extra_folder = work / "extra"
    extra_folder.mkdir()
    if args.seed_cache:
        (root / CACHE_PATH).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.seed_cache, root / CACHE_PATH)

    paths = [*args.corpus, _extra_article(extra_folder, 0, args.paragraphs, rng)]
    code, seconds, err = _run(_command("build", root, args.config, paths), env)
    if code != 0:
        print(f"the first build failed: {err}", file=sys.stderr)
        return 1
    # One uninterrupted build (model load, reading, embedding the new article, writing).
    paths = [*args.corpus, _extra_article(extra_folder, 1, args.paragraphs, rng)]
    code, span, err = _run(_command("build", root, args.config, paths), env)
    if code != 0:
        print(f"the calibration build failed: {err}", file=sys.stderr)
        return 1
    pristine_cache = work / "pristine-embeddings.sqlite"
    shutil.copyfile(root / CACHE_PATH, pristine_cache)
    serving, before = read_current(root), _answers(settings, embedder)
    print(f"corpus {', '.join(map(str, args.corpus))}: first build {seconds:.1f} s, "
          f"an incremental build with {args.paragraphs} new paragraphs {span:.1f} s")
    print(f"{'trial':>5} {'command':<8} {'aim':<8} {'kill at':>8} {'ended':<9} "
          f"{'state found after the kill':<34} {'stale':>5} {'recovered':>9}")

    killed = recovered = stale_found = stale_cleaned = switched = 0
    writing = 2.0  # seconds from the temporary folder's appearance to the switch; measured below
    started = time.monotonic()
    for trial in range(2, args.trials + 2):
        paths = [*args.corpus, _extra_article(extra_folder, trial, args.paragraphs, rng)]
        kind = rng.choice(("build", "rebuild"))
        launched = time.monotonic()
        process = subprocess.Popen(_command(kind, root, args.config, paths), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        if trial % 3 == 0:
            # Aim at the short stretch when the new generation is on disk but not yet served:
            # wait for its temporary folder, then kill within the time writing usually takes.
            when = "writing"
            while process.poll() is None and not _leftovers(root):
                time.sleep(0.005)
            delay = rng.uniform(0.0, writing)
            seen = time.monotonic() if process.poll() is None else None
        else:
            when = "anytime"
            delay = max(0.0, span * rng.uniform(0.0, 1.0) - (time.monotonic() - launched))
            seen = None
        try:
            process.wait(timeout=delay)
            was_killed = False
            if seen is not None:
                writing = max(0.2, time.monotonic() - seen)
            elif when == "anytime":  # builds get quicker once the page cache is warm
                span = min(span, time.monotonic() - launched)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            was_killed = True
        delay = time.monotonic() - launched
        killed += was_killed

        current = read_current(root)
        after_kill = _answers(settings, embedder)
        stale = _leftovers(root)
        stale_found += bool(stale)
        if current == serving:
            state = "previous generation serving"
            kill_ok = _same(after_kill, before)
        else:
            state = "new generation serving (switched)"
            switched += 1
            kill_ok = None  # compared with the fresh build below
        if stale:
            state += " + temps"
        if when == "writing" and was_killed:
            # Writing takes about a second: aim earlier after a kill that came after the switch.
            writing = writing * 0.6 if current != serving else min(writing * 1.2, span)

        code, _seconds, err = _run(_command("build", root, args.config, paths), env)
        left = _leftovers(root)
        stale_cleaned += bool(stale) and not left
        expected = _fresh_answers(settings, paths, pristine_cache, work / "fresh", embedder)
        got = _answers(settings, embedder)
        if kill_ok is None:
            kill_ok = _same(after_kill, expected)
        ok = code == 0 and not left and kill_ok and _same(got, expected)
        recovered += ok
        ended = "killed" if was_killed else "finished"
        print(f"{trial - 1:>5} {kind:<8} {when:<8} {delay:>7.1f}s {ended:<9} {state:<34} "
              f"{len(stale):>5} "
              f"{'yes' if ok else 'NO':>9}" + ("" if code == 0 else f"  ({err})"), flush=True)
        serving, before = read_current(root), got

    trials = args.trials
    print(
        f"\ntrials {trials}, killed mid-build {killed}, found switched {switched}, "
        f"recovered {recovered}/{trials}, "
        f"stale temporaries found {stale_found}, cleaned {stale_cleaned}/{stale_found} "
        f"({time.monotonic() - started:.0f} s)"
    )
    if args.index is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if recovered == trials else 1


if __name__ == "__main__":
    raise SystemExit(main())
