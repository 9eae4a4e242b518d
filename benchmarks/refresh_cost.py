"""What `citebot index refresh` costs when nothing changed, for a feed served locally.

Serves an RSS feed of N entries (default 200) and their article pages from 127.0.0.1, indexes
them with a first refresh, then refreshes again without changes and prints, for each refresh,
the requests made, the article pages fetched, and the seconds spent fetching and building.
A no-change refresh must fetch no article page: the feed answers 304 and nothing else is asked.

    python benchmarks/refresh_cost.py [--entries 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from web_server import Route, WebServer, article_html, rss  # noqa: E402

from index import FeedSource, KnowledgeBaseSettings, SourcesSettings, refresh_sources  # noqa: E402
from index.embed import Embedder  # noqa: E402
from index.settings import IndexSettings  # noqa: E402


def _page(n: int) -> bytes:
    paragraphs = [
        f"Report {n}, part {part}: the council of district {n} met on day {n % 28 + 1} and "
        f"agreed to spend {n * 1000 + part} euros on roads, schools and the harbour wall."
        for part in range(3)
    ]
    return article_html(f"District {n} council", paragraphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200, help="feed entries (default 200)")
    args = parser.parse_args()
    server = WebServer().start()
    try:
        entries = []
        for n in range(args.entries):
            server.routes[f"/a/{n}"] = Route(_page(n))
            entries.append(
                (server.url(f"/a/{n}"), f"District {n}", "Tue, 02 Jan 2024 10:00:00 GMT"))
        server.routes["/feed"] = Route(rss(entries), content_type="application/rss+xml")
        with tempfile.TemporaryDirectory() as folder:
            settings = KnowledgeBaseSettings(
                index=IndexSettings(path=str(Path(folder) / "index"), sources=()),
                sources=SourcesSettings(
                    feeds=(FeedSource(server.url("/feed")),), allow_private_networks=True,
                    host_delay_seconds=0,
                ),
            )
            embedder = Embedder.from_settings(settings.embedding)
            embedder.embed_passages(["load the model"])
            print(f"{args.entries} feed entries served from 127.0.0.1")
            print(f"{'refresh':<12}{'requests':>9}{'pages':>7}{'fetch s':>9}{'build s':>9}"
                  f"{'total s':>9}{'embedded':>10}")
            for name in ("first", "no change", "no change"):
                server.log.clear()
                started = time.monotonic()
                report = refresh_sources(dataclasses.replace(settings), embedder=embedder)
                total = time.monotonic() - started
                pages = server.requests_to("/a/")
                print(f"{name:<12}{report.requests:>9}{pages:>7}{report.fetch_seconds:>9.3f}"
                      f"{report.build.seconds:>9.3f}{total:>9.3f}{report.build.embedded:>10}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
