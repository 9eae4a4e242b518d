"""Build and run the python-telegram-bot Application around the answering engine."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.settings import Settings, TelegramSettings
from bot.telegram.handlers import AnsweringEngine, Handlers
from bot.telegram.threads import AsyncThreadStore

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# Engine calls are CPU bound; more workers than cores only make every answer slower.
ENGINE_WORKERS = 2
# Retries after a 429 (the rate limiter waits the retry_after Telegram asks for).
MAX_RETRIES = 3

COMMANDS = [
    BotCommand("ask", "Ask a question about the articles"),
    BotCommand("new", "Start a new conversation"),
    BotCommand("sources", "The articles I answer from"),
    BotCommand("help", "How to use this bot"),
    BotCommand("start", "What this bot is"),
]
ADMIN_COMMANDS = [*COMMANDS, BotCommand("stats", "Questions, abstentions, latency")]


class ServeError(Exception):
    """A problem that stops ``citebot serve``; the message is one actionable line."""


def build_application(settings: Settings, engine: AnsweringEngine, token: str) -> Application:
    """The bot's Application: handlers registered, commands set and index reloads on start."""
    t = settings.telegram
    builder = (
        ApplicationBuilder()
        .token(token)
        .rate_limiter(AIORateLimiter(max_retries=MAX_RETRIES))
        .concurrent_updates(64)
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if t.base_url:
        builder = builder.base_url(t.base_url)
    if t.base_file_url:
        builder = builder.base_file_url(t.base_file_url)
    application = builder.build()

    store = AsyncThreadStore(t.state_path, t.thread_ttl_hours)
    pool = ThreadPoolExecutor(max_workers=ENGINE_WORKERS, thread_name_prefix="citebot-engine")
    handlers = Handlers(settings, engine, store, pool)
    application.bot_data.update(
        citebot_settings=settings, citebot_engine=engine, citebot_store=store, citebot_pool=pool
    )

    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    application.add_handler(CommandHandler("start", handlers.on_start))
    application.add_handler(CommandHandler("help", handlers.on_help))
    application.add_handler(CommandHandler("ask", handlers.on_ask))
    application.add_handler(CommandHandler("new", handlers.on_new))
    application.add_handler(CommandHandler("sources", handlers.on_sources))
    application.add_handler(CommandHandler("stats", handlers.on_stats))
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, handlers.on_text)
    )
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_error_handler(handlers.on_error)
    return application


async def _post_init(application: Application) -> None:
    settings: Settings = application.bot_data["citebot_settings"]
    try:
        await application.bot.set_my_commands(COMMANDS)
        for admin in settings.telegram.admin_users:
            with contextlib.suppress(TelegramError):  # the admin may not have started the bot yet
                await application.bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(admin))
    except TelegramError as exc:
        log.warning("could not set the bot's command list: %s", exc)
    application.bot_data["citebot_refresher"] = asyncio.create_task(_keep_fresh(application))
    log.info("serving as @%s", application.bot.username)


async def _keep_fresh(application: Application) -> None:
    """Switch to a newly built index generation and drop expired threads, periodically."""
    settings: Settings = application.bot_data["citebot_settings"]
    engine: AnsweringEngine = application.bot_data["citebot_engine"]
    store: AsyncThreadStore = application.bot_data["citebot_store"]
    pool: ThreadPoolExecutor = application.bot_data["citebot_pool"]
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(settings.telegram.refresh_seconds)
        try:
            # The engine swaps generations atomically, so questions in flight are never dropped.
            if await loop.run_in_executor(pool, engine.refresh):
                log.info("switched to a newly built index")
            await store.call(store.sync.purge)
        except Exception:
            log.exception("index refresh failed; still serving the previous one")


async def _post_shutdown(application: Application) -> None:
    task = application.bot_data.pop("citebot_refresher", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    application.bot_data["citebot_pool"].shutdown(wait=True, cancel_futures=True)
    application.bot_data["citebot_store"].close()


def webhook_secret(token: str) -> str:
    """A secret Telegram sends back with each webhook update, stable across restarts."""
    return hashlib.sha256(b"citebot-webhook:" + token.encode()).hexdigest()[:48]


def check_mode(t: TelegramSettings) -> None:
    """Raise ServeError for a [telegram] mode the bot cannot run."""
    if t.mode not in ("polling", "webhook"):
        raise ServeError(f'[telegram] mode must be "polling" or "webhook", got {t.mode!r}')
    if t.mode == "webhook":
        if not t.webhook_url.startswith("https://"):
            raise ServeError("[telegram] webhook mode needs webhook_url, the public https:// URL of the bot")
        if importlib.util.find_spec("tornado") is None:
            raise ServeError(
                'webhook mode needs the webhooks extra: pip install "python-telegram-bot[webhooks]"'
            )


def run(application: Application, settings: Settings, token: str) -> None:
    """Serve until SIGINT/SIGTERM: long polling, or a webhook when configured."""
    t = settings.telegram
    if t.mode == "webhook":
        application.run_webhook(
            listen=t.webhook_listen,
            port=t.webhook_port,
            url_path=urlparse(t.webhook_url).path.lstrip("/"),
            webhook_url=t.webhook_url,
            secret_token=webhook_secret(token),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
