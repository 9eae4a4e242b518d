"""Read a file's bytes and decode them to text, or explain in a few words why not."""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path

# Share of control characters above which a decoded file is not text (e.g. a renamed image
# whose bytes happen to contain no NUL).
_MAX_CONTROL_SHARE = 0.01
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


class UnreadableFile(Exception):
    """The file cannot be used as text; the message is the short reason shown to the user."""


class FileTooLarge(UnreadableFile):
    """The file is over the size limit; ``size`` is its size in bytes (at least the limit + 1)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"larger than the size limit ({size} bytes)")
        self.size = size


def read_text(path: Path, max_bytes: int = 0) -> str:
    """Return the decoded text of ``path``; raise ``UnreadableFile`` with a short reason."""
    return decode_bytes(read_bytes(path, max_bytes))


def read_bytes(path: Path, max_bytes: int = 0) -> bytes:
    """Return the bytes of ``path``; raise ``UnreadableFile`` with a short reason.

    Only regular files are read, and never more than ``max_bytes`` (0 = no limit): a FIFO
    would block the build forever and ``/dev/zero`` behind an article name would never end.
    """
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnreadableFile("not a regular file")
            if max_bytes and info.st_size > max_bytes:
                raise FileTooLarge(info.st_size)
            # One byte over the limit is enough to know the file grew past it since the stat.
            data = handle.read(max_bytes + 1 if max_bytes else -1)
        except OSError as exc:
            raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    if max_bytes and len(data) > max_bytes:
        raise FileTooLarge(len(data))
    if not data.strip():
        raise UnreadableFile("empty file")
    return data


def decode_bytes(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16/32 with BOM, else cp1252 or latin-1."""
    if not data.strip():
        raise UnreadableFile("empty file")
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                reason = f"not valid {encoding.upper()} despite its byte-order mark"
                raise UnreadableFile(reason) from None
            return _checked(text)
    if b"\x00" in data:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Legacy Western text: cp1252 is a superset of latin-1's printable range (smart quotes,
        # dashes); the five bytes cp1252 leaves undefined fall back to latin-1.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return _checked(text)


def _checked(text: str) -> str:
    if not text.strip():
        raise UnreadableFile("empty file")
    controls = len(_CONTROL.findall(text))
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise UnreadableFile("binary file (not text)")
    return text
