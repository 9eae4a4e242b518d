"""Plain-text rendering of answers for the terminal."""

from __future__ import annotations

import textwrap

from bot.models import Answer, Citation
from bot.question import has_words

ABSTENTION = "The articles don't seem to say. I found nothing that answers this question."
NO_QUESTION = "Please ask a question in words, e.g. “What did the minister say about taxes?”"


def source_line(citation: Citation) -> str:
    """One source of the list: "[1] Title — date — URL — paragraph N"."""
    parts = [citation.title or citation.article_id]
    if citation.date:
        parts.append(citation.date)
    if citation.url:
        parts.append(citation.url)
    parts.append(f"paragraph {citation.paragraph + 1}")
    return f"[{citation.n}] " + " — ".join(parts)


def answer_text(answer: Answer) -> str:
    """The quoted sentences, each followed by its citation marker."""
    pieces: list[str] = []
    for quote in answer.quotes:
        pieces.append(f"“{quote.text}” [{quote.citation}]")
    return " ".join(pieces)


def render_answer(answer: Answer, width: int = 88) -> str:
    """An answer as terminal text: the quote(s) with [n] markers, then the list of sources."""
    if not has_words(answer.question):
        return NO_QUESTION
    if answer.abstained or not answer.quotes:
        return ABSTENTION
    body = textwrap.fill(answer_text(answer), width=width) if width > 0 else answer_text(answer)
    sources = "\n".join(source_line(c) for c in answer.citations)
    return f"{body}\n\nSources:\n{sources}"
