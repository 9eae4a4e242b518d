"""Wiring: the bot's handlers, the chat allow-list and the one error handler."""

from __future__ import annotations

import logging

from telegram import ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Conflict, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram.addressing import sent_by_bot
from bot.telegram.admin import AdminHandlers
from bot.telegram.commands import Commands
from bot.telegram.messaging import not_modified, reply_html, stale_button, undeliverable
from bot.telegram.questions import QuestionHandlers
from bot.telegram.services import Services
from bot.telegram.source_buttons import SourceButtons

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong while answering. Please try again in a moment."
NOT_HERE = "Sorry, this bot is not available in this chat."


def register(application: Application, services: Services) -> None:
    """Add every handler of the bot to ``application``."""
    questions = QuestionHandlers(services)
    commands = Commands(services)
    sources = SourceButtons(services)
    admin = AdminHandlers(services)
    allowed = frozenset(services.settings.telegram.allowed_chats)

    async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop everything but new messages from people and button presses, and updates from
        chats outside the allow-list (when one is configured)."""
        if update.message is None and update.callback_query is None:
            # Edits, channel posts...: the bot asks Telegram for none of them, but a Bot API
            # server may send them anyway; an edited "/ask" must not be answered twice.
            raise ApplicationHandlerStop
        if update.message is not None and sent_by_bot(update.message):
            raise ApplicationHandlerStop
        chat = update.effective_chat
        if not allowed or (chat is not None and chat.id in allowed):
            return
        if update.callback_query is not None:
            await update.callback_query.answer(NOT_HERE)
        elif chat is not None and chat.type == ChatType.PRIVATE and update.message is not None:
            await reply_html(context.bot, update.message, NOT_HERE)
        raise ApplicationHandlerStop

    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handler(CommandHandler("start", commands.on_start))
    application.add_handler(CommandHandler("help", commands.on_help))
    application.add_handler(CommandHandler("ask", questions.on_ask))
    application.add_handler(CommandHandler("new", commands.on_new))
    application.add_handler(CommandHandler("sources", commands.on_sources))
    application.add_handler(CommandHandler("stats", commands.on_stats))
    application.add_handler(CommandHandler("add", admin.on_add))
    application.add_handler(CommandHandler("remove", admin.on_remove))
    # Files count only in private chats: in a group they are the members' conversation.
    documents = filters.UpdateType.MESSAGE & filters.Document.ALL & filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(documents, admin.on_document))
    unknown = filters.UpdateType.MESSAGE & filters.COMMAND & filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(unknown, commands.on_unknown))
    text_messages = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(text_messages, questions.on_text))
    application.add_handler(CallbackQueryHandler(sources.on_button))
    application.add_error_handler(on_error)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error with its context; tell the user briefly, never with a traceback."""
    chat = user = update_id = None
    if isinstance(update, Update):
        update_id = update.update_id
        chat = update.effective_chat.id if update.effective_chat else None
        user = update.effective_user.id if update.effective_user else None
    error = context.error
    if update is None and isinstance(error, TelegramError):
        # Fetching updates failed; python-telegram-bot retries with a growing pause.
        if isinstance(error, Conflict):
            log.warning(
                "another process is fetching this bot's updates (409 Conflict): "
                "run one citebot serve per token; retrying"
            )
        else:
            log.warning("fetching updates failed, retrying: %s", error)
        return
    where = f"update {update_id} (chat {chat}, user {user})"
    if error is not None and undeliverable(error):
        # Kicked, blocked, chat gone: expected in a bot's life, and nobody to tell.
        log.warning("%s: cannot write to the chat: %s", where, error)
        return
    if error is not None and (not_modified(error) or stale_button(error)):
        # The message already shows it, or the press is too old to answer: nothing to do.
        log.info("%s: %s", where, error)
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # Telegram unreachable even after retries: one line, the traceback says nothing more.
        log.warning("%s: Telegram unreachable: %s", where, error)
    else:
        log.error("error handling %s", where, exc_info=error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(SORRY)
        elif update.message is not None:
            await update.message.reply_text(
                SORRY,
                reply_parameters=ReplyParameters(
                    update.message.message_id, allow_sending_without_reply=True
                ),
            )
    except TelegramError as exc:
        log.warning("could not tell the user about the error: %s", exc)
