"""Telegram bot reply latency and memory: ``citebot serve`` against the fake Bot API server.

Latency is measured from the moment the bot receives an update (getUpdates hands it over) to the
moment its answer (sendMessage) reaches the server, i.e. what a Telegram user waits for minus
Telegram's own network hops. Questions are sent one at a time, after one warm-up question.

    python benchmarks/bot_latency.py                 # builds an index of examples/articles
    python benchmarks/bot_latency.py --index DIR -n 100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from fake_bot_api import BotProcess, FakeBotApi, private_chat, user, write_bot_config  # noqa: E402

from bot.metrics import percentile  # noqa: E402

# Questions about the bundled sample articles (examples/articles); a few have no answer there.
QUESTIONS = (
    "When was the Rosetta Stone found?",
    "How much does the Rosetta Stone weigh?",
    "Who deciphered the hieroglyphs?",
    "Where is the Rosetta Stone displayed?",
    "Who discovered penicillin?",
    "When did the Oxford team treat their first patient?",
    "Who worked out the structure of penicillin?",
    "How many eggs can a queen bee lay in a day?",
    "What does the waggle dance tell other bees?",
    "Who invented the hive with removable frames?",
    "What is bee space?",
    "Who built the first two-wheeled steerable machine?",
    "Why was the velocipede called a boneshaker?",
    "Who patented the pneumatic tyre?",
    "When was the safety bicycle introduced?",
    "Who did King Mohammed VI meet in New York?",
    "How many people died in the Casablanca bombings?",
    "How many Jews live in Morocco?",
    "What is the capital of Australia?",
    "How do I bake sourdough bread?",
)


def build_sample_index(folder: Path) -> Path:
    """Index the bundled sample articles into ``folder``/index (a real ``citebot`` build)."""
    index = folder / "index"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "index", "build", str(REPO / "examples" / "articles"),
         "--index", str(index)],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    return index


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--index", type=Path, help="an index directory (default: build one of examples/articles)"
    )
    parser.add_argument(
        "-n", "--questions", type=int, default=50, help="questions to time (default 50)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for one answer"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="citebot-bench-") as tmp, FakeBotApi() as api:
        folder = Path(tmp)
        index = args.index or build_sample_index(folder)
        config = write_bot_config(
            folder / "citebot.toml", api, index, folder / "state.sqlite", questions_per_minute=0
        )
        started = time.monotonic()
        bot = BotProcess(api, config, folder / "bot.log").start()
        startup = time.monotonic() - started
        try:
            asker = user(1, "Bench")
            chat = private_chat(asker)
            received, end_to_end = [], []
            for i in range(args.questions + 1):
                question = QUESTIONS[i % len(QUESTIONS)]
                mark = api.mark()
                api.send_text(chat, asker, "/new")
                api.wait_for("sendMessage", since=mark, timeout=args.timeout)
                mark = api.mark()
                injected = time.monotonic()
                update_id, _ = api.send_text(chat, asker, question)
                answer = api.wait_for("sendMessage", since=mark, timeout=args.timeout)
                if i == 0:
                    continue  # warm-up
                delivered = api.delivered_at(update_id)
                assert delivered is not None
                received.append(answer.at - delivered)
                end_to_end.append(answer.at - injected)
            rss, peak = bot.rss_mb()
        finally:
            code = bot.stop()

    print(f"citebot serve: {args.questions} questions, one at a time (exit code {code})")
    print(f"{'measure':<40} {'p50':>8} {'p95':>8} {'max':>8}")
    for name, values in (("update received -> sendMessage (s)", received),
                         ("update queued -> sendMessage (s)", end_to_end)):
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"{name:<40} {p50:>8.3f} {p95:>8.3f} {max(values):>8.3f}")
    print(f"{'start until polling (s)':<40} {startup:>8.1f}")
    print(f"{'bot RSS now / peak (MB)':<40} {rss:>8.0f} {peak:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
