"""``citebot index add|refresh|remove|sources``, intervals and serve's refresh schedule."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.cli import main
from bot.intervals import IntervalError, parse_interval
from bot.settings import Settings, load_settings
from bot.telegram.builds import BuildQueue
from bot.telegram.schedule import keep_sources_fresh, refresh_interval
from web_server import Route, WebServer, article_html


@pytest.fixture
def server() -> Iterator[WebServer]:
    web = WebServer().start()
    yield web
    web.stop()


def test_intervals() -> None:
    assert parse_interval("90s") == 90 and parse_interval("30m") == 1800
    assert parse_interval(" 1.5h ") == 5400 and parse_interval("1D") == 86400
    for bad in ("30", "soon", "5s", "-3m", ""):
        with pytest.raises(IntervalError):
            parse_interval(bad)


def test_refresh_every_setting(tmp_path: Path) -> None:
    assert refresh_interval(Settings()) is None
    config = tmp_path / "c.toml"
    config.write_text('[sources]\nrefresh_every = "6h"\n[[sources.feeds]]\nurl = "https://e.org/f"\n')
    settings = load_settings(config)
    assert refresh_interval(settings) == 6 * 3600
    assert settings.sources.feeds[0].url == "https://e.org/f"
    config.write_text('[[sources.feeds]]\nlink = "https://e.org/f"\n')
    with pytest.raises(Exception, match=r"unknown key \[\[sources.feeds\]\] link"):
        load_settings(config)


def test_serve_refreshes_on_schedule_and_switches_generations() -> None:
    calls: list[str] = []

    class Engine:
        def refresh(self) -> bool:
            calls.append("switch")
            return True

    async def run(fn: Any, *args: Any) -> Any:
        return fn(*args)

    def refresh(settings: Any, *, embedder: Any) -> Any:
        calls.append("refresh")
        if len(calls) == 1:
            raise RuntimeError("a failing round must not end the schedule")
        failed = SimpleNamespace(failed=1, source="http://e.org/x", reason="HTTP 404")
        build = SimpleNamespace(articles=3, embedded=0)
        return SimpleNamespace(sources=[failed], build=build)

    async def scenario() -> None:
        builds = BuildQueue(Settings().knowledge_base, None)
        services = SimpleNamespace(settings=Settings(), engine=Engine(), run=run, builds=builds)
        task = asyncio.create_task(keep_sources_fresh(services, 0.01, refresh))  # type: ignore[arg-type]
        while len(calls) < 5:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(scenario())
    assert calls[:5] == ["refresh", "refresh", "switch", "refresh", "switch"]


def test_builds_run_one_at_a_time_in_order_and_say_when_busy() -> None:
    """/add, uploads, /remove and refreshes share one worker: a second waits for the first."""
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow(settings: Any, name: str, *, embedder: Any) -> str:
        order.append(f"start {name}")
        started.set()
        release.wait(10)
        order.append(f"end {name}")
        return name

    def quick(settings: Any, name: str, *, embedder: Any) -> str:
        order.append(name)
        return name

    async def scenario() -> list[str]:
        builds = BuildQueue(Settings().knowledge_base, None)
        assert not builds.busy
        first = asyncio.create_task(builds.run(slow, "refresh"))
        await asyncio.to_thread(started.wait, 10)
        assert builds.busy  # an /add now would be told it is queued
        second = asyncio.create_task(builds.run(quick, "add"))
        await asyncio.sleep(0.05)
        assert order == ["start refresh"]
        release.set()
        results = [await first, await second]
        assert not builds.busy
        builds.shutdown()
        return results

    assert asyncio.run(scenario()) == ["refresh", "add"]
    assert order == ["start refresh", "end refresh", "add"]


def test_refresh_every_must_be_an_interval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["index", "refresh", "--every", "often"])
    assert exit_info.value.code == 2
    assert "not an interval like 90s, 30m" in capsys.readouterr().err


@pytest.mark.model
def test_add_sources_remove_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_dir: Path, server: WebServer
) -> None:
    text = ("The lighthouse keeper climbed the stairs every evening to light the lamp, and the "
            "ships in the bay counted on that light through every winter storm of the decade.")
    server.routes["/keeper"] = Route(article_html("The keeper", [text, text.upper()]))
    config = tmp_path / "citebot.toml"
    config.write_text(
        f'[index]\npath = "index"\nsources = ["{corpus_dir}"]\n'
        "[sources]\nallow_private_networks = true\nhost_delay_seconds = 0\n",
        encoding="utf-8",
    )
    url = server.url("/keeper")
    code = main(["--config", str(config), "index", "add", url, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["sources"][0]["added"] == 1 and report["requests"] == 1
    assert report["build"]["articles"] == 4 and "changes" not in report["build"]

    code = main(["--config", str(config), "index", "add", server.url("/nowhere")])
    out, _err = capsys.readouterr()
    assert code == 1 and f"url    {server.url('/nowhere')}: failed: HTTP 404 Not Found" in out

    assert main(["--config", str(config), "index", "sources"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"folder {corpus_dir}: not refreshed yet")
    assert lines[1].startswith(f"url    {url} (The keeper): 20") and lines[1].endswith("added")

    assert main(["--config", str(config), "index", "remove", url]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert main(["--config", str(config), "index", "remove", url]) == 1
    assert capsys.readouterr().err.startswith("citebot: no web page")
