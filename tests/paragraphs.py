"""Paragraph references for tests that build hits and citations by hand."""

from __future__ import annotations

from index import ParagraphRef


def paragraph(
    paragraph_id: int = 1,
    text: str = "",
    *,
    article_id: str = "a",
    number: int = 0,
    title: str = "",
    section: str | None = None,
    url: str | None = None,
    date: str | None = None,
) -> ParagraphRef:
    """A reference with the fields a test does not care about filled in."""
    return ParagraphRef(paragraph_id, article_id, number, text, section, title, url, date)
