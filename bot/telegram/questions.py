"""Questions: which messages are questions, which thread they continue, and the answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from typing import Any

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
from bot.telegram.state.store import Claim, Delivered
from bot.telegram.state.threads import Asked

log = logging.getLogger(__name__)

ASK_HOW = "Ask me a question, e.g. <code>/ask When was the Rosetta Stone found?</code>"


@dataclass(frozen=True)
class _Question:
    """A question being answered: its message and text, where it was asked, and since when."""

    message: Message
    text: str
    asked: Asked
    started: float


def _question(message: Message, text: str, started: float) -> _Question:
    target = real_reply_target(message)
    asked = Asked(
        chat_id=message.chat_id,
        topic_id=topic_of(message),
        message_id=message.message_id,
        reply_to=target.message_id if target is not None else None,
        private=message.chat.type == ChatType.PRIVATE,
    )
    return _Question(message, text, asked, started)


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it, and a note its
    holder may leave for the next holder (kept as long as the lock)."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: Counter[Hashable] = Counter()
        self._notes: dict[Hashable, Any] = {}

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
                self._notes.pop(key, None)

    def note(self, key: Hashable, value: Any) -> None:
        """Leave ``value`` for the next holder of ``key``'s lock (call while holding it)."""
        self._notes[key] = value

    def noted(self, key: Hashable) -> Any:
        """What an earlier holder of ``key``'s lock left, if anyone is still waiting for it."""
        return self._notes.get(key)


class QuestionHandlers:
    """Answers questions, keeping each conversation thread's history."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._state = services.state
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
        addressed = group_question(message, context.bot.username, context.bot.id)
        if addressed is not None:
            await self._answer(context, message, addressed)

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
            await self._answer_in_order(context, _question(message, question, started))
        finally:
            self._answering -= 1

    async def _answer_in_order(
        self, context: ContextTypes.DEFAULT_TYPE, question: _Question
    ) -> None:
        """Questions of one thread are answered in order, so each sees the turn before it."""
        message = question.message
        if question.asked.private:
            async with self._locks.hold(("chat", message.chat_id)):
                claim = await self._state.claim(question.asked)
                conversation = claim.thread.conversation if claim.thread else Conversation()
                await self._answer_in_thread(context, question, claim, conversation)
            return
        claim = await self._state.claim(question.asked)
        if claim.thread is None:
            await self._answer_in_thread(context, question, claim, Conversation())
            return
        key = ("thread", claim.thread.thread_id)
        async with self._locks.hold(key):
            # A question answered while this one waited changed the conversation.
            noted = self._locks.noted(key)
            conversation = claim.thread.conversation if noted is None else noted
            reply = await self._answer_in_thread(context, question, claim, conversation)
            self._locks.note(key, reply.conversation)

    async def _answer_in_thread(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        question: _Question,
        claim: Claim,
        conversation: Conversation,
    ) -> Reply:
        """Ask the engine with the thread's history, send the answer and record the turn."""
        message, text = question.message, question.text
        turns = conversation.turns
        if claim.recorded and turns and turns[-1].question == text:
            # Handled again after a crash that came after the turn was recorded: the turn is
            # this question's own, not history to follow up on.
            conversation = Conversation(turns=turns[:-1])
        async with self._typing.shown(context.bot, message.chat_id, topic_of(message)):
            reply = await self._services.run(
                self._services.engine.ask, text, conversation, key=asker(message)
            )
        await self._deliver(context, question, claim, reply)
        return reply

    async def _deliver(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        question: _Question,
        claim: Claim,
        reply: Reply,
    ) -> None:
        """Send the answer, then record the turn, the answer's sources and its messages."""
        message, answer = question.message, reply.answer
        citations = numbered_sources(answer)
        numbers = [] if answer.abstained else [c.n for c in citations[: len(answer.citations)]]
        keyboard = buttons.answer_keyboard(claim.answer_id, numbers, has_more=bool(answer.more))
        sent = await send_html(
            context.bot,
            message.chat_id,
            render_answer(answer, citations),
            reply_to=message.message_id,
            topic_id=topic_of(message),
            keyboard=keyboard,
        )
        seconds = time.perf_counter() - question.started
        await self._state.record(
            Delivered(
                asked=question.asked,
                thread_id=claim.thread.thread_id if claim.thread else None,
                conversation=reply.conversation,
                answer_id=claim.answer_id,
                citations=citations,
                cited=len(answer.citations),
                sent_message_ids=tuple(m.message_id for m in sent),
                seconds=seconds,
                abstained=answer.abstained,
            )
        )
        log.info(
            "answered chat=%s abstained=%s citations=%d in %.2fs",
            message.chat_id, answer.abstained, len(answer.citations), seconds,
        )

