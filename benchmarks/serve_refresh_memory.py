"""Memory of ``citebot serve`` while it refreshes its sources on a schedule.

Indexes the bundled sample articles (default ONNX int8 backend), starts the bot against the fake
Bot API with ``[sources] refresh_every = "10s"`` and a second folder, then adds an article to
that folder before each of a few refreshes, so every refresh embeds something. It prints the
bot's resident memory after warm-up and after each refresh, its peak (VmHWM), and how long each
refresh took to reach the answers (file written -> the new article is served).

    python benchmarks/serve_refresh_memory.py --refreshes 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bot_latency import build_sample_index  # noqa: E402
from fake_bot_api import BotProcess, FakeBotApi, user, write_bot_config  # noqa: E402
from telegram_bot import ask  # noqa: E402

# (topic, founder, river, towns): each refresh adds an article unlike the others.
TOPICS = [
    ("copper", "Ilsa Marwick", "Tavy", "three coastal towns"),
    ("granite", "Oswin Pellow", "Fal", "the cathedral builders of Exeter"),
    ("saffron", "Bettany Crewe", "Stour", "the spice merchants of London"),
    ("tungsten", "Jory Kessell", "Camel", "lamp makers in Birmingham"),
    ("amber", "Wenna Trago", "Lynher", "jewellers across the Baltic"),
    ("cobalt", "Piran Hosking", "Fowey", "potteries in Staffordshire"),
]


def _article(topic: str, founder: str, river: str, buyers: str) -> dict[str, object]:
    return {
        "id": f"extra-{topic}",
        "title": f"The {topic} trade",
        "paragraphs": [
            f"{founder} opened a {topic} warehouse beside the River {river} and sold its stock "
            f"to {buyers}, which made the {topic} trade the valley's main employer.",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the refreshes and print the bot's memory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=3, help="refreshes to watch (3)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per refresh")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citebot-refresh-") as tmp, FakeBotApi() as api:
        folder = Path(tmp)
        index = build_sample_index(folder)
        extra = folder / "extra"
        extra.mkdir()
        config = write_bot_config(
            folder / "citebot.toml", api, index, folder / "state.sqlite",
            index_sources=(str(REPO / "examples" / "articles"), str(extra)),
            sources={"refresh_every": "10s"}, refresh_seconds=1, questions_per_minute=0,
        )
        bot = BotProcess(api, config, folder / "bot.log").start()
        ann = user(77, "Ann")
        chat = {"id": ann["id"], "type": "private", "first_name": "Ann"}
        rows = []
        try:
            ask(api, chat, ann, "Who found the Rosetta Stone?")
            rows.append(("after warm-up and one answer", *bot.rss_mb(), 0.0))
            for topic, founder, river, buyers in TOPICS[: args.refreshes]:
                record = json.dumps(_article(topic, founder, river, buyers))
                (extra / f"{topic}.jsonl").write_text(record + "\n", encoding="utf-8")
                written = time.monotonic()
                question = f"Who opened a {topic} warehouse beside the River {river}?"
                while f"The {topic} trade" not in ask(api, chat, ann, question)[1].params["text"]:
                    if time.monotonic() - written > args.timeout:
                        raise TimeoutError(f"the {topic} article was never served")
                    time.sleep(0.5)
                took = time.monotonic() - written
                rows.append((f"after refresh adding '{topic}'", *bot.rss_mb(), took))
        finally:
            code = bot.stop()
    print(f"citebot serve, scheduled refresh every 10 s; exit code {code}")
    print(f"{'':<34} {'RSS MB':>8} {'peak MB':>8} {'served after s':>15}")
    for name, rss, peak, took in rows:
        print(f"{name:<34} {rss:>8.0f} {peak:>8.0f} {took:>15.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
