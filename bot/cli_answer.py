"""``citebot ask``, ``chat`` and ``eval``: the answering engine on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from index import CitebotError

if TYPE_CHECKING:
    from bot.cli import CommandContext
    from bot.engine import Engine
    from bot.evaluation import Dialog, EvalQuestion
    from bot.natural_eval import NaturalDialog, NaturalQuestion

EVAL_HELP = """\
Measure citebot on a question set. The index must have been built from the matching corpus
(e.g. `citebot index build squad-v1.1-dev.corpus.jsonl --index squad-index` before
`citebot eval squad-v1.1-dev.questions.jsonl --index squad-index`), since gold paragraphs are
named by article id and paragraph number.

QUESTIONS is JSON Lines, one question per line:
  {"question": "...", "article_id": "...", "paragraph_index": 0, "answers": ["..."]}
with "paragraph_index": null for questions the articles don't answer. Reported: R@1/5/10 and
MRR@10 of the gold paragraph (citebot's ranking and, in the same run, BM25-only and dense-only
baselines), the share of answerable questions answered, the share whose quoted answer contains
a gold answer (case-insensitive), abstention on questions without a gold paragraph, and the
latency per question (p50/p95).

With --dialogs, FILE is JSON Lines of conversations instead:
  {"id": "...", "doc_id": "...", "turns": [{"question": "...", "paragraph_index": 0}, ...]}
and the evidence paragraph of every follow-up turn is ranked (a) from the question alone,
(b) with citebot's history handling (its own earlier answers, never the gold), and (c) by
staying on the previous turn's paragraph (gold, and citebot's own previous top result).

A natural set is recognized by its records: questions with a "kind" and answer strings in
"gold" ({"question", "kind", "answerable", "article_id", "paragraph_index", "gold",
"gold_match", "also", "expect"}), or conversations whose turns have a "turn_type". Each question
is asked in a fresh conversation, each conversation in order; reported per kind: answer right
(not refused, and the quote holds a gold string or the first citation is a gold paragraph),
quote hit, citation@1 and wrong refusals; near-miss, off-topic and boilerplate questions
refused; small talk that got the expected kind of reply."""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``ask``, ``chat`` and ``eval`` to the command line."""
    ask = subparsers.add_parser(
        "ask",
        parents=[common],
        help="answer questions with quotes from the articles",
        description="Answer a question with verbatim quotes and numbered sources. Without "
        "QUESTION, read questions from standard input, one per line, each on its own; when "
        "standard input is not a terminal (a pipe or a file), print one JSON object per answer.",
    )
    ask.add_argument("question", nargs="?", metavar="QUESTION", help="the question to answer")
    ask.add_argument("--json", action="store_true",
                     help="print one JSON object per answer (the default for piped questions)")
    ask.set_defaults(handler=_ask)

    chat = subparsers.add_parser(
        "chat",
        parents=[common],
        help="talk with citebot in the terminal (follow-up questions work)",
        description="A conversation in the terminal: follow-up questions may refer to earlier "
        "answers. Commands: /new, /help, /quit (or Ctrl-D). With --json, or when standard input "
        "is not a terminal, read one question per line and print one JSON object per answer.",
    )
    chat.add_argument("--json", action="store_true", help="read lines, print JSON answers")
    chat.set_defaults(handler=_chat)

    evaluate = subparsers.add_parser(
        "eval",
        parents=[common],
        help="measure retrieval, answers and abstention on a question set",
        description=EVAL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("file", type=Path, metavar="QUESTIONS.jsonl",
                          help="questions (or dialogs, with --dialogs) as JSON Lines")
    evaluate.add_argument("--dialogs", action="store_true",
                          help="FILE holds dialogs: measure follow-up handling")
    evaluate.add_argument("--limit", type=int, default=0, metavar="N",
                          help="use only the first N questions (dialogs with --dialogs)")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--details", type=Path, metavar="FILE",
                          help="natural sets: write each question's outcome to FILE (JSON Lines)")
    evaluate.set_defaults(handler=_eval)


