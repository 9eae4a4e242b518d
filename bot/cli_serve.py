"""``citebot serve``: run the Telegram bot."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.cli import CommandContext
    from bot.settings import Settings

log = logging.getLogger(__name__)

NO_TOKEN = (
    "no Telegram bot token: create a bot with @BotFather (https://t.me/BotFather) and "
    "export {env}=<token>; `citebot chat` runs the same engine in the terminal"
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="run the Telegram bot",
        description=(
            "Answer questions in Telegram: long polling by default, a webhook when [telegram] "
            "mode = \"webhook\". The token is read from the environment variable named by "
            "[telegram] token_env (default TELEGRAM_BOT_TOKEN)."
        ),
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="log every Bot API request and update (the token is always redacted)",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace, context: CommandContext) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the exit code."""
    from bot.telegram import ServeError, build_application, check_mode, run
    from bot.telegram.app import check_bot_api
    from bot.telegram.logs import protect_token

    settings = context.settings
    token = os.environ.get(settings.telegram.token_env, "").strip()
    if not token:
        raise ServeError(NO_TOKEN.format(env=settings.telegram.token_env))
    # The token must never reach a log line, whatever logs it (httpx logs request URLs).
    protect_token(token, debug=getattr(args, "debug", False))
    check_mode(settings.telegram)
    from bot.telegram.schedule import refresh_interval

    refresh_interval(settings)  # a bad [sources] refresh_every is one line before anything starts
    # Before the models load: a wrong token or an unreachable API is reported in a second.
    check_bot_api(settings.telegram, token)

    if settings.index.verify_on_start:
        verify_before_serving(settings)
    engine = context.open_engine()
    # The models load on the first question; load them now so no user waits for that.
    log.info("loading the models")
    engine.ask("warm up")
    # Index builds (refreshes, /add, uploads) embed with the engine's model where that is safe,
    # rather than loading a second copy of it (an engine without one lets builds load their own).
    embedder = getattr(getattr(engine, "kb", None), "embedder", None)
    application = build_application(settings, engine, token, embedder)
    run(application, settings, token)
    return 0


def verify_before_serving(settings: Settings) -> None:
    """``[index] verify_on_start``: raise ``IndexCorrupt`` naming a damaged file and the fix."""
    from index import IndexCorrupt, verify_index

    log.info("verifying the index before serving")
    report = verify_index(settings.knowledge_base, serving_only=True)
    problem = report.problem_line()
    if problem is not None:
        raise IndexCorrupt(problem)
    serving = report.serving
    if serving is not None and not serving.checksummed:
        log.warning(
            "generation %s predates checksums: only file sizes were checked; "
            "`citebot index rebuild` records checksums", serving.generation,
        )
    else:
        log.info("index verified: %d bytes in %.1f s", report.size_bytes, report.seconds)
