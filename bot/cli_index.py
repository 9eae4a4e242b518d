"""``citebot index build|rebuild|stats`` and ``citebot search``.

The web-source actions live in cli_sources, verify and gc in cli_maintenance.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the index loads numpy and more: only when a command runs
    from bot.cli import CommandContext
    from index import BuildSummary, IndexStats

_PREVIEW_CHARS = 320


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``index build|rebuild|stats|add|refresh|remove|sources`` and ``search``."""
    index = subparsers.add_parser("index", parents=[common], help="build and inspect the index")
    actions = index.add_subparsers(dest="index_action", metavar="ACTION")
    index.set_defaults(handler=lambda args, context: _usage(index))

    build = actions.add_parser(
        "build", parents=[common], help="index new and changed articles (embeds only new text)"
    )
    rebuild = actions.add_parser(
        "rebuild",
        parents=[common],
        help="index every article from scratch (cached embeddings are still reused)",
    )
    for parser in (build, rebuild):
        parser.add_argument(
            "paths", nargs="*", metavar="PATH", help="files or folders (default: [index] sources)"
        )
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument(
            "--shard", type=_shard, metavar="I/N", default=None,
            help="write only shard I of N into a sharded build (engine milvus); "
            "`citebot index publish` switches to it once all N are done",
        )
    build.set_defaults(handler=_build, rebuild=False, clean_cache=False)
    rebuild.add_argument(
        "--clean-cache",
        action="store_true",
        help="also empty the embedding cache, so every text is embedded again",
    )
    rebuild.set_defaults(handler=_build, rebuild=True)

    from bot.cli_sources import add_actions

    add_actions(actions, common)

    from bot.cli_maintenance import register_actions

    register_actions(actions, common)

    publish = actions.add_parser(
        "publish", parents=[common],
        help="switch to a sharded build once every shard has reported done (engine milvus)",
    )
    publish.add_argument("--json", action="store_true", help="print the manifest as JSON")
    publish.set_defaults(handler=_publish)

    stats = actions.add_parser("stats", parents=[common], help="show what the index holds")
    stats.add_argument("--json", action="store_true", help="print the stats as JSON")
    stats.set_defaults(handler=_stats)

    search = subparsers.add_parser(
        "search", parents=[common], help="show the paragraphs that best match a query"
    )
    search.add_argument("query", help="what to search for")
    search.add_argument("--k", type=_positive_int, default=10,
                        help="how many paragraphs (default 10)")
    search.add_argument("--json", action="store_true", help="print the results as JSON")
    search.set_defaults(handler=_search)


