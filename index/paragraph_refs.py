"""The one place stored paragraph rows become the public ``ParagraphRef``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.models import ParagraphRef

if TYPE_CHECKING:
    from index.store import Generation, ParagraphRow


def paragraph_ref(row: ParagraphRow) -> ParagraphRef:
    """The reference of one stored paragraph row."""
    # Same fields in the same order: once the store returns ParagraphRef itself, this goes.
    return ParagraphRef(
        paragraph_id=row.paragraph_id,
        article_id=row.article_id,
        number=row.number,
        text=row.text,
        section=row.section,
        title=row.title,
        url=row.url,
        date=row.date,
    )


def stored_refs(generation: Generation, paragraph_ids: Sequence[int]) -> dict[int, ParagraphRef]:
    """The stored paragraphs of ``paragraph_ids`` by id, in their order (unknown ids left out)."""
    return {row.paragraph_id: paragraph_ref(row) for row in generation.rows(paragraph_ids)}
