"""Plain-text rendering of answers for the terminal."""

from __future__ import annotations

import shutil
import textwrap
from typing import TextIO

from bot.models import Answer, Citation
from bot.question import has_words
from index import page_label, paragraph_label

ABSTENTION = "The articles don't seem to say. I found nothing that answers this question."
NO_QUESTION = "Please ask a question in words, e.g. “What did the minister say about taxes?”"

# Quotation marks a quoted sentence may itself open or close with (straight, curly, low,
# guillemets): wrapping such a sentence in “ ” again would show them doubled.
_OWN_MARKS = frozenset('"“”„‟«»')
# Narrower than this, wrapping does more harm than good (and a bogus size is likelier).
_MIN_WIDTH = 20


def terminal_width(stream: TextIO) -> int:
    """Columns to wrap at: the terminal's width, or 0 (no wrapping) when not writing to one."""
    try:
        if not stream.isatty():
            return 0
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return 0
    return max(_MIN_WIDTH, shutil.get_terminal_size(fallback=(80, 24)).columns)


def wrap(text: str, width: int) -> str:
    """``text`` wrapped at ``width`` columns between words (lines kept); as it is for 0."""
    if width <= 0:
        return text
    return "\n".join(
        textwrap.fill(line, width=width, break_long_words=False, break_on_hyphens=False)
        for line in text.split("\n")
    )


def quoted(text: str) -> str:
    """``text`` in “ ”, or as it is when it opens or closes with its own quotation mark."""
    stripped = text.strip()
    if stripped[:1] in _OWN_MARKS or stripped[-1:] in _OWN_MARKS:
        return text
    return f"“{text}”"


def source_line(citation: Citation) -> str:
    """One source of the list: "[1] Title — date — URL — p. 4 — paragraph N"."""
    ref = citation.ref
    parts = [ref.title or ref.article_id]
    if ref.date:
        parts.append(ref.date)
    if ref.url:
        parts.append(ref.url)
    page = page_label(ref.page)
    if page:
        parts.append(page)
    parts.append(paragraph_label(ref.number, long=True))
    return f"[{citation.n}] " + " — ".join(parts)


def answer_text(answer: Answer) -> str:
    """The quoted sentences, each followed by its citation marker."""
    return " ".join(f"{quoted(quote.text)} [{quote.citation}]" for quote in answer.quotes)


def render_answer(answer: Answer, width: int = 0) -> str:
    """An answer as terminal text: the quote(s) with [n] markers, then the list of sources;
    small talk as its plain reply. Wrapped at ``width`` columns (0: not wrapped)."""
    if answer.message and not answer.quotes:
        return wrap(answer.message, width)
    if not has_words(answer.question):
        return NO_QUESTION
    if answer.abstained or not answer.quotes:
        return ABSTENTION
    sources = "\n".join(source_line(c) for c in answer.citations)
    return f"{wrap(answer_text(answer), width)}\n\nSources:\n{sources}"
