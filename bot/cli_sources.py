"""``citebot index add|refresh|remove|sources``: web pages, feeds and their refreshes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from bot.intervals import parse_interval
from index import CitebotError

if TYPE_CHECKING:
    from bot.cli import CommandContext
    from index import RefreshReport, SourceResult, SourceStatus


def _interval(text: str) -> float:
    try:
        return parse_interval(text, "--every")
    except CitebotError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_actions(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``add``, ``refresh``, ``remove`` and ``sources`` under ``citebot index``."""
    add = actions.add_parser(
        "add", parents=[common], help="fetch web pages and index them (the URL is the id)"
    )
    add.add_argument("urls", nargs="+", metavar="URL", help="http(s) address of a page or file")
    add.set_defaults(handler=_add)
    refresh = actions.add_parser(
        "refresh", parents=[common],
        help="fetch new and changed feed entries and pages, then index them with the folders",
    )
    refresh.add_argument(
        "--every", type=_interval, metavar="INTERVAL",
        help="keep refreshing at this interval (e.g. 30m, 6h) until interrupted",
    )
    refresh.set_defaults(handler=_refresh)
    remove = actions.add_parser(
        "remove", parents=[common],
        help="remove a web page, a feed's entry or an upload from the index",
    )
    remove.add_argument(
        "article_id", metavar="ID", help="the page's URL or the upload's id (upload:NAME)"
    )
    remove.set_defaults(handler=_remove)
    sources = actions.add_parser(
        "sources", parents=[common],
        help="list folders, feeds, pages and uploads with their last refresh",
    )
    sources.set_defaults(handler=_sources)
    for parser in (add, refresh, remove, sources):
        parser.add_argument("--json", action="store_true", help="print JSON")


def result_json(result: SourceResult) -> dict[str, Any]:
    """One source's refresh result as JSON."""
    data = dataclasses.asdict(result)
    data["failures"] = [{"item": item, "reason": reason} for item, reason in result.failures]
    return data


def report_json(report: RefreshReport) -> dict[str, Any]:
    """A refresh report as JSON: each source, the requests made and the build summary."""
    from bot.cli_index import summary_json

    return {
        "sources": [result_json(r) for r in report.sources],
        "requests": report.requests,
        "fetch_seconds": report.fetch_seconds,
        "build": summary_json(report.build),
    }


def _print_result(result: SourceResult) -> None:
    title = f" ({result.title})" if result.title else ""
    line = f"{result.kind:<7}{result.source}{title}: {result.outcome}"
    if result.kind in ("url", "upload") and result.reason:
        line += f": {result.reason}"
    print(line)
    if result.kind not in ("url", "upload"):
        for item, reason in result.failures:
            print(f"         {item}: {reason}")


def _print_report(report: RefreshReport) -> None:
    from bot.cli_index import print_summary

    for result in report.sources:
        _print_result(result)
    if report.requests:
        print(f"fetched in {report.fetch_seconds:.1f} s with {report.requests} requests")
    print_summary(report.build)


def _emit(report: RefreshReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report_json(report), ensure_ascii=False), flush=True)
    else:
        _print_report(report)
        sys.stdout.flush()


def _add(args: argparse.Namespace, context: CommandContext) -> int:
    from index import add_urls

    report = add_urls(context.settings.knowledge_base, args.urls)
    _emit(report, args.json)
    # Asked for by name: a page that could not be added is an error, whatever else worked.
    return 1 if any(r.failed for r in report.sources) else 0


def _refresh(args: argparse.Namespace, context: CommandContext) -> int:
    from index import refresh_sources

    settings = context.settings.knowledge_base
    if args.every is None:
        _emit(refresh_sources(settings), args.json)
        return 0
    while True:  # until Ctrl-C, which the CLI boundary turns into exit code 130
        started = time.monotonic()
        try:
            _emit(refresh_sources(settings), args.json)
        except CitebotError as exc:
            # One failed round (another build running, say) must not end the schedule.
            print(f"citebot: {exc.one_line()}; trying again in {args.every:g} s", file=sys.stderr)
        time.sleep(max(0.0, args.every - (time.monotonic() - started)))


def _remove(args: argparse.Namespace, context: CommandContext) -> int:
    from index import remove_source

    _emit(remove_source(context.settings.knowledge_base, args.article_id), args.json)
    return 0


def status_line(status: SourceStatus) -> str:
    """How a source and its last refresh read in a list."""
    title = f" ({status.title})" if status.title else ""
    if status.refreshed_at is None:
        return f"{status.kind:<7}{status.source}{title}: not refreshed yet"
    if status.kind in ("url", "upload"):
        words = [w for w in ("failed", "added", "updated", "removed") if getattr(status, w)]
        outcome = words[0] if words else "unchanged"
    else:
        outcome = (f"added {status.added}, updated {status.updated}, "
                   f"unchanged {status.unchanged}, failed {status.failed}")
    reason = f" ({status.reason})" if status.reason else ""
    return f"{status.kind:<7}{status.source}{title}: {status.refreshed_at} {outcome}{reason}"


def _sources(args: argparse.Namespace, context: CommandContext) -> int:
    from index import source_status

    statuses = source_status(context.settings.knowledge_base)
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in statuses], ensure_ascii=False))
    elif not statuses:
        print("no sources: set [index] sources or [[sources.feeds]], or `citebot index add URL`")
    for status in statuses if not args.json else ():
        print(status_line(status))
    return 0
