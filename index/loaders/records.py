"""JSON and JSON Lines collections: one article per record.

A record is ``{"id", "title", "url", "date", "text"}`` (text split at blank lines) or
``{"id", "title", "paragraphs": [...]}``; given paragraphs are kept verbatim so that citations
use the source's own numbering.
"""

from __future__ import annotations

import json
from typing import Any

from index.loaders.text import short_title, split_blocks
from index.models import Block, Document, SkippedFile


class BadRecord(Exception):
    """A record that cannot become an article; the message is the short reason."""


def parse_jsonl(
    text: str, *, article_id: str, source: str
) -> tuple[list[Document], list[SkippedFile]]:
    """Read one record per line; a bad line is reported as ``path:line N`` and skipped.

    A record without its own id gets ``article_id`` and its line number.
    """
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        item = jsonl_record(line, number, article_id=article_id, source=source)
        if isinstance(item, Document):
            documents.append(item)
        elif item is not None:
            skipped.append(item)
    return documents, skipped


def jsonl_record(
    line: str, number: int, *, article_id: str, source: str
) -> Document | SkippedFile | None:
    """The article of line ``number`` of a JSON Lines file, why it was skipped, or None if blank."""
    if not line.strip():
        return None
    where = f"{source}:line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return SkippedFile(where, f"malformed JSON ({exc.msg} at column {exc.colno})")
    try:
        return record_document(record, source=source, fallback_id=f"{article_id}-{number}")
    except BadRecord as exc:
        return SkippedFile(where, str(exc))


def parse_json(
    text: str, *, article_id: str, source: str
) -> tuple[list[Document], list[SkippedFile]]:
    """Read a JSON file holding one record or a list of records.

    A record without its own id gets ``article_id`` (a list's records with their number).
    """
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            # Several objects one after another: JSON Lines saved with a .json name.
            return parse_jsonl(text, article_id=article_id, source=source)
        return [], [SkippedFile(source, f"malformed JSON ({exc.msg} at line {exc.lineno})")]
    records = data if isinstance(data, list) else [data]
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for number, record in enumerate(records, start=1):
        single = len(records) == 1 and not isinstance(data, list)
        fallback = article_id if single else f"{article_id}-{number}"
        try:
            documents.append(record_document(record, source=source, fallback_id=fallback))
        except BadRecord as exc:
            where = source if single else f"{source}:record {number}"
            skipped.append(SkippedFile(where, str(exc)))
    return documents, skipped


def record_document(record: Any, *, source: str, fallback_id: str) -> Document:
    """Turn one decoded JSON record into a document; raise ``BadRecord`` if it has no text."""
    if not isinstance(record, dict):
        raise BadRecord("not a JSON object")
    raw_id = record.get("id")
    usable_id = isinstance(raw_id, (str, int)) and str(raw_id).strip()
    article_id = str(raw_id).strip() if usable_id else fallback_id
    paragraphs = record.get("paragraphs")
    text = record.get("text")
    if paragraphs is not None:
        if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            raise BadRecord("'paragraphs' must be a list of strings")
        if not any(p.strip() for p in paragraphs):
            raise BadRecord("no text in 'paragraphs'")
        blocks = tuple(Block(text=p) for p in paragraphs)
        verbatim = True
    elif isinstance(text, str):
        blocks = tuple(Block(text=b) for b in split_blocks(text))
        if not blocks:
            raise BadRecord("empty 'text'")
        verbatim = False
    else:
        raise BadRecord("record has neither 'text' nor 'paragraphs'")
    first_text = next(b.text for b in blocks if b.text.strip())
    title = _string(record.get("title")) or short_title(first_text)
    return Document(
        article_id=article_id,
        title=title,
        source=source,
        blocks=blocks,
        url=_string(record.get("url")),
        date=_string(record.get("date")),
        verbatim=verbatim,
    )


def _string(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
