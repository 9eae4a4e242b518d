"""The bot's commands: /start, /help, /new, /sources and the admins' /stats (their /add and
/remove are in ``bot.telegram.admin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

import index
from bot.telegram.messaging import reply_html, topic_of
from bot.telegram.services import Services
from bot.telegram.source_list import render_sources, when

START_TEXT = (
    "<b>I answer questions about my articles with verbatim quotes and numbered sources.</b>\n"
    "I never make things up: if the articles don't say, I say so.\n\n"
    "<b>In a private chat</b> just send me a question. Follow-up questions continue the "
    "conversation (“and when did it open?”); /new starts a fresh one.\n\n"
    "<b>In a group</b> mention me (<code>@{username} your question</code>), use "
    "<code>/ask your question</code>, or reply to one of my answers to follow up on it. "
    "I ignore everything else.\n\n"
    "The buttons under an answer show each source's full paragraph (and its neighbours), and "
    "<b>More results</b> shows what else I found.\n"
    "/sources lists the articles I know. /help shows this again."
)

HELP_TEXT = (
    "<b>Commands</b>\n"
    "/ask <i>question</i> – ask a question (in groups also: mention me, or reply to my answer)\n"
    "/new – forget this chat's conversation and start afresh\n"
    "/sources – the articles I answer from\n"
    "/help – this help\n"
    "/start – what I am\n\n"
    "In a private chat every message is a question; replies to my answers are follow-ups."
)

ADMIN_HELP = (
    "\n\n<b>Admins</b> (in a private chat)\n"
    "/add <i>link</i> – fetch a page or file and index it\n"
    "Send a file (PDF, Word, HTML, Markdown, text) – index it; the same file name again "
    "replaces it\n"
    "/remove <i>id</i> – take an added page or file out (/sources shows the ids)\n"
    "/stats – questions, abstentions, latency"
)


class Commands:
    """Command handlers."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._state = services.state
        self._admins = frozenset(services.settings.telegram.admin_users)

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start: what the bot is and how to use it."""
        if update.message:
            text = START_TEXT.format(username=escape(context.bot.username))
            await reply_html(context.bot, update.message, text)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help: the commands."""
        message = update.message
        if message:
            admin = message.from_user is not None and message.from_user.id in self._admins
            await reply_html(context.bot, message, HELP_TEXT + (ADMIN_HELP if admin else ""))

    async def on_new(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/new: forget the chat's current conversation."""
        message = update.message
        if message is None:
            return
        if message.chat.type != ChatType.PRIVATE:
            await reply_html(
                context.bot,
                message,
                "In groups every question starts afresh unless it replies to one of my answers.",
            )
            return
        await self._state.forget_current(message.chat_id, topic_of(message))
        await reply_html(
            context.bot, message, "Done: your next question starts a new conversation."
        )

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not have (private chats only: in groups it is another bot's)."""
        if update.message:
            await reply_html(
                context.bot, update.message, "I don't know that command. /help lists mine."
            )

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/sources: articles and paragraphs, the latest ones, when the index was built, and each
        source (folder, feed, added page, upload) with its last refresh."""
        message = update.message
        if message is None:
            return
        run, key = self._services.run, message.chat_id
        stats = await run(self._services.engine.stats, key=key)
        latest = await run(self._services.engine.latest_articles, 5, key=key)
        # index.source_status, looked up here: the web sources' modules load at the first /sources.
        statuses = await run(index.source_status, self._services.settings.knowledge_base, key=key)
        admin = message.from_user is not None and message.from_user.id in self._admins
        await reply_html(
            context.bot, message, render_sources(stats, latest, statuses, admin=admin)
        )

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stats (admins only): questions, abstentions, latency."""
        message = update.message
        if message is None:
            return
        if message.from_user is None or message.from_user.id not in self._admins:
            await reply_html(context.bot, message, "Only the bot's admins can see /stats.")
            return
        s = await self._state.question_stats()
        share = f"{100.0 * s.abstentions / s.questions:.0f}%" if s.questions else "0%"
        since = ""
        if s.since is not None:
            since = f" since {when(datetime.fromtimestamp(s.since, UTC).isoformat())}"
        await reply_html(
            context.bot,
            message,
            f"<b>Questions</b>: {s.questions}{escape(since)}\n"
            f"<b>Abstentions</b>: {s.abstentions} ({share})\n"
            f"<b>Latency</b>: p50 {s.p50_seconds:.2f} s · p95 {s.p95_seconds:.2f} s",
        )

