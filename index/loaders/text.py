"""Plain-text articles (e.g. saved page text): title line first, blank lines between paragraphs."""

from __future__ import annotations

import re

from index.clean import is_navigation
from index.models import Block, Document

_BLANK_LINES = re.compile(r"\n[ \t\f\v\u00a0]*\n\s*")
_LIST_ITEM = re.compile(r"^(?:[-*+•]\s+|\d{1,3}[.)]\s+)")
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]]*$")
_HAS_LETTER = re.compile(r"[^\W\d_]")
# A title is a line, not a paragraph; longer first lines are the text itself.
_MAX_TITLE_CHARS = 150


def split_blocks(text: str) -> list[str]:
    """Split text at blank lines; wrapped lines are joined, list lines stay one per line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = []
    for chunk in _BLANK_LINES.split(text):
        lines = [line.strip() for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        joiner = "\n" if len(lines) > 1 and all(_LIST_ITEM.match(line) for line in lines) else " "
        blocks.append(joiner.join(lines))
    return blocks


def short_title(text: str, limit: int = 80) -> str:
    """A title made from the start of the text, cut at a word boundary."""
    first_line = text.strip().split("\n", 1)[0]
    if len(first_line) <= limit:
        return first_line
    cut = first_line[:limit].rsplit(" ", 1)[0].rstrip(",;:—–- ")
    return cut + "…"


def parse_text(text: str, *, article_id: str, source: str) -> Document:
    """Build a document from plain text; the first meaningful short line is the title."""
    blocks = split_blocks(text)
    title = ""
    for index, block in enumerate(blocks):
        if not _HAS_LETTER.search(block) or is_navigation(block):
            continue
        if "\n" not in block and len(block) <= _MAX_TITLE_CHARS and not _SENTENCE_END.search(block):
            title = block
            del blocks[index]
        else:
            title = short_title(block)
        break
    return Document(
        article_id=article_id,
        title=title or article_id,
        source=source,
        blocks=tuple(Block(text=block) for block in blocks),
    )
