"""Sending HTML messages (split to Telegram's limit) and the "typing…" indicator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.telegram.html_render import split_html

log = logging.getLogger(__name__)

# Telegram shows "typing…" for about five seconds per chat action.
TYPING_EVERY = 4.5


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
        sent.append(
            await bot.send_message(
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
        )
    return sent


async def reply_html(bot: Bot, message: Message, html: str) -> list[Message]:
    """Answer ``message`` with HTML, in its topic."""
    return await send_html(
        bot, message.chat_id, html, reply_to=message.message_id, topic_id=topic_of(message)
    )


@contextlib.asynccontextmanager
async def typing(
    bot: Bot, chat_id: int, topic_id: int, background: set[asyncio.Task[None]]
) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""
    done = asyncio.Event()

    async def keep_typing() -> None:
        while not done.is_set():
            try:
                await bot.send_chat_action(
                    chat_id, ChatAction.TYPING, message_thread_id=topic_id or None
                )
            except TelegramError as exc:
                log.debug("chat action failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), TYPING_EVERY)

    # Not cancelled at the end, which would cut a request off mid-flight: it stops by itself.
    task = asyncio.create_task(keep_typing())
    background.add(task)
    task.add_done_callback(background.discard)
    try:
        yield
    finally:
        done.set()
