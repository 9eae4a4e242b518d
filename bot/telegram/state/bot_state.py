"""The bot's state for the event loop: every call is one hop onto the state's worker thread.

All access goes through that one thread (the way datasette serialises writes), so the event
loop never waits on the disk and SQLite sees a single connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.telegram.state.answers import StoredAnswer
from bot.telegram.state.stats import QuestionStats
from bot.telegram.state.store import Claim, Delivered, StateStore
from bot.telegram.state.threads import Asked

T = TypeVar("T")


class BotState:
    """``StateStore`` on its own worker thread, with awaitable methods."""

    def __init__(self, path: str | Path, ttl_hours: float, stats_retention_days: float) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-state")
        self._store = self._executor.submit(
            StateStore, path, ttl_hours, stats_retention_days
        ).result()

    async def _run(self, method: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, method, *args)

    async def claim(self, asked: Asked) -> Claim:
        """The thread a question continues, and its answer's id (``StateStore.claim``)."""
        return await self._run(self._store.claim, asked)

    async def record(self, delivered: Delivered) -> int:
        """Keep an answered question (``StateStore.record``); returns its thread id."""
        return await self._run(self._store.record, delivered)

    async def link_messages(self, chat_id: int, thread_id: int, message_ids: Sequence[int]) -> None:
        """Remember that the bot's messages belong to a thread."""
        await self._run(self._store.link_messages, chat_id, thread_id, message_ids)

    async def forget_current(self, chat_id: int, topic_id: int) -> bool:
        """Start afresh: the next question of this chat begins a new thread."""
        return await self._run(self._store.forget_current, chat_id, topic_id)

    async def answer(self, answer_id: int) -> StoredAnswer | None:
        """A live answer's sources."""
        return await self._run(self._store.answer, answer_id)

    async def mark_more_shown(self, answer_id: int) -> bool:
        """Mark an answer's further results as shown; False if they already were."""
        return await self._run(self._store.mark_more_shown, answer_id)

    async def question_stats(self) -> QuestionStats:
        """What /stats reports."""
        return await self._run(self._store.question_stats)

    async def claim_update(self, update_id: int, payload: str) -> bool:
        """Journal an update; False if it was received before."""
        return await self._run(self._store.claim_update, update_id, payload)

    async def finish_update(self, update_id: int) -> None:
        """Mark an update handled."""
        await self._run(self._store.finish_update, update_id)

    async def unfinished_updates(
        self, max_attempts: int
    ) -> tuple[list[tuple[int, str]], list[int]]:
        """Updates to handle again after a restart, and those given up."""
        return await self._run(self._store.unfinished_updates, max_attempts)

    async def purge(self) -> int:
        """Delete what has expired; returns how many threads went."""
        return await self._run(self._store.purge)

    def close(self) -> None:
        """Close the database and stop the worker."""
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
