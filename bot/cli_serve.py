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

    try:
        check_mode(settings.telegram)
    except ServeError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2

    from bot.engine import Engine

    from telegram.error import InvalidToken, TelegramError

    engine = Engine.open(settings)
    # The models load on the first question; load them now so no user waits for that.
    log.info("loading the models")
    engine.ask("warm up")
    application = build_application(settings, engine, token)
    try:
        run(application, settings, token)
    except InvalidToken:
        env = settings.telegram.token_env
        print(
            f"citebot: Telegram rejected the token in {env}; check it with @BotFather",
            file=sys.stderr,
        )
        return 1
    except TelegramError as exc:
        detail = str(exc).replace(token, "<token>")
        print(f"citebot: cannot reach the Telegram Bot API: {detail}", file=sys.stderr)
        return 1
    return 0
