"""Build and run the python-telegram-bot Application around the answering engine."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
import sqlite3
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from telegram import Bot, BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults
from telegram.request import HTTPXRequest

from bot.settings import Settings, TelegramSettings
from bot.telegram.builds import BuildQueue, worker_embedder
from bot.telegram.fair import FairPool
from bot.telegram.handlers import register
from bot.telegram.intake import JournaledQueue, JournalingProcessor, replay_unfinished
from bot.telegram.schedule import keep_sources_fresh, refresh_interval
from bot.telegram.services import AnsweringEngine, Services
from bot.telegram.state.bot_state import BotState
from index import CitebotError

if TYPE_CHECKING:
    from index import Embedder

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# Engine calls are CPU bound; more workers than cores only make every answer slower.
ENGINE_WORKERS = 2
# Updates being handled at once; beyond that the bot stops taking updates and Telegram keeps them.
MAX_IN_FLIGHT = 256
# Retries after a 429 (the rate limiter waits the retry_after Telegram asks for).
MAX_RETRIES = 3
MIN_REFRESH_SECONDS = 0.5

COMMANDS = [
    BotCommand("ask", "Ask a question about the articles"),
    BotCommand("new", "Start a new conversation"),
    BotCommand("sources", "The articles I answer from"),
    BotCommand("help", "How to use this bot"),
    BotCommand("start", "What this bot is"),
]
ADMIN_COMMANDS = [
    *COMMANDS,
    BotCommand("add", "Index a page by its link (or send a file)"),
    BotCommand("remove", "Take an added page or file out of the index"),
    BotCommand("stats", "Questions, abstentions, latency"),
]


class ServeError(CitebotError):
    """A setting (or a missing token) that stops ``citebot serve``; one actionable line."""

    # A configuration the bot cannot run with, like a usage error, as it always exited.
    exit_code = 2


class BotApiError(CitebotError):
    """Telegram rejected the token or could not be reached; the message never holds the token."""


def bot_api_error(exc: TelegramError, t: TelegramSettings, token: str) -> BotApiError:
    """The one line a user reads for a Bot API failure at startup."""
    if isinstance(exc, InvalidToken):
        return BotApiError(
            f"Telegram rejected the token in {t.token_env}; check it with @BotFather"
        )
    detail = str(exc).replace(token, "<token>")
    return BotApiError(f"cannot reach the Telegram Bot API: {detail}")


def _open_state(t: TelegramSettings) -> BotState:
    try:
        return BotState(t.state_path, t.thread_ttl_hours, t.stats_retention_days)
    except (OSError, sqlite3.Error) as exc:
        raise ServeError(
            f"cannot open the conversation store {t.state_path} ({exc}); set [telegram] "
            "state_path to a file in a writable folder"
        ) from None


def build_application(
    settings: Settings, engine: AnsweringEngine, token: str, embedder: Embedder | None = None
) -> Application:
    """The bot's Application: handlers registered, commands set and index reloads on start.

    ``embedder`` is the engine's: index builds share it where that is safe (see ``builds``).
    """
    t = settings.telegram
    state = _open_state(t)
    queue = JournaledQueue(state, MAX_IN_FLIGHT)
    timeout = t.request_timeout_seconds
    builder = (
        ApplicationBuilder()
        .token(token)
        .rate_limiter(AIORateLimiter(max_retries=MAX_RETRIES))
        .update_queue(queue)
        .concurrent_updates(JournalingProcessor(queue))
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if t.base_url:
        builder = builder.base_url(t.base_url)
    if t.base_file_url:
        builder = builder.base_file_url(t.base_file_url)
    application = builder.build()

    services = Services(
        settings=settings,
        engine=engine,
        state=state,
        pool=FairPool(ENGINE_WORKERS),
        builds=BuildQueue(settings.knowledge_base, worker_embedder(embedder, settings)),
    )
    application.bot_data["citebot"] = services
    register(application, services)
    return application


# The index refresh task of each running application.
_refresher: dict[Application, asyncio.Task[None]] = {}
# The scheduled source refresh of each running application ([sources] refresh_every).
_source_refresher: dict[Application, asyncio.Task[None]] = {}


def _services(application: Application) -> Services:
    services: Services = application.bot_data["citebot"]
    return services


async def _post_init(application: Application) -> None:
    services = _services(application)
    settings = services.settings
    # Before any update arrives: update ids older than Telegram's memory must not block new ones.
    await services.state.purge()
    queue = application.update_queue
    if isinstance(queue, JournaledQueue):
        task = asyncio.create_task(replay_unfinished(queue, services.state, application.bot))
        services.background.add(task)
        task.add_done_callback(services.background.discard)
    try:
        await application.bot.set_my_commands(COMMANDS)
        for admin in settings.telegram.admin_users:
            with contextlib.suppress(TelegramError):  # the admin may not have started the bot yet
                await application.bot.set_my_commands(
                    ADMIN_COMMANDS, scope=BotCommandScopeChat(admin)
                )
    except TelegramError as exc:
        log.warning("could not set the bot's command list: %s", exc)
    _refresher[application] = asyncio.create_task(_keep_fresh(application))
    interval = refresh_interval(settings)
    if interval is not None:
        _source_refresher[application] = asyncio.create_task(
            keep_sources_fresh(services, interval)
        )
        log.info("refreshing feeds, added URLs and folders every %g s", interval)
    log.info("serving as @%s", application.bot.username)


async def _keep_fresh(application: Application) -> None:
    """Switch to a newly built index generation and drop expired threads, periodically."""
    services = _services(application)
    interval = max(services.settings.telegram.refresh_seconds, MIN_REFRESH_SECONDS)
    while True:
        await asyncio.sleep(interval)
        try:
            # The engine swaps generations atomically, so questions in flight are never dropped.
            if await services.run(services.engine.refresh):
                log.info("switched to a newly built index")
            await services.state.purge()
        except Exception:
            log.exception("index refresh failed; still serving the previous one")


async def _post_shutdown(application: Application) -> None:
    for tasks in (_refresher, _source_refresher):
        task = tasks.pop(application, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    services = _services(application)
    services.builds.shutdown()
    services.pool.shutdown()
    services.state.close()


def check_bot_api(t: TelegramSettings, token: str) -> str:
    """The bot's username, asking the Bot API (getMe); BotApiError when that fails."""

    async def get_me() -> str:
        bot = Bot(
            token,
            base_url=t.base_url or "https://api.telegram.org/bot",
            base_file_url=t.base_file_url or "https://api.telegram.org/file/bot",
            request=HTTPXRequest(
                connect_timeout=t.request_timeout_seconds,
                read_timeout=t.request_timeout_seconds,
            ),
        )
        async with bot:
            return bot.username

    try:
        return asyncio.run(get_me())
    except TelegramError as exc:
        raise bot_api_error(exc, t, token) from None


def webhook_secret(token: str) -> str:
    """A secret Telegram sends back with each webhook update, stable across restarts."""
    return hashlib.sha256(b"citebot-webhook:" + token.encode()).hexdigest()[:48]


def check_mode(t: TelegramSettings) -> None:
    """Raise ServeError for a [telegram] mode the bot cannot run."""
    if t.mode not in ("polling", "webhook"):
        raise ServeError(f'[telegram] mode must be "polling" or "webhook", got {t.mode!r}')
    if t.mode == "webhook":
        if not t.webhook_url.startswith("https://"):
            raise ServeError(
                "[telegram] webhook mode needs webhook_url, the public https:// URL of the bot"
            )
        if importlib.util.find_spec("tornado") is None:
            raise ServeError(
                'webhook mode needs the webhooks extra: pip install "python-telegram-bot[webhooks]"'
            )


def run(application: Application, settings: Settings, token: str) -> None:
    """Serve until SIGINT/SIGTERM: long polling, or a webhook when configured.

    A failure while starting (post_init included) is raised from here, after the application
    has shut down; a Bot API failure becomes BotApiError.
    """
    t = settings.telegram
    try:
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
    except TelegramError as exc:
        raise bot_api_error(exc, t, token) from None
