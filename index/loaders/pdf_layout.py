"""Paragraphs rebuilt from the positioned lines of a PDF's pages.

A PDF holds lines of text at positions, not paragraphs. Running headers, footers and page
numbers are recognised by where they sit (the top or bottom lines of a page) and by repeating
across pages; paragraphs are rebuilt from the gaps between text boxes, first-line indents and
lines that end early; a paragraph that runs on into the next column or page is joined; words
hyphenated at a line end are joined again. Larger or bold short lines are headings: the first
and largest one on page 1 is the title, later ones name sections.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice, pairwise
from statistics import median

from index.models import Block

# Lines this close to the top or bottom edge (share of the page height) may be running lines.
_MARGIN_BAND = 0.15
# A running header or footer repeats on at least this share of the pages (and on two or more).
_REPEAT_SHARE = 0.25
# A heading is at least this much larger than the body text...
_HEADING_SCALE = 1.15
# ...and a run of heading lines longer than this is a paragraph set in large type instead.
_MAX_HEADING_LINES = 3
_MAX_HEADING_CHARS = 200
# A first line indented by at least this many font sizes starts a paragraph...
_INDENT = 0.8
# ...and so does a line further below the previous one than usual by this many font sizes.
_PARAGRAPH_SPACE = 0.4

_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|pg\.?|seite|página|pagina)?\s*[-–—(\[]?\s*(?:\d{1,4}|[ivxlcdm]{1,7})"
    r"\s*[-–—)\]]?\s*(?:(?:of|/|von|de)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]]*$")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_HYPHENATED_END = re.compile(r"([^\W\d_]+)[-\u00ad\u2010]$")
_LEADING_WORD = re.compile(r"^([^\W\d_]+)")


@dataclass(frozen=True)
class TextLine:
    """One line of text on a page; coordinates in points from the page's bottom left."""

    text: str
    x0: float
    x1: float
    bottom: float
    top: float
    size: float
    bold: bool = False
    # The text box (a run of closely spaced lines in one column) it belongs to on its page.
    box: int = 0


@dataclass(frozen=True)
class PageText:
    """The lines of one page in reading order."""

    number: int
    height: float
    lines: tuple[TextLine, ...]


@dataclass(frozen=True)
class _Extent:
    """Left and right edges of a text box and how many lines it has."""

    x0: float
    x1: float
    lines: int


@dataclass(frozen=True)
class _Geometry:
    """What paragraph breaks are measured against: each box's extent, the usual line gap."""

    # By page, box and font size: a title or heading sharing a box does not widen its text.
    extents: dict[tuple[int, int, int], _Extent]
    # Space between one line's bottom and the next one's top within a paragraph.
    line_gap: float

    def extent(self, page: int, line: TextLine) -> _Extent:
        """The extent of the lines set like ``line`` in its text box."""
        return self.extents[(page, line.box, round(line.size))]


def drop_running_lines(pages: Sequence[PageText]) -> list[PageText]:
    """Pages without their page numbers and the headers and footers repeated across pages."""
    candidates = {page.number: _edge_lines(page) for page in pages}
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({_running_key(page.lines[i].text) for i in candidates[page.number]})
    needed = max(2, round(_REPEAT_SHARE * len(pages)))
    kept = []
    for page in pages:
        drop = {
            i for i in candidates[page.number]
            if _PAGE_NUMBER.match(page.lines[i].text.strip())
            or (len(pages) > 1 and seen[_running_key(page.lines[i].text)] >= needed)
        }
        lines = tuple(line for i, line in enumerate(page.lines) if i not in drop)
        kept.append(replace(page, lines=lines))
    return kept


def _edge_lines(page: PageText) -> set[int]:
    """Indexes of the two highest and two lowest lines, where they lie in the margin bands."""
    if not page.lines:
        return set()
    by_height = sorted(range(len(page.lines)), key=lambda i: page.lines[i].top)
    band = _MARGIN_BAND * page.height
    low = {i for i in by_height[:2] if page.lines[i].top <= band}
    high = {i for i in by_height[-2:] if page.lines[i].bottom >= page.height - band}
    return low | high


def _running_key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.casefold().split()))


def rebuild(
    pages: Sequence[PageText], fallback_title: str | None = None
) -> tuple[str | None, list[Block]]:
    """The title (None if none stands out) and the paragraphs of ``pages`` as blocks."""
    lines = [(page.number, line) for page in pages for line in page.lines if line.text.strip()]
    if not lines:
        return fallback_title, []
    body = _body_size([line for _, line in lines])
    first_page = lines[0][0]
    # The title is set in the largest type of its page, larger than the body text.
    title_size = max(line.size for number, line in lines if number == first_page)
    geometry = _geometry(pages)
    builder = _Builder(_vocabulary(line.text for _, line in lines))
    title: str | None = None
    index = 0
    while index < len(lines):
        run = _heading_run(lines, index, body)
        if run:
            heading = " ".join(line.text.strip() for _, line in run)
            size = run[0][1].size
            if (title is None and run[0][0] == first_page and size >= title_size - 0.5
                    and size >= body * _HEADING_SCALE):
                title = heading
            else:
                builder.heading(heading)
            index += len(run)
            continue
        number, line = lines[index]
        builder.add(number, line, geometry)
        index += 1
    builder.flush()
    return title or fallback_title, builder.blocks


