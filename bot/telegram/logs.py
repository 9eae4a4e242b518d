"""Logging for the bot: quiet HTTP client loggers and a filter that keeps the token out of logs."""

from __future__ import annotations

import logging

REDACTED = "<token>"


class TokenRedactingFilter(logging.Filter):
    """Replaces the bot token wherever it appears in a record (message, arguments, traceback)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def _redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if not self._token:
            return True
        message = record.getMessage()
        if self._token in message:
            record.msg = self._redact(message)
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatter reuses exc_text when set, so the traceback is redacted once, here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


def protect_token(token: str) -> None:
    """Silence the URL-logging HTTP clients and redact ``token`` from every log handler."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    redactor = TokenRedactingFilter(token)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING)
    for handler in root.handlers:
        handler.addFilter(redactor)
    # Records logged directly through handlers of other loggers pass their own filters.
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            for handler in logger.handlers:
                handler.addFilter(redactor)
