"""Questions: which messages are questions, which thread they continue, and the answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Hashable

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.models import Conversation, Reply
from bot.telegram import buttons
from bot.telegram.addressing import (
    asker,
    command_argument,
    group_question,
    private_question,
    real_reply_target,
)
from bot.telegram.html_render import numbered_sources, render_answer
from bot.telegram.limits import QuestionLimiter
from bot.telegram.messaging import BUSY_QUESTIONS, Typing, reply_html, send_html, topic_of
from bot.telegram.services import Services
from bot.telegram.threads import StoredThread

log = logging.getLogger(__name__)

ASK_HOW = "Ask me a question, e.g. <code>/ask When was the Rosetta Stone found?</code>"


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: Counter[Hashable] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock for ``key``."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


class QuestionHandlers:
    """Answers questions, keeping each conversation thread's history."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._store = services.store
        self._limiter = QuestionLimiter(services.settings.telegram.questions_per_minute)
        self._locks = KeyedLocks()
        self._answering = 0  # questions past the rate limit, not yet answered
        self._typing = Typing(services.background, lambda: self._answering > BUSY_QUESTIONS)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A text message: a question in private chats; in groups only when addressed to the bot."""
        message = update.message
        if message is None or message.text is None:
            return
        if message.chat.type == ChatType.PRIVATE:
            question = private_question(message, context.bot.username, context.bot.id)
            await self._answer(context, message, question)
            return
        question = group_question(message, context.bot.username, context.bot.id)
        if question is not None:
            await self._answer(context, message, question)

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/ask question`` (also ``/ask@bot``); as a bare reply, asks the replied message."""
        message = update.message
        if message is None:
            return
        question = command_argument(message)
        target = real_reply_target(message)
        if not question and target is not None and target.text and target.from_user is not None:
            if target.from_user.id != context.bot.id:
                question = target.text.strip()
        await self._answer(context, message, question)

    async def _thread_for(self, message: Message) -> StoredThread | None:
        """The thread a question continues: the one it replies into, else (private) the chat's."""
        store = self._store
        target = real_reply_target(message)
        if target is not None:
            thread = await store.call(
                store.sync.thread_of_message, message.chat_id, target.message_id
            )
            if thread is not None and thread.topic_id == topic_of(message):
                return thread
        if message.chat.type == ChatType.PRIVATE:
            return await store.call(store.sync.current_thread, message.chat_id, topic_of(message))
        return None

    async def _answer(
        self, context: ContextTypes.DEFAULT_TYPE, message: Message, question: str
    ) -> None:
        started = time.perf_counter()
        if not question:
            await reply_html(context.bot, message, ASK_HOW)
            return
        user_id = asker(message)
        wait = self._limiter.wait_seconds(user_id)
        if wait:
            if self._limiter.should_tell(user_id):
                await reply_html(
                    context.bot,
                    message,
                    f"You're asking faster than I can answer. Please ask again in {wait} s.",
                )
            return
        self._answering += 1
        try:
            reply = await self._answer_in_order(context, message, question)
        finally:
            self._answering -= 1
        answer = reply.answer
        seconds = time.perf_counter() - started
        await self._store.call(self._store.sync.log_question, seconds, answer.abstained)
        log.info(
            "answered chat=%s abstained=%s citations=%d in %.2fs",
            message.chat_id, answer.abstained, len(answer.citations), seconds,
        )

    async def _answer_in_order(
        self, context: ContextTypes.DEFAULT_TYPE, message: Message, question: str
    ) -> Reply:
        """Questions of one thread are answered in order, so each sees the turn before it."""
        if message.chat.type == ChatType.PRIVATE:
            async with self._locks.hold(("chat", message.chat_id)):
                thread = await self._thread_for(message)
                return await self._answer_in_thread(context, message, question, thread)
        thread = await self._thread_for(message)
        if thread is None:
            return await self._answer_in_thread(context, message, question, None)
        async with self._locks.hold(("thread", thread.thread_id)):
            # Re-read: a question answered while this one waited changed the conversation.
            latest = await self._store.call(self._store.sync.thread, thread.thread_id)
            return await self._answer_in_thread(context, message, question, latest or thread)

    async def _answer_in_thread(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        message: Message,
        question: str,
        thread: StoredThread | None,
    ) -> Reply:
        """Ask the engine with the thread's history, remember the turn and send the answer."""
        conversation = thread.conversation if thread else Conversation()
        if thread is not None and await self._answered_before(message, question, thread):
            # Handled again after a crash that came between remembering the turn and sending
            # the answer: the turn is this question's own, not history to follow up on.
            conversation = Conversation(turns=conversation.turns[:-1])
        async with self._typing.shown(context.bot, message.chat_id, topic_of(message)):
            reply = await self._services.run(
                self._services.engine.ask, question, conversation, key=asker(message)
            )
        await self._deliver(context, message, thread, reply)
        return reply

    async def _answered_before(self, message: Message, question: str, thread: StoredThread) -> bool:
        """Whether the thread's last turn is this very message's (already remembered)."""
        turns = thread.conversation.turns
        if not turns or turns[-1].question != question:
            return False
        store = self._store
        linked = await store.call(store.sync.thread_of_message, message.chat_id, message.message_id)
        return linked is not None and linked.thread_id == thread.thread_id

    async def _deliver(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        message: Message,
        thread: StoredThread | None,
        reply: Reply,
    ) -> None:
        """Remember the turn and the answer's sources, then send the answer."""
        private = message.chat.type == ChatType.PRIVATE
        answer = reply.answer
        refs = numbered_sources(answer)
        store = self._store
        thread_id, answer_id = await store.call(
            store.sync.record_answer,
            chat_id=message.chat_id,
            topic_id=topic_of(message),
            thread_id=thread.thread_id if thread else None,
            conversation=reply.conversation,
            question_message_id=message.message_id,
            refs=refs,
            cited=len(answer.citations),
            make_current=private,
        )
        numbers = [] if answer.abstained else [r.n for r in refs[: len(answer.citations)]]
        keyboard = buttons.answer_keyboard(answer_id, numbers, has_more=bool(answer.more))
        sent = await send_html(
            context.bot,
            message.chat_id,
            render_answer(answer, refs),
            reply_to=message.message_id,
            topic_id=topic_of(message),
            keyboard=keyboard,
        )
        ids = [m.message_id for m in sent]
        await store.call(store.sync.link_messages, message.chat_id, thread_id, ids)

