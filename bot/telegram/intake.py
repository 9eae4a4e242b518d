"""Each update handled once, even across crashes, and a bound on the updates in the bot.

Telegram forgets an update as soon as the bot asks for the next ones (long polling) or accepts
the webhook call, and python-telegram-bot takes updates as fast as Telegram hands them over. So
every update is journaled in the bot's SQLite state before it is queued, which is before Telegram
can learn the new offset, and marked handled once its handlers are done:

- an update Telegram delivers again (the bot died before Telegram learned the offset) is skipped;
- an update journaled but never handled (the bot died mid-way) is handled after the restart,
  once: one that kills the bot every time is given up rather than retried forever;
- at most ``max_in_flight`` updates are in the bot at once; beyond that the bot stops taking
  updates and Telegram keeps them, so a flood cannot grow the bot's memory without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor

from bot.telegram.state.bot_state import BotState

log = logging.getLogger(__name__)

# An update that was being handled when the bot died is retried once after the restart.
REPLAY_ATTEMPTS = 1


class JournaledQueue(asyncio.Queue[object]):
    """The Application's and Updater's update queue: journals updates, skips redeliveries and
    makes the update source wait while ``max_in_flight`` updates are being handled."""

    def __init__(self, state: BotState, max_in_flight: int) -> None:
        super().__init__()
        self._state = state
        self._slots = asyncio.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight

    async def put(self, item: object) -> None:
        """Queue an update unless it was received before; other items pass straight through."""
        if not isinstance(item, Update):
            await super().put(item)
            return
        if not await self._state.claim_update(item.update_id, item.to_json()):
            log.info("update %s delivered again; it was handled already", item.update_id)
            return
        await self._slots.acquire()
        await super().put(item)

    async def put_unfinished(self, update: Update) -> None:
        """Queue an update journaled before a restart (it is already claimed)."""
        await self._slots.acquire()
        await super().put(update)

    async def finished(self, update: Update, handled: bool) -> None:
        """Free the update's slot; journal it as handled when it was."""
        self._slots.release()
        if handled:
            await self._state.finish_update(update.update_id)


class JournalingProcessor(BaseUpdateProcessor):
    """Runs the handlers of up to ``max_concurrent_updates`` updates at once and journals each
    update as handled when they are done (not when the bot is stopped half way)."""

    def __init__(self, queue: JournaledQueue) -> None:
        super().__init__(queue.max_in_flight)
        self._queue = queue

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the handlers (which never raise: errors go to the error handler)."""
        if not isinstance(update, Update):
            await coroutine
            return
        handled = False
        try:
            await coroutine
            handled = True
        finally:
            await asyncio.shield(self._queue.finished(update, handled))

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


async def replay_unfinished(queue: JournaledQueue, state: BotState, bot: Bot) -> int:
    """Queue the updates received but not handled before the bot stopped; returns how many."""
    retry, given_up = await state.unfinished_updates(REPLAY_ATTEMPTS)
    for update_id in given_up:
        log.warning("update %s failed again after a restart; giving up on it", update_id)
    for update_id, payload in retry:
        try:
            update = Update.de_json(json.loads(payload), bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("update %s cannot be read back (%s); skipped", update_id, exc)
            continue
        await queue.put_unfinished(update)
    if retry:
        log.info("handling %d update(s) received before the restart", len(retry))
    return len(retry)