def _shard(value: str) -> Any:
    from index.shards import parse_shard

    try:
        return parse_shard(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def summary_json(summary: BuildSummary) -> dict[str, Any]:
    """The build summary as printed by ``--json``."""
    data = dataclasses.asdict(summary)
    del data["changes"]  # one row per article: the counts say it for a summary
    data["skipped"] = [{"path": s.path, "reason": s.reason} for s in summary.skipped]
    return data


def print_summary(summary: BuildSummary) -> None:
    """Print a build summary for people."""
    print(
        f"indexed {summary.articles} articles, {summary.paragraphs} paragraphs "
        f"in {summary.seconds:.1f} s (generation {summary.generation})"
    )
    print(
        f"  added {summary.added}, updated {summary.updated}, removed {summary.removed}, "
        f"unchanged {summary.unchanged}"
    )
    reused = summary.paragraphs - summary.embedded
    print(
        f"  embedded {summary.embedded} paragraphs and {summary.embedded_sentences} sentences"
        + (f"; {reused} paragraphs were unchanged or cached" if reused else "")
    )
    if summary.cache_pruned:
        print(f"  pruned {summary.cache_pruned} cached embeddings no generation uses "
              f"({human_size(summary.cache_saved_bytes)} saved)")
    if summary.skipped:
        print(f"  skipped {len(summary.skipped)}:")
        for item in summary.skipped:
            print(f"    {item.path}: {item.reason}")


def _build(args: argparse.Namespace, context: CommandContext) -> int:
    from index import build_index

    summary = build_index(
        context.settings.knowledge_base,
        args.paths or None,
        rebuild=args.rebuild,
        progress=not args.json,
        clean_cache=args.clean_cache,
        shard=args.shard,
    )
    if args.json:
        print(json.dumps(summary_json(summary), ensure_ascii=False))
    else:
        print_summary(summary)
        if args.shard is not None:
            print(f"  shard {args.shard.index}/{args.shard.count} done; "
                  "`citebot index publish` serves the build once every shard is")
    return 0


def _publish(args: argparse.Namespace, context: CommandContext) -> int:
    from index.shards import publish_index

    manifest = publish_index(context.settings.knowledge_base)
    if args.json:
        print(json.dumps(manifest.to_json(), ensure_ascii=False))
    else:
        print(f"serving generation {manifest.generation}: {manifest.articles} articles, "
              f"{manifest.paragraphs} paragraphs, {manifest.sentences} sentences")
    return 0


def human_size(size: int) -> str:
    """A byte count as people read it ("812 B", "3.4 MB")."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _searched_by(kind: str, recall: float | None) -> str:
    if recall is None:
        return f"searched by {kind}, exact"
    return f"searched by {kind}, recall@10 {recall:.3f} of exact"


def _split_by(version: int) -> str:
    from index import SPLITTER_VERSION

    if 0 < version < SPLITTER_VERSION:
        return f"; split by splitter {version} of {SPLITTER_VERSION}: run `citebot index build`"
    return ""


def _print_stats(stats: IndexStats) -> None:
    rows = (
        ("index", f"{stats.path} (generation {stats.generation}, format {stats.format_version})"),
        ("model", f"{stats.model} ({stats.backend}, {stats.dimensions} dims)"),
        ("articles", str(stats.articles)),
        ("paragraphs",
         f"{stats.paragraphs} ({_searched_by(stats.paragraph_search, stats.paragraph_recall)})"),
        ("sentences",
         f"{stats.sentences} ({_searched_by(stats.sentence_search, stats.sentence_recall)}"
         f"; vectors {stats.sentence_vectors}{_split_by(stats.sentence_splitter)})"),
        ("size", human_size(stats.size_bytes)),
        ("built", stats.built_at),
    )
    for name, value in rows:
        print(f"{name:<11}{value}")


def _stats(args: argparse.Namespace, context: CommandContext) -> int:
    from index import open_knowledge_base

    stats = open_knowledge_base(context.settings.knowledge_base).stats()
    if args.json:
        print(json.dumps(dataclasses.asdict(stats), ensure_ascii=False))
    else:
        _print_stats(stats)
    return 0


def _search(args: argparse.Namespace, context: CommandContext) -> int:
    from index import open_knowledge_base

    hits = open_knowledge_base(context.settings.knowledge_base).search(args.query, args.k)
    if args.json:
        results = [
            {
                "rank": rank,
                "score": round(hit.score, 6),
                "article_id": hit.ref.article_id,
                "title": hit.ref.title,
                "paragraph": hit.ref.number,
                "text": hit.ref.text,
            }
            for rank, hit in enumerate(hits, start=1)
        ]
        print(json.dumps({"query": args.query, "results": results}, ensure_ascii=False))
        return 0
    if not hits:
        print("no matching paragraphs")
    for rank, hit in enumerate(hits, start=1):
        ref = hit.ref
        print(f"{rank:>2}. {hit.score:7.3f}  {ref.title} {ref.label}  [{ref.article_id}]")
        preview = ref.text if len(ref.text) <= _PREVIEW_CHARS else ref.text[:_PREVIEW_CHARS] + "…"
        print(textwrap.indent(textwrap.fill(preview, width=96), "      "))
    return 0
