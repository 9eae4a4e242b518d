"""What integrity costs: checksums in a build, `citebot index verify` per GB, cache pruning.

Usage: python benchmarks/integrity.py CORPUS.jsonl [--articles N] [--repeats N]

CORPUS is a JSON Lines file of ``{"id", "title", "paragraphs": [...]}`` records (for example the
SQuAD v1.1 dev corpus). The script builds it once (embedding, not measured), then:

1. times ``rebuild`` with every text cached (the build minus the model), with and without the
   checksums (``file_checksum`` replaced by a no-op), so the difference is what they cost;
2. times ``verify_index`` over the kept generations (files in the page cache, as right after a
   build; a cold read adds the disk's own read time) and prints seconds per GB;
3. compares the disk-space estimate with the generation actually written;
4. rebuilds with half the articles twice (the full generation is pruned), so the automatic cache
   pruning after a rebuild drops their embeddings, and prints what it removed and saved; then
   runs ``collect_garbage`` (nothing left to remove).
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

import index.store_writer  # noqa: E402
from index import (  # noqa: E402
    Embedder,
    IndexSettings,
    KnowledgeBaseSettings,
    build_index,
    collect_garbage,
    verify_index,
)
from index.store_layout import directory_size, generations_dir, read_current  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="JSON Lines corpus: {id, title, paragraphs}")
    parser.add_argument("--articles", type=int, default=0, help="first N articles (default all)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing; medians")
    return parser.parse_args()


def _write_corpus(records: list[dict[str, object]], folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return folder


def _median_seconds(action: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _estimate_check(settings: KnowledgeBaseSettings, embedder: Embedder) -> tuple[int, int]:
    """(estimate, actual) bytes of the serving generation."""
    from index.store import DiskStore

    root = Path(settings.index.path)
    store = DiskStore(root)
    captured: dict[str, int] = {}
    original = index.store.estimate_generation_bytes  # type: ignore[attr-defined]

    def spy(articles: object, dimensions: int, approximate_above: int) -> int:
        captured["estimate"] = original(articles, dimensions, approximate_above)
        return captured["estimate"]

    index.store.estimate_generation_bytes = spy  # type: ignore[attr-defined]
    try:
        build_index(settings, rebuild=True, embedder=embedder)
    finally:
        index.store.estimate_generation_bytes = original  # type: ignore[attr-defined]
    actual = directory_size(generations_dir(root) / store.serving())
    return captured["estimate"], actual


def main() -> None:
    args = _arguments()
    lines = args.corpus.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    if args.articles:
        records = records[: args.articles]
    embedder = Embedder()
    with tempfile.TemporaryDirectory() as top:
        full = _write_corpus(records, Path(top) / "full")
        half = _write_corpus(records[::2], Path(top) / "half")
        root = Path(top) / "index"
        settings = KnowledgeBaseSettings(index=IndexSettings(path=str(root), sources=(str(full),)))
        summary = build_index(settings, embedder=embedder)
        print(f"corpus: {summary.articles} articles, {summary.paragraphs} paragraphs; "
              f"first build {summary.seconds:.1f} s (embedding included, not measured below)")

        def rebuild() -> None:
            build_index(settings, rebuild=True, embedder=embedder)

        with_sums = _median_seconds(rebuild, args.repeats)
        real = index.store_writer.file_checksum
        index.store_writer.file_checksum = lambda path, *a, **k: ""  # type: ignore[assignment]
        try:
            without = _median_seconds(rebuild, args.repeats)
        finally:
            index.store_writer.file_checksum = real
        generation = generations_dir(root) / read_current(root)
        size = directory_size(generation)
        hashing = _median_seconds(
            lambda: [real(p) for p in generation.rglob("*") if p.is_file()], args.repeats)
        print(f"generation: {size / 1e6:.1f} MB")
        print(f"cached rebuild: {with_sums:.2f} s with checksums, {without:.2f} s without "
              f"({(with_sums - without) / without * 100:+.1f} %); hashing its files alone "
              f"{hashing * 1000:.0f} ms ({size / hashing / 1e9:.2f} GB/s, "
              f"{hashing / with_sums * 100:.1f} % of the cached rebuild)")

        report = verify_index(settings)
        verify = _median_seconds(lambda: verify_index(settings), args.repeats)
        gb = report.size_bytes / 1e9
        print(f"verify: {len(report.generations)} generations, {report.size_bytes / 1e6:.1f} MB "
              f"in {verify:.3f} s = {verify / gb:.2f} s per GB (page cache warm)")

        estimate, actual = _estimate_check(settings, embedder)
        print(f"space estimate: {estimate / 1e6:.1f} MB for {actual / 1e6:.1f} MB written "
              f"({estimate / actual:.2f}x)")

        half_settings = KnowledgeBaseSettings(
            index=IndexSettings(path=str(root), sources=(str(half),)))
        build_index(half_settings, rebuild=True, embedder=embedder)
        pruned = build_index(half_settings, rebuild=True, embedder=embedder)
        print(f"rebuild with half the articles, twice: pruned {pruned.cache_pruned} cached "
              f"embeddings, saved {pruned.cache_saved_bytes / 1e6:.1f} MB "
              f"(build {pruned.seconds:.1f} s including the pruning)")
        started = time.perf_counter()
        result = collect_garbage(half_settings)
        print(f"citebot index gc: removed {result.removed}, kept {result.kept}, cache "
              f"{result.bytes_before / 1e6:.1f} -> {result.bytes_after / 1e6:.1f} MB "
              f"(vacuumed: {result.vacuumed}) in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
