"""The bot's update handlers: questions, commands and the buttons under answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from html import escape
from typing import Any, Protocol, TypeVar

from telegram import (
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.models import Conversation, Reply
from bot.settings import Settings
from bot.telegram import buttons
from bot.telegram.addressing import command_argument, group_question, real_reply_target
from bot.telegram.html_render import (
    render_answer,
    render_context,
    render_more,
    render_paragraph,
    source_refs,
    split_html,
)
from bot.telegram.limits import QuestionLimiter
from bot.telegram.threads import AsyncThreadStore, StoredThread

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPIRED = "This button has expired. Ask the question again."
GONE = "That passage is no longer in the index."
SORRY = "Sorry, something went wrong while answering. Please try again in a moment."
NOT_HERE = "Sorry, this bot is not available in this chat."
ASK_HOW = "Ask me a question, e.g. <code>/ask When did the bridge open?</code>"
# Telegram shows "typing…" for about five seconds per chat action.
TYPING_EVERY = 4.5


class ArticleSummary(Protocol):
    """What /sources shows about an article."""

    article_id: str
    title: str
    url: str | None
    date: str | None
    paragraphs: int


class AnsweringEngine(Protocol):
    """The part of ``bot.engine.Engine`` the bot uses (blocking calls, safe from worker threads)."""

    def ask(self, question: str, conversation: Conversation = ...) -> Reply: ...

    def paragraph(self, article_id: str, number: int) -> Any: ...

    def stats(self) -> Any: ...

    def latest_articles(self, n: int) -> Sequence[Any]: ...

    def refresh(self) -> bool: ...


START_TEXT = """<b>I answer questions about my articles with verbatim quotes and numbered sources.</b>
I never make things up: if the articles don't say, I say so.

<b>In a private chat</b> just send me a question. Follow-up questions continue the conversation (“and when did it open?”); /new starts a fresh one.

<b>In a group</b> mention me (<code>@{username} your question</code>), use <code>/ask your question</code>, or reply to one of my answers to follow up on it. I ignore everything else.

The buttons under an answer show each source's full paragraph (and its neighbours), and <b>More results</b> shows what else I found.
/sources lists the articles I know. /help shows this again."""

HELP_TEXT = """<b>Commands</b>
/ask <i>question</i> – ask a question (in groups also: mention me, or reply to my answer)
/new – forget this chat's conversation and start afresh
/sources – the articles I answer from
/help – this help
/start – what I am

