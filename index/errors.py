"""citebot's errors for what a user can fix, and the knowledge base's own kinds of them."""

from __future__ import annotations


def first_line(exc: BaseException, fallback: str | None = None) -> str:
    """The first line of an exception's message (``fallback``, else its type, when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else fallback or type(exc).__name__


class CitebotError(Exception):
    """A problem the user can fix: its message is one line saying what to fix.

    The command line prints it as ``citebot: <message>`` and exits with ``exit_code``; anything
    else that escapes a command is a bug and keeps its traceback.
    """

    exit_code: int = 1

    def one_line(self) -> str:
        """The message on one line: a library's multi-line text quoted in it is folded in."""
        folded = " ".join(line.strip() for line in str(self).splitlines() if line.strip())
        return folded or type(self).__name__


class CitebotIndexError(CitebotError):
    """Base class for index problems that should reach the user as one line."""


class IndexNotFound(CitebotIndexError):
    """No index has been built at the configured location."""


class IndexMismatch(CitebotIndexError):
    """The index was built with another model, dimension or format version."""


class IndexCorrupt(CitebotIndexError):
    """A file of the index is missing, truncated or out of step with the others."""


class IndexLocked(CitebotIndexError):
    """Another build holds the index's lock."""


class DiskFull(CitebotIndexError):
    """A build ran out of disk space (or hit a file-size limit); the old generation serves on."""


class NothingIndexed(CitebotIndexError):
    """A build found no article it could index."""


class SourceError(CitebotError):
    """A web source that cannot be added or removed as asked."""


class UnknownSource(SourceError):
    """No added page or upload has the id a removal names."""


class IndexUnavailable(CitebotIndexError):
    """The index's server cannot be reached, or refuses the credentials it was given."""


class SettingsInvalid(CitebotIndexError):
    """A knowledge-base setting has a value no engine accepts."""
