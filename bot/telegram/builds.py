"""Index builds inside ``citebot serve``: one background worker, one build at a time.

Scheduled refreshes, /add, uploads and /remove all change the index, and two builds of one index
cannot run at once (the build lock would turn the second away), so they queue for one thread of
their own. The engine's workers keep answering from the serving generation meanwhile; when a
build is done the engine is told to switch to the new one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.telegram.services import Services
    from index import Embedder, KnowledgeBaseSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def worker_embedder(engine_embedder: Embedder | None, settings: Settings) -> Embedder | None:
    """The embedder builds use: the engine's own unless it is torch's.

    An ONNX embedder is safe to share: onnxruntime sessions run concurrently, a query's one
    text runs on the asking thread and never queues behind a build's texts, and the backend is
    the index's either way. The torch encoder holds a lock over each call, and a build's call
    embeds hundreds of texts, so questions would wait seconds: builds get a copy of their own.
    None (no engine embedder) lets each build load the model itself.
    """
    if engine_embedder is None:
        return None
    if engine_embedder.backend == "torch":
        from index import Embedder

        return Embedder.from_settings(settings.embedding)
    return engine_embedder


class BuildQueue:
    """Runs index jobs (``job(settings, *args, embedder=...)``) one at a time, in order."""

    def __init__(self, settings: KnowledgeBaseSettings, embedder: Embedder | None) -> None:
        self.settings = settings
        self.embedder = embedder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-build")
        self._pending = 0  # jobs submitted and not finished, the running one included

    @property
    def busy(self) -> bool:
        """Whether a job is running or waiting: a new one would queue behind it."""
        return self._pending > 0

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """Run ``job`` on the build thread after the jobs queued before it; returns its result."""
        call = functools.partial(job, self.settings, *args, embedder=self.embedder)
        self._pending += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(call))
        finally:
            self._pending -= 1

    def shutdown(self) -> None:
        """Drop waiting jobs; a running build finishes (a killed one would be safe too)."""
        if self._pending:
            log.info("waiting for the index build in progress to finish")
        self._executor.shutdown(wait=False, cancel_futures=True)


async def build_and_switch(services: Services, job: Callable[..., T], *args: Any) -> T:
    """Run an index job on the build worker, then switch the engine to the new generation."""
    result = await services.builds.run(job, *args)
    try:
        await services.run(services.engine.refresh)
    except Exception:
        log.exception("could not switch to the rebuilt index; still serving the old one")
    return result
