"""Markdown articles: first H1 is the title, later headings name sections, markup is stripped.

The text is quoted to users verbatim, so links keep their words, emphasis keeps its words,
images (whose alt text is not prose) are dropped.
"""

from __future__ import annotations

import re

from index.loaders.text import short_title
from index.models import Block, Document

_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_RULE = re.compile(r"^(=+|-+)\s*$")
_THEMATIC_BREAK = re.compile(r"^(?:[-*_]\s*){3,}$")
_FENCE = re.compile(r"^(```|~~~)")
_BULLET = re.compile(r"^\s*[-*+]\s+")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+")
_QUOTE = re.compile(r"^\s*>\s?")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_REFERENCE_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+")
_FRONT_MATTER_LINE = re.compile(r"^([A-Za-z_]+)\s*:\s*(.*?)\s*$")

_INLINE = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),
    (re.compile(r"!\[[^\]]*\]\[[^\]]*\]"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|])"), r"\1"),
    (re.compile(r"[^\S\n]+"), " "),
]


def strip_inline(text: str) -> str:
    """Remove inline markdown markup, keeping the words a reader sees."""
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text.strip()


def parse_markdown(text: str, *, article_id: str, source: str) -> Document:
    """Build a document from markdown; headings after the title set ``Block.section``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, lines = _front_matter(lines)
    reader = _BlockReader(meta.get("title", ""))
    for line in lines:
        reader.feed(line)
    reader.flush()
    blocks = reader.blocks
    return Document(
        article_id=article_id,
        title=reader.title or (short_title(blocks[0].text) if blocks else article_id),
        source=source,
        blocks=tuple(blocks),
        url=meta.get("url") or meta.get("link") or None,
        date=meta.get("date") or None,
    )


class _BlockReader:
    """One pass over an article's lines: paragraphs, code and lists become blocks."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.section: str | None = None
        self.blocks: list[Block] = []
        self._buffer: list[str] = []
        self._in_fence = False
        self._fence_lines: list[str] = []

    def feed(self, line: str) -> None:
        """Take the next line of the article."""
        if _FENCE.match(line.strip()):
            self._toggle_fence()
            return
        if self._in_fence:
            self._fence_lines.append(line)
            return
        stripped = line.strip()
        if not stripped:
            self.flush()
        elif not self._structure(stripped):
            self._buffer.append(_buffered(line, stripped))

    def flush(self) -> None:
        """End the paragraph being read (if any) as a block."""
        if not self._buffer:
            return
        items = [strip_inline(line) for line in self._buffer]
        items = [item for item in items if item]
        self._buffer.clear()
        if items:
            listed = len(items) > 1 and all(item.startswith("\u0000") for item in items)
            joined = "\n".join(items) if listed else " ".join(items)
            self.blocks.append(Block(text=joined.replace("\u0000", ""), section=self.section))

    def _toggle_fence(self) -> None:
        if self._in_fence:
            code = "\n".join(self._fence_lines).strip("\n")
            if code.strip():
                self.blocks.append(Block(text=code, section=self.section))
            self._fence_lines = []
        else:
            self.flush()
        self._in_fence = not self._in_fence

    def _structure(self, stripped: str) -> bool:
        """Handle a heading, rule or table rule; False for a line of text."""
        match = _ATX_HEADING.match(stripped)
        if match:
            self._heading(len(match.group(1)), match.group(2))
            return True
        buffer = self._buffer
        if _SETEXT_RULE.match(stripped) and len(buffer) == 1 and not buffer[0].startswith("\u0000"):
            self._heading(1 if stripped.startswith("=") else 2, buffer.pop())
            return True
        if _THEMATIC_BREAK.match(stripped) or _REFERENCE_DEFINITION.match(stripped):
            self.flush()
            return True
        return bool(_TABLE_RULE.match(stripped)) and "|" in stripped

    def _heading(self, level: int, raw: str) -> None:
        self.flush()
        words = strip_inline(raw)
        if not words:
            return
        if not self.title and (level == 1 or not self.blocks):
            self.title = words
        else:
            self.section = words


def _buffered(line: str, stripped: str) -> str:
    """A line of text as kept until its paragraph ends."""
    line = _QUOTE.sub("", line)
    if stripped.startswith("|"):
        cells = [cell.strip() for cell in stripped.strip("|").split("|")]
        return "\u0000" + " | ".join(cell for cell in cells if cell)
    if _BULLET.match(line):
        # A NUL marks list lines so a list keeps one item per line after joining.
        return "\u0000" + _BULLET.sub("", line)
    if _NUMBERED.match(line):
        return "\u0000" + line.strip()
    return line.strip()


def _front_matter(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Read a leading YAML-style ``---`` block of ``key: value`` lines (title, date, url)."""
    if not lines or lines[0].strip() != "---":
        return {}, lines
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            meta = {}
            for line in lines[1:end]:
                match = _FRONT_MATTER_LINE.match(line)
                if match:
                    meta[match.group(1).lower()] = match.group(2).strip().strip("\"'")
            return meta, lines[end + 1 :]
    return {}, lines
