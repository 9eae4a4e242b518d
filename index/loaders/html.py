"""HTML pages: main content and metadata extracted with trafilatura, one block per paragraph."""

from __future__ import annotations

import re

import trafilatura
from lxml import etree

from index.loaders.decode import UnreadableFile
from index.loaders.text import short_title
from index.models import Block, Document

_SPACES = re.compile(r"[^\S\n]+")
# An XML declaration names the bytes' encoding; on already decoded text it makes lxml (and so
# trafilatura) reject the whole XHTML page.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)


def parse_html(html: str, *, article_id: str, source: str) -> Document:
    """Extract an article from an HTML page; raise ``UnreadableFile`` if it has no main text."""
    xml = None
    html = _XML_DECLARATION.sub("", html.lstrip("\ufeff"), count=1)
    # Recall mode is a second chance for short pages the precise extractor finds too thin.
    for favor_recall in (False, True):
        xml = trafilatura.extract(
            html,
            output_format="xml",
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            include_formatting=False,
            favor_recall=favor_recall,
        )
        if xml:
            break
    if not xml:
        raise UnreadableFile("no article text found in the HTML")
    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main")
    if main is None:
        raise UnreadableFile("no article text found in the HTML")
    title = (root.get("title") or "").strip()
    blocks: list[Block] = []
    section: str | None = None
    for element in main:
        if element.tag == "head":
            heading = _text_of(element)
            if not heading:
                continue
            if not title:
                title = heading
            elif heading != title:
                section = heading
            continue
        if element.tag == "list":
            text = "\n".join(t for t in (_text_of(item) for item in element.iter("item")) if t)
        elif element.tag == "table":
            text = "\n".join(
                " | ".join(t for t in (_text_of(cell) for cell in row.iter("cell")) if t)
                for row in element.iter("row")
            )
        else:
            text = _text_of(element)
        if text.strip():
            blocks.append(Block(text=text.strip(), section=section))
    if not blocks:
        raise UnreadableFile("no article text found in the HTML")
    return Document(
        article_id=article_id,
        title=title or short_title(blocks[0].text),
        source=source,
        blocks=tuple(blocks),
        url=(root.get("url") or "").strip() or None,
        date=(root.get("date") or "").strip() or None,
    )


def _text_of(element: etree._Element) -> str:
    for line_break in element.iter("lb"):
        line_break.text = "\n"
    text = "".join(element.itertext())
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
