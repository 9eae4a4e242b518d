"""Telegram HTML for answers, sources and paragraphs, split into messages Telegram accepts."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import replace
from html import escape

from bot.models import Answer, Citation
from bot.render import quoted
from bot.smalltalk import HELP
from index import page_label, paragraph_label

# Telegram's limit is 4,096 characters of text after entity parsing; measuring the HTML source in
# UTF-16 code units instead is stricter, so a chunk that fits here always fits there.
MAX_MESSAGE_LENGTH = 4096

ABSTAIN_TEXT = "I couldn't find an answer to that in the articles I have."
# Added to the small-talk help reply: in Telegram the commands are one tap away.
HELP_HINT = "/help lists my commands."


def numbered_sources(answer: Answer) -> tuple[Citation, ...]:
    """What the answer's buttons may show: its citations, then its further results numbered on."""
    first_more = max((c.n for c in answer.citations), default=0) + 1
    more = (replace(c, n=first_more + i) for i, c in enumerate(answer.more))
    return (*answer.citations, *more)


def _source_line(citation: Citation) -> str:
    ref = citation.ref
    title = escape(ref.title or ref.article_id)
    # The link opens the article at the quote, where the browser supports text fragments.
    link = citation.url_quote
    if link:
        title = f'<a href="{escape(link, quote=True)}">{title}</a>'
    parts = [title]
    if ref.date:
        parts.append(escape(ref.date))
    page = page_label(ref.page)
    if page:
        parts.append(page)
    parts.append(ref.label)
    return f"{citation.n}. " + " · ".join(parts)


def render_answer(answer: Answer, sources: Sequence[Citation]) -> str:
    """The answer message: the quotes in a blockquote, then the numbered sources; small talk
    as its plain reply."""
    if answer.message and not answer.quotes:
        text = escape(answer.message)
        return f"{text}\n\n{HELP_HINT}" if answer.reply_kind == HELP else text
    if answer.abstained or not answer.quotes:
        text = ABSTAIN_TEXT
        if answer.more:
            text += "\nTap <b>More</b> for the closest passages I found."
        return text
    lines = [f"{escape(quoted(q.text))} [{q.citation}]" for q in answer.quotes]
    body = "<blockquote>" + "\n".join(lines) + "</blockquote>"
    listed = "\n".join(_source_line(c) for c in sources[: len(answer.citations)])
    return f"{body}\n\n<b>Sources</b>\n{listed}"