def _body_size(lines: Sequence[TextLine]) -> float:
    """The font size most of the text is set in (by characters)."""
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0]


def _geometry(pages: Sequence[PageText]) -> _Geometry:
    boxes: dict[tuple[int, int, int], list[TextLine]] = {}
    for page in pages:
        for line in page.lines:
            boxes.setdefault((page.number, line.box, round(line.size)), []).append(line)
    extents = {
        key: _Extent(min(line.x0 for line in box), max(line.x1 for line in box), len(box))
        for key, box in boxes.items()
    }
    gaps = [a.bottom - b.top for box in boxes.values() for a, b in pairwise(box)]
    return _Geometry(extents, median(gaps) if gaps else 0.0)


def _vocabulary(texts: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for text in texts:
        words.update(word.casefold() for word in _WORD.findall(text))
    return words


def _is_heading_line(line: TextLine, body: float) -> bool:
    text = line.text.strip()
    if len(text) > _MAX_HEADING_CHARS or not re.search(r"[^\W\d_]", text):
        return False
    if line.size >= body * _HEADING_SCALE:
        return True
    return line.bold and len(text) <= 100 and not _SENTENCE_END.search(text)


def _heading_run(
    lines: Sequence[tuple[int, TextLine]], start: int, body: float
) -> list[tuple[int, TextLine]]:
    """The heading lines starting at ``start`` (one heading may wrap), or [] for body text."""
    run: list[tuple[int, TextLine]] = []
    for number, line in islice(lines, start, None):
        if not _is_heading_line(line, body):
            break
        if run and (number != run[0][0] or abs(line.size - run[0][1].size) > 0.5):
            break
        run.append((number, line))
    too_long = sum(len(line.text) for _, line in run) > _MAX_HEADING_CHARS
    return [] if len(run) > _MAX_HEADING_LINES or too_long else run


class _Builder:
    """Joins body lines into paragraphs, one at a time."""

    def __init__(self, vocabulary: set[str]) -> None:
        self.blocks: list[Block] = []
        self._vocabulary = vocabulary
        self._section: str | None = None
        self._text = ""
        self._page = 0
        self._last: tuple[int, TextLine] | None = None

    def heading(self, text: str) -> None:
        """A section heading: it ends the paragraph being built and names the next ones."""
        self.flush()
        self._section = text

    def add(self, page: int, line: TextLine, geometry: _Geometry) -> None:
        """Take the next body line in reading order."""
        text = line.text.strip()
        if self._last is not None and _starts_paragraph(self._last, (page, line), geometry):
            self.flush()
        if not self._text:
            self._text, self._page = text, page
        else:
            self._text = join_lines(self._text, text, self._vocabulary)
        self._last = (page, line)

    def flush(self) -> None:
        """End the paragraph being built."""
        if self._text:
            self.blocks.append(Block(self._text, self._section, self._page))
        self._text = ""
        self._last = None


def _starts_paragraph(
    previous: tuple[int, TextLine], current: tuple[int, TextLine], geometry: _Geometry
) -> bool:
    """Whether ``current`` starts a new paragraph rather than continuing ``previous``'s."""
    (page_p, p), (page_c, c) = previous, current
    if _HYPHENATED_END.search(p.text.rstrip()):
        return False
    here = geometry.extent(page_c, c)
    indented = here.lines >= 2 and c.x0 > here.x0 + _INDENT * c.size
    ended = _ended_early(p, c, geometry.extent(page_p, p))
    if (page_p, p.box) == (page_c, c.box):
        spaced = p.bottom - c.top > geometry.line_gap + _PARAGRAPH_SPACE * c.size
        return indented or ended or spaced
    # Another column or page, or a figure between: a paragraph runs on across it only from a
    # full line into a line that is not indented.
    return ended or indented


def _ended_early(line: TextLine, following: TextLine, extent: _Extent) -> bool:
    """Whether ``line`` stops short of its box's right edge by more than the next word needs.

    In justified and ragged-right text alike, a line is only broken early when its paragraph
    ends; a box of one line has no edge to compare with, so its line counts as ended.
    """
    if extent.lines < 2:
        return True
    text = line.text.strip()
    char = (line.x1 - line.x0) / max(1, len(text))
    words = following.text.split()
    needed = (len(words[0]) + 1.5) * char if words else 0.0
    return extent.x1 - line.x1 > needed


def join_lines(text: str, line: str, vocabulary: set[str]) -> str:
    """``text`` continued by the next ``line``: a word hyphenated at the line end is joined
    again unless the document spells it with a hyphen elsewhere; other lines meet at a space."""
    match = _HYPHENATED_END.search(text)
    if match is None:
        return f"{text} {line}"
    head = match.group(1)
    following = _LEADING_WORD.match(line)
    soft = text.endswith("\u00ad")
    if following is None or not (soft or following.group(1)[0].islower()):
        # "Jean-" + "Paul", "COVID-" + "19": a real hyphen.
        return text[:-1] + "-" + line
    tail = following.group(1)
    joined = (head + tail).casefold()
    compound = f"{head}-{tail}".casefold()
    if soft or joined in vocabulary or compound not in vocabulary:
        return text[:-1] + line
    return text[:-1] + "-" + line