In a private chat every message is a question; replies to my answers are follow-ups."""


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


def topic_of(message: Message) -> int:
    """The forum topic of a message, 0 outside forum topics."""
    return message.message_thread_id or 0 if message.is_topic_message else 0


class Handlers:
    """The bot's handlers, bound to the engine, the thread store and the limits."""

    def __init__(
        self,
        settings: Settings,
        engine: AnsweringEngine,
        store: AsyncThreadStore,
        pool: ThreadPoolExecutor,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._store = store
        self._pool = pool
        self._limiter = QuestionLimiter(settings.telegram.questions_per_minute)
        self._locks = KeyedLocks()
        self._allowed = frozenset(settings.telegram.allowed_chats)
        self._admins = frozenset(settings.telegram.admin_users)
        self._background: set[asyncio.Task[None]] = set()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking engine call on the engine's worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # --- access ----------------------------------------------------------------------------------

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop updates from chats outside the allow-list (when one is configured)."""
        chat = update.effective_chat
        if not self._allowed or (chat is not None and chat.id in self._allowed):
            return
        if update.callback_query is not None:
            await update.callback_query.answer(NOT_HERE)
        elif chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
            await update.effective_message.reply_text(NOT_HERE)
        raise ApplicationHandlerStop

    # --- sending ---------------------------------------------------------------------------------

    async def _send(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        html: str,
        *,
        reply_to: int | None,
        topic_id: int,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> list[Message]:
        """Send HTML as one or more messages; the first replies to ``reply_to``, the last has
        the keyboard."""
        chunks = split_html(html)
        sent = []
        for i, chunk in enumerate(chunks):
            sent.append(
                await context.bot.send_message(
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

    async def _reply(self, context: ContextTypes.DEFAULT_TYPE, message: Message, html: str) -> None:
        await self._send(
            context, message.chat_id, html, reply_to=message.message_id, topic_id=topic_of(message)
        )

    @contextlib.asynccontextmanager
    async def _typing(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, topic_id: int
    ) -> AsyncIterator[None]:
        """Show "typing…" until the block ends."""
        done = asyncio.Event()

        async def keep_typing() -> None:
            while not done.is_set():
                try:
                    await context.bot.send_chat_action(
                        chat_id, ChatAction.TYPING, message_thread_id=topic_id or None
                    )
                except TelegramError as exc:
                    log.debug("chat action failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), TYPING_EVERY)

        # Not cancelled at the end: that would cut a request off mid-flight. It stops by itself.
        task = asyncio.create_task(keep_typing())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            yield
        finally:
            done.set()

    # --- questions -------------------------------------------------------------------------------

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A text message: a question in private chats; in groups only when addressed to the bot."""
        message = update.message
        if message is None or message.text is None:
            return
        if message.chat.type == ChatType.PRIVATE:
            await self._answer(context, message, message.text.strip())
            return
        question = group_question(message, context.bot.username, context.bot.id)
        if question is not None:
            await self._answer(context, message, question)

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/ask question`` (also ``/ask@bot``); as a reply without text, asks the replied message."""
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
            thread = await store.call(store.sync.thread_of_message, message.chat_id, target.message_id)
            if thread is not None and thread.topic_id == topic_of(message):
                return thread
        if message.chat.type == ChatType.PRIVATE:
            return await store.call(store.sync.current_thread, message.chat_id, topic_of(message))
        return None

    async def _answer(self, context: ContextTypes.DEFAULT_TYPE, message: Message, question: str) -> None:
        started = time.perf_counter()
        if not question:
            await self._reply(context, message, ASK_HOW)
            return
        user_id = message.from_user.id if message.from_user else message.chat_id
        wait = self._limiter.wait_seconds(user_id)
        if wait:
            await self._reply(
                context,
                message,
                f"You're asking faster than I can answer. Please ask again in {wait} s.",
            )
            return
        # Questions of one thread are answered in order, so each sees the turn before it.
        if message.chat.type == ChatType.PRIVATE:
            async with self._locks.hold(("chat", message.chat_id)):
                reply = await self._answer_in_thread(context, message, question, await self._thread_for(message))
        else:
            thread = await self._thread_for(message)
            if thread is None:
                reply = await self._answer_in_thread(context, message, question, None)
            else:
                async with self._locks.hold(("thread", thread.thread_id)):
                    # Re-read: a question answered while this one waited changed the conversation.
                    thread = await self._store.call(self._store.sync.thread, thread.thread_id) or thread
                    reply = await self._answer_in_thread(context, message, question, thread)
        answer = reply.answer
        seconds = time.perf_counter() - started
        await self._store.call(self._store.sync.log_question, seconds, answer.abstained)
        log.info(
            "answered chat=%s abstained=%s citations=%d in %.2fs",
            message.chat_id, answer.abstained, len(answer.citations), seconds,
        )

    async def _answer_in_thread(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        message: Message,
        question: str,
        thread: StoredThread | None,
    ) -> Reply:
        """Ask the engine with the thread's history, remember the turn and send the answer."""
        conversation = thread.conversation if thread else Conversation()
        async with self._typing(context, message.chat_id, topic_of(message)):
            reply = await self._run(self._engine.ask, question, conversation)
        await self._deliver(context, message, thread, reply)
        return reply

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
        refs = source_refs(answer)
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
        sent = await self._send(
            context,
            message.chat_id,
            render_answer(answer, refs),
            reply_to=message.message_id,
            topic_id=topic_of(message),
            keyboard=keyboard,
        )
        await store.call(store.sync.link_messages, message.chat_id, thread_id, [m.message_id for m in sent])

    # --- buttons ---------------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Source, Context and More buttons: only ever show what an answer in this chat cited."""
        query = update.callback_query
        if query is None:
            return
        press = buttons.decode(query.data)
        message = query.message
        store = self._store
        stored = await store.call(store.sync.answer, press.answer_id) if press else None
        if (
            press is None
            or message is None
            or stored is None
            or stored.chat_id != message.chat.id
            or press.index >= len(stored.refs)
        ):
            await query.answer(EXPIRED)
            return
        topic_id = topic_of(message) if isinstance(message, Message) else 0
        if press.kind == buttons.SOURCE:
            ref = stored.refs[press.index]
            sent = await self._send(
                context,
                message.chat.id,
                render_paragraph(ref),
                reply_to=message.message_id,
                topic_id=topic_id,
                keyboard=buttons.context_keyboard(stored.answer_id, press.index),
            )
        elif press.kind == buttons.CONTEXT:
            sent = await self._show_context(context, query, stored.refs[press.index], topic_id)
            if sent is None:
                await query.answer(GONE)
                return
        else:
            if not await store.call(store.sync.mark_more_shown, stored.answer_id):
                await query.answer("Already shown above.")
                return
            more = stored.refs[stored.cited :]
            sent = await self._send(
                context,
                message.chat.id,
                render_more(more),
                reply_to=message.message_id,
                topic_id=topic_id,
                keyboard=buttons.more_keyboard(stored.answer_id, stored.cited, [r.n for r in more]),
            )
        await query.answer()
        await store.call(store.sync.link_messages, message.chat.id, stored.thread_id, [m.message_id for m in sent])

    async def _show_context(
        self, context: ContextTypes.DEFAULT_TYPE, query: Any, ref: Any, topic_id: int
    ) -> list[Message] | None:
        """Replace the paragraph message by the paragraph with its neighbours."""
        current = await self._run(self._engine.paragraph, ref.article_id, ref.paragraph)
        if current is None:
            return None
        before = await self._run(self._engine.paragraph, ref.article_id, ref.paragraph - 1)
        after = await self._run(self._engine.paragraph, ref.article_id, ref.paragraph + 1)
        chunks = split_html(
            render_context(ref, before.text if before else None, after.text if after else None)
        )
        message = query.message
        sent: list[Message] = []
        if isinstance(message, Message):
            edited = await query.edit_message_text(
                chunks[0],
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=None,
            )
            if isinstance(edited, Message):
                sent.append(edited)
            chunks = chunks[1:]
        for chunk in chunks:
            sent.extend(
                await self._send(
                    context, message.chat.id, chunk, reply_to=message.message_id, topic_id=topic_id
                )
            )
        return sent

    # --- commands --------------------------------------------------------------------------------

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start: what the bot is and how to use it."""
        if update.message:
            await self._reply(context, update.message, START_TEXT.format(username=escape(context.bot.username)))

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: the commands."""
        if update.message:
            await self._reply(context, update.message, HELP_TEXT)

    async def on_new(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/new: forget the chat's current conversation."""
        message = update.message
        if message is None:
            return
        if message.chat.type != ChatType.PRIVATE:
            await self._reply(
                context, message, "In groups every question starts afresh unless it replies to one of my answers."
            )
            return
        await self._store.call(self._store.sync.forget_current, message.chat_id, topic_of(message))
        await self._reply(context, message, "Done: your next question starts a new conversation.")

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/sources: how many articles, the latest ones, when the index was built."""
        message = update.message
        if message is None:
            return
        stats = await self._run(self._engine.stats)
        latest = await self._run(self._engine.latest_articles, 5)
        lines = [
            f"<b>{_count(stats.articles, 'article')}</b>, {_count(stats.paragraphs, 'paragraph')}; "
            f"index built {escape(_when(stats.built_at))}."
        ]
        if latest:
            lines.append("\n<b>Latest</b>")
        for article in latest:
            title = escape(article.title or article.article_id)
            if article.url and str(article.url).startswith(("http://", "https://")):
                title = f'<a href="{escape(article.url, quote=True)}">{title}</a>'
            lines.append(f"• {title}" + (f" · {escape(article.date)}" if article.date else ""))
        await self._reply(context, message, "\n".join(lines))

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats (admins only): questions, abstentions, latency."""
        message = update.message
        if message is None:
            return
        if message.from_user is None or message.from_user.id not in self._admins:
            await self._reply(context, message, "Only the bot's admins can see /stats.")
            return
        s = await self._store.call(self._store.sync.question_stats)
        share = f"{100.0 * s.abstentions / s.questions:.0f}%" if s.questions else "0%"
        since = f" since {_when(datetime.fromtimestamp(s.since, timezone.utc).isoformat())}" if s.since else ""
        await self._reply(
            context,
            message,
            f"<b>Questions</b>: {s.questions}{escape(since)}\n"
            f"<b>Abstentions</b>: {s.abstentions} ({share})\n"
            f"<b>Latency</b>: p50 {s.p50_seconds:.2f} s · p95 {s.p95_seconds:.2f} s",
        )

    # --- errors ----------------------------------------------------------------------------------

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error with its context; tell the user briefly, never with a traceback."""
        chat = user = None
        if isinstance(update, Update):
            chat = update.effective_chat.id if update.effective_chat else None
            user = update.effective_user.id if update.effective_user else None
        log.error(
            "error handling update %s (chat %s, user %s)",
            update.update_id if isinstance(update, Update) else None, chat, user,
            exc_info=context.error,
        )
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(SORRY)
            elif update.message is not None:
                await update.message.reply_text(
                    SORRY, reply_parameters=ReplyParameters(update.message.message_id, allow_sending_without_reply=True)
                )
        except TelegramError as exc:
            log.warning("could not tell the user about the error: %s", exc)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _when(iso: str) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM UTC`` (as given when it does not parse)."""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M") + " UTC"
