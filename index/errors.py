"""Errors raised by the knowledge base; each message is one actionable line."""

from __future__ import annotations


def first_line(exc: BaseException, fallback: str | None = None) -> str:
    """The first line of an exception's message (``fallback``, else its type, when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else fallback or type(exc).__name__


class CitebotIndexError(Exception):
    """Base class for index problems that should reach the user as one line."""


class IndexNotFound(CitebotIndexError):
    """No index has been built at the configured location."""


class IndexMismatch(CitebotIndexError):
    """The index was built with another model, dimension or format version."""


class IndexCorrupt(CitebotIndexError):
    """A file of the index is missing, truncated or out of step with the others."""


class IndexLocked(CitebotIndexError):
    """Another build holds the index's lock."""


class NothingIndexed(CitebotIndexError):
    """A build found no article it could index."""
