"""``citebot serve``: run the Telegram bot."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.settings import Settings

log = logging.getLogger(__name__)

NO_TOKEN = (
    "citebot: no Telegram bot token: create a bot with @BotFather (https://t.me/BotFather) and "
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


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the exit code."""
    token = os.environ.get(settings.telegram.token_env, "").strip()
    if not token:
        print(NO_TOKEN.format(env=settings.telegram.token_env), file=sys.stderr)
        return 2

    # The token must never reach a log line, whatever logs it (httpx logs request URLs).
    from bot.telegram.logs import protect_token

    protect_token(token, debug=getattr(args, "debug", False))

    from bot.telegram import ServeError, build_application, check_mode, run
    from bot.telegram.app import check_bot_api

    from telegram.error import InvalidToken, TelegramError

    try:
        check_mode(settings.telegram)
    except ServeError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2

    def refused(exc: TelegramError) -> int:
        if isinstance(exc, InvalidToken):
            env = settings.telegram.token_env
            print(
                f"citebot: Telegram rejected the token in {env}; check it with @BotFather",
                file=sys.stderr,
            )
        else:
            detail = str(exc).replace(token, "<token>")
            print(f"citebot: cannot reach the Telegram Bot API: {detail}", file=sys.stderr)
        return 1

    try:
        # Before the models load: a wrong token or an unreachable API is reported in a second.
        check_bot_api(settings.telegram, token)
    except TelegramError as exc:
        return refused(exc)

    from bot.engine import Engine

    engine = Engine.open(settings)
    # The models load on the first question; load them now so no user waits for that.
    log.info("loading the models")
    engine.ask("warm up")
    application = build_application(settings, engine, token)
    try:
        run(application, settings, token)
    except TelegramError as exc:
        return refused(exc)
    return 0
