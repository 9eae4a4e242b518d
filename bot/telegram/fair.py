"""Fair scheduling of blocking engine calls: users take turns, so one noisy user cannot starve
the others.

Every call names a key (the asking user). Each key runs at most one call at a time; keys with
waiting calls queue in a ring and the few worker threads serve them in turn (round robin).
Keys are forgotten as soon as nothing of theirs waits, so memory is bounded by the calls waiting.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class FairPool:
    """Runs blocking calls on ``workers`` threads, one call per key at a time, keys in turn."""

    def __init__(self, workers: int, thread_name_prefix: str = "citebot-engine") -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=thread_name_prefix
        )
        self._free = workers
        self._waiting: dict[Hashable, deque[_Job]] = {}
        self._ring: deque[Hashable] = deque()  # keys with a waiting call and none running
        self._running: set[Hashable] = set()

    async def run(self, key: Hashable, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread when ``key``'s turn comes; returns its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queue = self._waiting.setdefault(key, deque())
        queue.append((fn, args, future))
        if len(queue) == 1 and key not in self._running:
            self._ring.append(key)
        self._dispatch()
        return await future

    def waiting(self) -> int:
        """Calls waiting for a worker (not counting those running)."""
        return sum(len(q) for q in self._waiting.values())

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._free and self._ring:
            key = self._ring.popleft()
            queue = self._waiting[key]
            fn, args, future = queue.popleft()
            if not queue:
                del self._waiting[key]
            if future.cancelled():  # its asker went away while it waited
                if key in self._waiting:
                    self._ring.append(key)
                continue
            self._free -= 1
            self._running.add(key)
            done = loop.run_in_executor(self._executor, fn, *args)
            done.add_done_callback(functools.partial(self._finished, key, future))

    def _finished(
        self, key: Hashable, future: asyncio.Future[Any], done: asyncio.Future[Any]
    ) -> None:
        self._free += 1
        self._running.discard(key)
        if not future.cancelled():
            error = None if done.cancelled() else done.exception()
            if done.cancelled():
                future.cancel()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())
        if key in self._waiting:
            self._ring.append(key)  # behind every key that waited meanwhile
        self._dispatch()

    def shutdown(self) -> None:
        """Stop the workers after the calls running now; drop the waiting ones."""
        for queue in self._waiting.values():
            for _, _, future in queue:
                future.cancel()
        self._waiting.clear()
        self._ring.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
