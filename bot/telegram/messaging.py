"""Sending HTML messages (split to Telegram's limit, retried over network faults) and the
"typing…" indicator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TelegramError

from bot.telegram.html_render import split_html

log = logging.getLogger(__name__)

# Telegram shows "typing…" for about five seconds per chat action.
TYPING_EVERY = 4.5
# Answers faster than this need no "typing…": every chat action counts against Telegram's
# per-chat message rate (one a second in private chats, 20 a minute in groups) and delays answers.
TYPING_AFTER = 1.0
# With more questions than this being answered at once, no "typing…" at all: chat actions would
# spend the 30 messages a second Telegram allows a bot, which the answers need.
BUSY_QUESTIONS = 20
# Pauses before sending a message again after a network fault, a 5xx or a timeout. A timed-out
# message may have arrived after all; a rare duplicate beats an answer that never comes.
SEND_RETRY_PAUSES = (0.5, 2.0)


# Bad Request descriptions that mean the chat cannot be written to any more.
_GONE = ("chat not found", "not enough rights", "have no rights", "topic_closed",
         "thread not found", "group chat was upgraded", "chat_write_forbidden")


def undeliverable(exc: BaseException) -> bool:
    """Whether ``exc`` means the bot cannot write to the chat (kicked, blocked, chat deleted, no
    rights): nothing to retry and nobody to apologise to."""
    if isinstance(exc, (Forbidden, ChatMigrated)):
        return True
    return isinstance(exc, BadRequest) and any(g in exc.message.lower() for g in _GONE)


def not_modified(exc: BaseException) -> bool:
    """Whether ``exc`` says an edit changed nothing (the message already shows it)."""
    return isinstance(exc, BadRequest) and "message is not modified" in exc.message.lower()


def stale_button(exc: BaseException) -> bool:
    """Whether ``exc`` says a button press is too old to answer (Telegram allows a few seconds
    to acknowledge one; a press handled after a restart may be past that)."""
    return isinstance(exc, BadRequest) and "query is too old" in exc.message.lower()


def topic_of(message: Message) -> int:
    """The forum topic of a message, 0 outside forum topics."""
    return message.message_thread_id or 0 if message.is_topic_message else 0


async def send_html(
    bot: Bot,
    chat_id: int,
    html: str,
    *,
    reply_to: int | None,
    topic_id: int,
    keyboard: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send HTML as one or more messages; the first replies to ``reply_to``, the last carries
    the keyboard. Link previews are off: sources are listed, not advertised."""
    chunks = split_html(html)
    sent = []
    for i, chunk in enumerate(chunks):
        for pause in (*SEND_RETRY_PAUSES, None):
            try:
                message = await bot.send_message(
                    chat_id=chat_id,
                    text=chunk,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    message_thread_id=topic_id or None,
                    reply_parameters=(
                        ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                        if reply_to is not None and i == 0
                        else None
                    ),
                    reply_markup=keyboard if i == len(chunks) - 1 else None,
                )
                break
            except NetworkError as exc:  # connection faults, timeouts and 5xx answers
                if pause is None or isinstance(exc, BadRequest):
                    raise
                log.warning("sending to chat %s failed (%s); retrying in %s s", chat_id, exc, pause)
                await asyncio.sleep(pause)
        sent.append(message)
    return sent


async def reply_html(bot: Bot, message: Message, html: str) -> list[Message]:
    """Answer ``message`` with HTML, in its topic."""
    return await send_html(
        bot, message.chat_id, html, reply_to=message.message_id, topic_id=topic_of(message)
    )


class Typing:
    """"typing…" indicators: one per chat (and topic) however many questions it waits for."""

    def __init__(
        self, background: set[asyncio.Task[Any]], busy: Callable[[], bool] = lambda: False
    ) -> None:
        self._background = background
        self._busy = busy
        self._waiting: Counter[Hashable] = Counter()
        self._done: dict[Hashable, asyncio.Event] = {}

    @contextlib.asynccontextmanager
    async def shown(self, bot: Bot, chat_id: int, topic_id: int) -> AsyncIterator[None]:
        """Show "typing…" in the chat, from TYPING_AFTER seconds on, until the block ends."""
        key = (chat_id, topic_id)
        self._waiting[key] += 1
        if key not in self._done:
            done = self._done[key] = asyncio.Event()
            # Not cancelled at the end, which would cut a request off mid-flight: it stops itself.
            task = asyncio.create_task(_keep_typing(bot, chat_id, topic_id, done, self._busy))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        try:
            yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                self._done.pop(key).set()


async def _keep_typing(
    bot: Bot, chat_id: int, topic_id: int, done: asyncio.Event, busy: Callable[[], bool]
) -> None:
    pause = TYPING_AFTER
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), pause)
        if done.is_set():
            return
        if busy():
            pause = TYPING_AFTER
            continue
        try:
            await bot.send_chat_action(
                chat_id, ChatAction.TYPING, message_thread_id=topic_id or None
            )
        except TelegramError as exc:
            log.debug("chat action failed: %s", exc)
        pause = TYPING_EVERY
