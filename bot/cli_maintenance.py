"""``citebot index verify`` and ``citebot index gc``: check an index's files, prune its cache."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from bot.cli_index import human_size
from index import IndexCorrupt

if TYPE_CHECKING:
    from bot.cli import CommandContext
    from index import CacheGc, VerifyReport


def register_actions(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``verify`` and ``gc`` to the ``citebot index`` actions."""
    verify = actions.add_parser(
        "verify",
        parents=[common],
        help="check every index file against the checksums its manifest records",
        description=(
            "Read every file of every kept generation and compare it with the size and checksum "
            "recorded when it was built. Names each damaged file and the fix; exits 1 when "
            "anything is damaged."
        ),
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--fall-back",
        action="store_true",
        help="if the serving generation is damaged, serve the newest intact one instead "
        "(and delete the damaged one)",
    )
    verify.set_defaults(handler=_verify)

    gc = actions.add_parser(
        "gc",
        parents=[common],
        help="delete cached embeddings no kept generation uses and give the space back",
    )
    gc.add_argument("--json", action="store_true", help="print the outcome as JSON")
    gc.set_defaults(handler=_gc)


def report_json(report: VerifyReport) -> dict[str, Any]:
    """The verification report as printed by ``--json``."""
    data = dataclasses.asdict(report)
    for check, generation in zip(report.generations, data["generations"], strict=True):
        generation["intact"] = check.intact
    data["intact"] = all(g.intact for g in report.generations)
    data["problem"] = report.problem_line()
    return data


def _print_report(report: VerifyReport) -> None:
    for check in report.generations:
        role = " (serving)" if check.serving else ""
        files = f"{check.files} files ({human_size(check.size_bytes)})"
        if not check.intact:
            print(f"generation {check.generation}{role}: DAMAGED, {files}")
            for problem in check.problems:
                print(f"  {problem.name}: {problem.problem}")
        elif check.checksummed:
            print(f"generation {check.generation}{role}: ok, {files} match their checksums")
        else:
            print(
                f"generation {check.generation}{role}: sizes ok ({files}); its manifest predates "
                "checksums, so bit rot cannot be ruled out: `citebot index rebuild` records them"
            )
    rate = report.size_bytes / report.seconds / 1e6 if report.seconds > 0 else 0.0
    print(f"read {human_size(report.size_bytes)} in {report.seconds:.1f} s ({rate:.0f} MB/s)")


def _verify(args: argparse.Namespace, context: CommandContext) -> int:
    from index import fall_back, verify_index

    settings = context.settings.knowledge_base
    if args.fall_back:
        done = fall_back(settings, progress=not args.json)
        if args.json:
            print(json.dumps({**report_json(done.report), "fell_back_from": done.damaged,
                              "serving": done.serving}, ensure_ascii=False))
        else:
            _print_report(done.report)
            print(f"now serving generation {done.serving}; deleted the damaged {done.damaged}. "
                  "Run `citebot index rebuild` to index the articles again.")
        return 0
    report = verify_index(settings, progress=not args.json)
    if args.json:
        print(json.dumps(report_json(report), ensure_ascii=False))
    else:
        _print_report(report)
    problem = report.problem_line()
    if problem is not None:
        raise IndexCorrupt(problem)
    return 0


def gc_json(result: CacheGc) -> dict[str, Any]:
    """The pruning outcome as printed by ``--json``."""
    return {**dataclasses.asdict(result), "saved_bytes": result.saved_bytes}


def _gc(args: argparse.Namespace, context: CommandContext) -> int:
    from index import collect_garbage

    result = collect_garbage(context.settings.knowledge_base)
    if args.json:
        print(json.dumps(gc_json(result), ensure_ascii=False))
        return 0
    print(
        f"removed {result.removed} cached embeddings that none of the kept generations "
        f"({result.generations}) uses, kept {result.kept}"
    )
    print(
        f"cache {human_size(result.bytes_before)} -> {human_size(result.bytes_after)}: "
        f"saved {human_size(result.saved_bytes)} in {result.seconds:.1f} s"
    )
    return 0
