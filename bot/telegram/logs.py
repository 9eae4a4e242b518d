"""Logging for the bot: quiet HTTP client loggers, and the token kept out of every log line and
everything the process prints (httpx logs request URLs, which contain it)."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

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


class RedactingStream:
    """A text stream that writes through to ``stream`` with the token replaced: for what reaches
    stdout or stderr outside logging (an uncaught exception's traceback, warnings)."""

    def __init__(self, stream: TextIO, token: str) -> None:
        self._stream = stream
        self._token = token

    def write(self, text: str) -> int:
        """Write ``text`` without the token."""
        return self._stream.write(text.replace(self._token, REDACTED) if self._token else text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class UnparsableReplyFilter(logging.Filter):
    """python-telegram-bot logs an error with a traceback when the Bot API answers with something
    that is not JSON (a proxy's error page); the bot reports the resulting error in one line, so
    this record becomes a detail for ``-v``: INFO, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote the record in place; drop it below the configured level."""
        if record.name.startswith("telegram.request") and str(record.msg).startswith(
            "Can not load invalid JSON data"
        ):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger().isEnabledFor(logging.INFO)
        return True


_UNPARSABLE = UnparsableReplyFilter()


def protect_token(token: str, debug: bool = False) -> None:
    """Redact ``token`` from every log handler and from stdout and stderr. The URL-logging HTTP
    clients stay quiet unless ``debug`` (then every Bot API request is logged, token redacted)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING)
    if debug:
        root.setLevel(logging.DEBUG)
        logging.getLogger("httpx").setLevel(logging.DEBUG)
        logging.getLogger("httpcore").setLevel(logging.INFO)  # connection-level noise
    else:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if token:
        if not isinstance(sys.stdout, RedactingStream):
            sys.stdout = RedactingStream(sys.stdout, token)
        if not isinstance(sys.stderr, RedactingStream):
            sys.stderr = RedactingStream(sys.stderr, token)
    redactor = TokenRedactingFilter(token)
    for handler in root.handlers:
        handler.addFilter(_UNPARSABLE)
        handler.addFilter(redactor)
    # Records logged directly through handlers of other loggers pass their own filters.
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            for handler in logger.handlers:
                handler.addFilter(redactor)