def _highlighted(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` escaped, with the quoted spans in bold (overlapping or bad spans are skipped)."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos or end > len(text) or start >= end:
            continue
        out.append(escape(text[pos:start]))
        out.append(f"<b>{escape(text[start:end])}</b>")
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def render_paragraph(citation: Citation) -> str:
    """A source button's message: the source line, then its full paragraph, quotes in bold."""
    return f"{_source_line(citation)}\n\n{_highlighted(citation.ref.text, citation.quotes)}"


def render_context(citation: Citation, before: str | None, after: str | None) -> str:
    """The paragraph with its neighbours, each marked with its paragraph number."""
    number = citation.ref.number
    parts = [_source_line(citation)]
    if before is not None:
        parts.append(f"<i>{paragraph_label(number - 1)}</i> {escape(before)}")
    parts.append(
        f"<i>{paragraph_label(number)}</i> {_highlighted(citation.ref.text, citation.quotes)}"
    )
    if after is not None:
        parts.append(f"<i>{paragraph_label(number + 1)}</i> {escape(after)}")
    return "\n\n".join(parts)


def render_more(sources: Sequence[Citation], snippet_chars: int = 300) -> str:
    """Further results behind the More button: each source with the start of its paragraph."""
    if not sources:
        return "No further results."
    blocks = ["<b>More results</b>"]
    for citation in sources:
        text = citation.ref.text
        snippet = text if len(text) <= snippet_chars else text[:snippet_chars] + "…"
        blocks.append(f"{_source_line(citation)}\n{escape(snippet)}")
    return "\n\n".join(blocks)


# --- splitting -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9-]+)")
# Cut preferences, best first: between paragraphs, between lines, after a sentence, at a space.
_BOUNDARIES = (
    re.compile(r"\n\s*\n\s*"),
    re.compile(r"\n\s*"),
    re.compile(r"(?<=[.!?…])\s+"),
    re.compile(r"\s+"),
)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Layout:
    """Where an HTML string may be cut, and which tags are open at each position."""

    def __init__(self, html: str) -> None:
        n = len(html)
        self.html = html
        self.safe = [False] * (n + 1)
        self.visible = [False] * (n + 1)  # html[i] is text the reader sees (not a tag)
        self.stack: list[tuple[str, ...]] = [()] * (n + 1)
        self.cum = [0] * (n + 1)  # UTF-16 length of html[:i]
        for i, ch in enumerate(html):
            self.cum[i + 1] = self.cum[i] + (2 if ord(ch) > 0xFFFF else 1)
        open_tags: tuple[str, ...] = ()
        for match in _TOKEN.finditer(html):
            token, start, end = match.group(0), match.start(), match.end()
            self.safe[start] = True
            self.stack[start] = open_tags
            if token.startswith("<") and len(token) > 1:
                if token.startswith("</"):
                    open_tags = open_tags[:-1]
                elif not token.endswith("/>"):
                    open_tags = (*open_tags, token)
                continue
            if token.startswith("&") and len(token) > 1:
                self.visible[start] = True  # an entity is one atomic visible character
                continue
            for i in range(start, end):
                self.safe[i] = True
                self.stack[i] = open_tags
                self.visible[i] = not ch_is_space(html[i])
        self.safe[n] = True
        self.stack[n] = open_tags
        self.seen = [0] * (n + 1)  # visible characters in html[:i]
        for i in range(n):
            self.seen[i + 1] = self.seen[i] + self.visible[i]

    def cost(self, start: int, end: int) -> int:
        """UTF-16 length of the chunk html[start:end] with its tags reopened and closed."""
        opened = "".join(self.stack[start])
        closing = _closing(self.stack[end])
        return _utf16_len(opened) + self.cum[end] - self.cum[start] + _utf16_len(closing)

    def chunk(self, start: int, end: int) -> str:
        body = self.html[start:end].rstrip()
        return "".join(self.stack[start]) + body + _closing(self.stack[end])

    def has_text(self, start: int, end: int) -> bool:
        return self.seen[end] > self.seen[start]


def ch_is_space(ch: str) -> bool:
    """Whether ``ch`` is whitespace (a cut may swallow it)."""
    return ch.isspace()


def _closing(stack: Sequence[str]) -> str:
    closing = []
    for tag in reversed(stack):
        name = _TAG_NAME.match(tag)
        if name:
            closing.append(f"</{name.group(1)}>")
    return "".join(closing)


def split_html(html: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split HTML into chunks of at most ``limit``, cutting at paragraph, line, sentence or word
    boundaries, closing the open tags at each cut and reopening them in the next chunk."""
    html = html.strip()
    if _utf16_len(html) <= limit:
        return [html] if html else []
    layout = _Layout(html)
    cuts = [
        [(m.start(), m.end()) for m in boundary.finditer(html) if layout.safe[m.start()]]
        for boundary in _BOUNDARIES
    ]
    chunks: list[str] = []
    start = 0
    n = len(html)
    while start < n:
        if layout.cost(start, n) <= limit:
            if layout.has_text(start, n):
                chunks.append(layout.chunk(start, n))
            break
        cut = _best_cut(layout, cuts, start, limit)
        if cut is None:
            raise ValueError("a single tag does not fit in a Telegram message")
        end, resume = cut
        chunks.append(layout.chunk(start, end))
        start = resume
    return chunks


def _best_cut(
    layout: _Layout, cuts: list[list[tuple[int, int]]], start: int, limit: int
) -> tuple[int, int] | None:
    """The (end, next start) of the chunk beginning at ``start``: the latest cut of the best kind
    that fits and keeps at least half the room used; failing that, the latest safe position."""
    room = limit - _utf16_len("".join(layout.stack[start]))
    # No chunk can extend past the position where the raw text alone fills the room.
    furthest = bisect.bisect_right(layout.cum, layout.cum[start] + room) - 1
    for rank, kind in enumerate(cuts):
        i = bisect.bisect_right(kind, (furthest, len(layout.html) + 1)) - 1
        while i >= 0 and kind[i][0] > start:
            end, resume = kind[i]
            if layout.cost(start, end) <= limit:
                if layout.has_text(start, end) and (
                    rank == 0 or layout.cum[end] - layout.cum[start] >= room // 2
                ):
                    return end, resume
                break
            i -= 1
    for end in range(furthest, start, -1):
        if layout.safe[end] and layout.has_text(start, end) and layout.cost(start, end) <= limit:
            return end, end
    return None
