"""What the handlers share: settings, the engine and its fair worker pool, the bot's state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from bot.models import Conversation, Reply
from bot.settings import Settings
from bot.telegram.builds import BuildQueue
from bot.telegram.fair import FairPool
from bot.telegram.state.bot_state import BotState

T = TypeVar("T")


class AnsweringEngine(Protocol):
    """The part of ``bot.engine.Engine`` the bot uses (blocking calls, safe from worker threads)."""

    def ask(self, question: str, conversation: Conversation = ...) -> Reply: ...

    def paragraph(self, article_id: str, number: int) -> Any: ...

    def stats(self) -> Any: ...

    def latest_articles(self, n: int) -> Sequence[Any]: ...

    def refresh(self) -> bool: ...

    def paragraph_count(self, article_id: str) -> int: ...


@dataclass
class Services:
    """The bot's dependencies, passed to every handler class."""

    settings: Settings
    engine: AnsweringEngine
    state: BotState
    pool: FairPool
    # Index builds (scheduled refreshes, /add, uploads, /remove), one at a time.
    builds: BuildQueue
    # Fire-and-forget tasks (typing indicators, replays after a restart), referenced until done
    # so they are not collected.
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    async def run(self, fn: Callable[..., T], *args: Any, key: Hashable = "bot") -> T:
        """Run a blocking engine call off the event loop, in ``key``'s turn (the asking user's:
        each user has one call running at most, and users take turns for the workers)."""
        return await self.pool.run(key, fn, *args)