@dataclass(frozen=True)
class EvalInput:
    """A question file as read: plain questions, dialogs, or natural records (one of them)."""

    questions: Sequence[EvalQuestion] = ()
    dialogs: Sequence[Dialog] = ()
    natural: list[NaturalQuestion] | list[NaturalDialog] | None = None


def _ask(args: argparse.Namespace, context: CommandContext) -> int:
    from bot.render import render_answer, terminal_width

    engine = context.open_engine()
    from_stdin = args.question is None
    # Questions piped in come from a program, which gets one JSON object per line (like chat).
    as_json = args.json or (from_stdin and not sys.stdin.isatty())
    questions: Iterable[str] = (
        (line for line in sys.stdin if line.strip()) if from_stdin else [args.question]
    )
    width = terminal_width(sys.stdout)
    for i, question in enumerate(questions):
        answer = engine.ask(question).answer
        if as_json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        else:
            if from_stdin:
                print(("\n" if i else "") + f"Q: {answer.question}")
            print(render_answer(answer, width), flush=True)
    return 0


def _chat(args: argparse.Namespace, context: CommandContext) -> int:
    from bot.terminal import run_interactive, run_lines

    engine = context.open_engine()
    if args.json or not sys.stdin.isatty():
        return run_lines(engine, sys.stdin, sys.stdout, as_json=True)
    return run_interactive(engine)


def _read_eval_file(args: argparse.Namespace) -> EvalInput:
    """The questions, dialogs or natural records of ``args.file``, as ``--dialogs`` asks."""
    from bot.evaluation import EvalFormatError, load_dialogs, load_questions
    from bot.natural_eval import read_natural, sniff_natural

    try:
        if sniff_natural(args.file):
            return EvalInput(natural=read_natural(args.file, args.limit))
        if args.dialogs:
            return EvalInput(dialogs=load_dialogs(args.file, args.limit))
        return EvalInput(questions=load_questions(args.file, args.limit))
    except FileNotFoundError:
        raise EvalFormatError(f"file not found: {args.file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFormatError(f"cannot read {args.file}: {exc}") from None


def _eval(args: argparse.Namespace, context: CommandContext) -> int:
    from bot.evaluation import (
        evaluate_dialogs,
        evaluate_questions,
        format_dialog_report,
        format_report,
    )

    if args.limit < 0:
        raise CitebotError("--limit must be 0 (all) or more")
    read = _read_eval_file(args)
    engine = context.open_engine()
    if read.natural is not None:
        return _eval_natural(args, engine, read.natural)
    progress = _progress(args.verbose, every=100)
    if args.dialogs:
        dialog_report = evaluate_dialogs(engine, read.dialogs, progress)
        text, data = format_dialog_report(dialog_report), dialog_report.to_json()
    else:
        report = evaluate_questions(engine, read.questions, progress)
        text, data = format_report(report), report.to_json()
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else text)
    return 0


def _progress(verbose: bool, every: int) -> Callable[[int, int], None]:
    """A progress callback printing "done/total" to stderr every ``every`` items when verbose."""

    def progress(done: int, total: int) -> None:
        if verbose and (done % every == 0 or done == total):
            print(f"{done}/{total}", file=sys.stderr, flush=True)

    return progress


def _eval_natural(
    args: argparse.Namespace,
    engine: Engine,
    records: list[NaturalQuestion] | list[NaturalDialog],
) -> int:
    """``citebot eval`` on natural questions or conversations (answer-level gold)."""
    from bot.natural_eval import (
        NaturalDialog,
        evaluate_natural,
        evaluate_natural_dialogs,
        format_natural_report,
    )

    progress = _progress(args.verbose, every=50)
    dialogs = bool(records) and isinstance(records[0], NaturalDialog)
    if dialogs:
        report = evaluate_natural_dialogs(engine, records, progress)  # type: ignore[arg-type]
    else:
        report = evaluate_natural(engine, records, progress)  # type: ignore[arg-type]
    if args.details:
        with open(args.details, "w", encoding="utf-8") as out:
            for row in report.details:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_natural_report(report, dialogs=dialogs))
    return 0
