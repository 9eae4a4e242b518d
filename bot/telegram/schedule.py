"""``citebot serve`` refreshing its sources on a schedule, beside answering.

A refresh (fetching, then an incremental build) runs on the bot's build worker
(``bot.telegram.builds``), after any /add or upload queued before it and never in the engine's
workers, so questions keep being answered from the serving generation; once the build has
switched generations the engine is told to serve the new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bot.intervals import parse_interval
from bot.settings import Settings
from bot.telegram.builds import build_and_switch
from bot.telegram.services import Services
from index import CitebotError

log = logging.getLogger(__name__)

Refresh = Callable[..., Any]


def refresh_interval(settings: Settings) -> float | None:
    """Seconds between scheduled refreshes, or None when ``[sources] refresh_every`` is empty."""
    text = settings.sources.refresh_every.strip()
    if not text:
        return None
    return parse_interval(text, "[sources] refresh_every")


def _default_refresh(settings: Any, *, embedder: Any = None) -> Any:
    from index import refresh_sources

    return refresh_sources(settings, embedder=embedder)


async def keep_sources_fresh(
    services: Services, interval: float, refresh: Refresh = _default_refresh
) -> None:
    """Refresh feeds, added URLs and folders every ``interval`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            report = await build_and_switch(services, refresh)
        except CitebotError as exc:
            log.warning("scheduled refresh failed: %s", exc.one_line())
            continue
        except Exception:
            log.exception("scheduled refresh failed; the index keeps serving as it was")
            continue
        failed = [r for r in report.sources if r.failed]
        log.info(
            "refreshed %d sources (%d with failures): %d articles, %d embedded",
            len(report.sources), len(failed), report.build.articles, report.build.embedded,
        )
        for result in failed:
            log.warning("refresh of %s: %s", result.source, result.reason)
