"""Big JSON Lines files read a line at a time, so a million-record dump is never held whole.

Smaller files go through the whole-file path (``index.load.load_file``), which also decides
their encoding from all of their bytes; here every line is UTF-8 (a line that is not falls back
to cp1252, as a whole file would) and files with a UTF-16/32 byte-order mark are left to the
whole-file path.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path

from index.loaders.decode import FileTooLarge, UnreadableFile
from index.loaders.records import jsonl_record
from index.models import Document, SkippedFile

# Files at least this big are streamed; below it the whole-file path is as cheap.
STREAM_BYTES = 64 * 1024 * 1024

_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def streams(path: Path, max_bytes: int = 0) -> bool:
    """Whether ``path`` is a JSON Lines file to stream (big, regular, not UTF-16/32).

    Raises ``FileTooLarge`` when it is over ``max_bytes`` (0 = no limit).
    """
    if path.suffix.lower() != ".jsonl":
        return False
    try:
        info = os.stat(path)
        if not os.path.isfile(path):
            return False
        if max_bytes and info.st_size > max_bytes:
            raise FileTooLarge(info.st_size)
        if info.st_size < STREAM_BYTES:
            return False
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False  # the whole-file path words the reason
    return not head.startswith(_WIDE_BOMS)


def stream_jsonl(
    path: Path, *, article_id: str, source: str
) -> Iterator[Document | SkippedFile]:
    """Each record of ``path`` as an article, or why it was skipped, in file order."""
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    line = raw.decode("cp1252", errors="replace")
                item = jsonl_record(line, number, article_id=article_id, source=source)
                if item is not None:
                    yield item
    except OSError as exc:
        yield SkippedFile(source, str(UnreadableFile(f"cannot read: {exc.strerror or exc}")))
