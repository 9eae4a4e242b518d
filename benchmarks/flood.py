"""A flood of questions: ``citebot serve`` against the fake Bot API server, many users at once.

By default 500 questions from 50 users within 10 seconds, each from the user's private chat: 45
users ask 8 questions each and 5 noisy users 28 each, above the default limit of 10 a minute. It
prints what became of the questions (answered, rate limited, lost, answered twice), the reply
latency (question sent -> answer received by the server, so it includes the queueing and the
Telegram rate limits the bot observes: 30 messages a second in all, 20 a minute per group) and the
bot's memory (VmHWM: the peak resident set of the bot process).

    python benchmarks/flood.py                       # builds an index of examples/articles
    python benchmarks/flood.py --index DIR --users 50 --questions 500 --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bot_latency import QUESTIONS, build_sample_index  # noqa: E402
from fake_bot_api import BotProcess, FakeBotApi, flood, user, write_bot_config  # noqa: E402


def _split(total: int, users: int, noisy: int, each: int) -> list[int]:
    """Questions per user: the noisy users ask ``each``, the rest share what is left."""
    heavy = [each] * noisy
    left = max(0, total - sum(heavy))
    quiet = users - noisy
    light = [left // quiet + (i < left % quiet) for i in range(quiet)] if quiet else []
    return light + heavy


def main(argv: list[str] | None = None) -> int:
    """Run the flood and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="an index directory (default: build one)")
    parser.add_argument("--users", type=int, default=50, help="users asking (default 50)")
    parser.add_argument("--questions", type=int, default=500, help="questions in all (500)")
    parser.add_argument("--noisy", type=int, default=5, help="noisy users (5)")
    parser.add_argument(
        "--noisy-questions", type=int, default=28, help="questions of each noisy user (28)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="flood duration (10)")
    parser.add_argument(
        "--per-minute", type=int, default=10, help="questions_per_minute, 0 = no limit (10)"
    )
    args = parser.parse_args(argv)

    counts = _split(args.questions, args.users, args.noisy, args.noisy_questions)
    askers = [(user(10_000 + i, f"User{i}"), n) for i, n in enumerate(counts)]
    noisy_ids = {a["id"] for a, _ in askers[len(askers) - args.noisy :]}
    with tempfile.TemporaryDirectory(prefix="citebot-flood-") as tmp, FakeBotApi() as api:
        folder = Path(tmp)
        index = args.index or build_sample_index(folder)
        config = write_bot_config(
            folder / "citebot.toml", api, index, folder / "state.sqlite",
            questions_per_minute=args.per_minute,
        )
        bot = BotProcess(api, config, folder / "bot.log").start()
        try:
            rss_before, _ = bot.rss_mb()
            started = time.monotonic()
            report, _ = flood(api, askers, list(QUESTIONS), seconds=args.seconds,
                              per_minute=args.per_minute, settle_timeout=600)
            took = time.monotonic() - started - 1.0  # flood() waits a second for duplicates
            rss_after, peak = bot.rss_mb()
            chat_actions = len(api.calls("sendChatAction"))
            token_logged = api.token in bot.log()
        finally:
            code = bot.stop()

    quiet_ids = {a["id"] for a, _ in askers} - noisy_ids
    limit = f"{args.per_minute}/min per user" if args.per_minute else "no rate limit"
    print(f"citebot serve flood: {report.questions} questions from {len(askers)} users in "
          f"{args.seconds:.0f} s ({len(noisy_ids)} noisy users asking {args.noisy_questions} each; "
          f"{limit}); all settled after {took:.1f} s; exit code {code}")
    rows = [
        ("questions", report.questions),
        ("answered", report.answered),
        ("rate-limited", report.rate_limited),
        ("  rate-limit notices sent", report.notices),
        ("lost", report.lost),
        ("answered twice (duplicates)", report.duplicates),
        ("answered above the limit", report.over_limit_answered),
        ("typing actions sent", chat_actions),
        ("token in the bot's log", "yes" if token_logged else "no"),
    ]
    for name, value in rows:
        print(f"{name:<34} {value:>10}")
    print(f"{'reply latency (s)':<34} {'p50':>10} {'p95':>10} {'max':>10}")
    for name, who in (("all users", None), ("other users", quiet_ids),
                      ("noisy users", noisy_ids)):
        p50, p95, top = (report.percentile(q, who) for q in (0.5, 0.95, 1.0))
        print(f"{'  ' + name:<34} {p50:>10.2f} {p95:>10.2f} {top:>10.2f}")
    print(f"{'bot RSS before / after (MB)':<34} {rss_before:>10.0f} {rss_after:>10.0f}")
    print(f"{'bot peak RSS, VmHWM (MB)':<34} {peak:>10.0f}")
    return 0 if report.lost == 0 and report.duplicates == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
