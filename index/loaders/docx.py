"""Word (.docx) articles, read with python-docx: headings name sections, lists and tables stay.

python-docx (MIT, maintained) reads the document body in order. A paragraph in the Title style
or a Heading 1 before any text (else the document's title property) is the title; headings, by
style or outline level, name sections; list items are kept one per line and table rows as
"cell | cell", as the other loaders do. Page headers and footers live outside the body and are
never read. Word has no fixed pages, so citations of a .docx have none.
"""

from __future__ import annotations

import re
import zipfile
from io import BytesIO
from typing import Any

from index.loaders.decode import UnreadableFile
from index.loaders.text import short_title
from index.models import Block, Document

_HEADING_STYLE = re.compile(r"^(?:heading\s*(\d)|title)$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^list\b", re.IGNORECASE)
_GENERIC_TITLE = re.compile(r"^(?:untitled|document\d*|title)$", re.IGNORECASE)
# Word's own outline levels count from 0 for Heading 1; 9 means body text.
_BODY_LEVEL = 9


def parse_docx(data: bytes, *, article_id: str, source: str) -> Document:
    """Build a document from a .docx file's body; raise ``UnreadableFile`` if it is not one."""
    import docx  # imported here: only needed when a .docx is indexed

    try:
        word = docx.Document(BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFile(f"not a valid .docx file ({exc})"[:200]) from None
    except Exception as exc:  # python-docx's own PackageNotFoundError and XML errors
        raise UnreadableFile(f"not a valid .docx file ({type(exc).__name__})") from None
    reader = _Reader()
    for item in word.iter_inner_content():
        if hasattr(item, "rows"):
            reader.table(item)
        else:
            reader.paragraph(item)
    reader.flush()
    # The title property comes last: templates and copied files often carry a stale one.
    title = reader.title or _core_title(word)
    blocks = reader.blocks
    if not title and blocks:
        title = short_title(blocks[0].text)
    return Document(article_id=article_id, title=title or article_id, source=source,
                    blocks=tuple(blocks))


class _Reader:
    """One pass over the body: paragraphs become blocks, consecutive list items one block."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        # A Title paragraph, else a Heading 1, before any text.
        self.title = ""
        self._section: str | None = None
        self._items: list[str] = []

    def paragraph(self, paragraph: Any) -> None:
        """Take the next paragraph of the body."""
        text = "\n".join(" ".join(line.split()) for line in paragraph.text.split("\n")).strip()
        if not text:
            return
        level = _heading_level(paragraph)
        if level is not None:
            self.flush()
            if level <= 1 and not self.title and not self.blocks:
                self.title = text
            else:
                self._section = text
            return
        if _is_list_item(paragraph):
            self._items.append(text)
            return
        self.flush()
        self.blocks.append(Block(text, self._section))

    def table(self, table: Any) -> None:
        """A table as one block: a line per row, its distinct cells joined by " | "."""
        self.flush()
        rows = []
        for row in table.rows:
            cells: list[str] = []
            for cell in row.cells:
                text = " ".join(cell.text.split())
                # A merged cell is reported once per grid column it spans.
                if text and (not cells or cells[-1] != text):
                    cells.append(text)
            if cells:
                rows.append(" | ".join(cells))
        if rows:
            self.blocks.append(Block("\n".join(rows), self._section))

    def flush(self) -> None:
        """End the list being read (if any) as a block."""
        if self._items:
            self.blocks.append(Block("\n".join(self._items), self._section))
            self._items = []


def _heading_level(paragraph: Any) -> int | None:
    """0 for the Title style, N for Heading N (by style, its base styles or outline level)."""
    style = paragraph.style
    while style is not None:
        match = _HEADING_STYLE.match(style.name or "")
        if match:
            return int(match.group(1)) if match.group(1) else 0
        style = style.base_style
    levels = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if levels and levels[0].isdigit() and int(levels[0]) < _BODY_LEVEL:
        return int(levels[0]) + 1
    return None


def _is_list_item(paragraph: Any) -> bool:
    if paragraph._p.xpath("./w:pPr/w:numPr"):
        return True
    style = paragraph.style
    return style is not None and bool(_LIST_STYLE.match(style.name or ""))


def _core_title(word: Any) -> str:
    title = " ".join((word.core_properties.title or "").split())
    return "" if _GENERIC_TITLE.match(title) else title
