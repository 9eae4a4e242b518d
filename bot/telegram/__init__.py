"""The Telegram adapter: python-telegram-bot handlers around the answering engine."""

from bot.telegram.app import ServeError, build_application, check_mode, run

__all__ = ["ServeError", "build_application", "check_mode", "run"]
