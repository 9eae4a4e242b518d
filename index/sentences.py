"""The project's one sentence splitter: rule-based English, offsets into the original text.

It runs on every paragraph of large corpora, so candidates are found by compiled regexes and
only the few characters around each candidate are looked at in Python. A candidate boundary is
terminal punctuation (. ! ? … or a run of them), optional closing quotes or brackets, then
spaces. It is not a boundary when the next word starts in lower case ("e.g. the", "?” she
asked"), after a title ("Mr.", "Dr.", "St."), after "e.g."/"i.e."/"vs.", after "No."/"Jan."
before a number, or after an initial or a dotted acronym ("J. R. R. Tolkien", "the U.S.
economy") unless the next word typically starts a sentence ("in the U.S. The ..."). A line
break always ends a sentence. Decimals ("3.5") never match because no space follows the dot.

A "sentence" longer than ``MAX_SENTENCE_CHARS`` (a run-on list, text without punctuation) is
cut into pieces at the last clause mark or space before the limit, so quotes and sentence
vectors stay bounded however a source is written.
"""

from __future__ import annotations

import re

# About 250 model tokens of English: what the embedding model reads of one sentence.
MAX_SENTENCE_CHARS = 1000
_CLAUSE_MARKS = ("; ", ": ", ", ", ") ", " ")

_LINE = re.compile(r"[^\n]+")
# The lookbehind makes each run of punctuation match once, from its start, so a long run of
# dots or a long token cannot make the scan quadratic.
_BOUNDARY = re.compile(r"(?<![.!?…])([.!?…]++)([\"'”’»)\]]*+)[^\S\n]++(?=\S)")
_NEXT_WORD = re.compile(r"[\"'“‘«(\[]*+([^\W_]+)")
_OPENERS = "\"'“‘«([{"
_INITIAL_OR_ACRONYM = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")
_NUMBER = re.compile(r"\d{1,3}|[ivxlcdm]{1,4}|[IVXLCDM]{1,4}")

_TITLES = frozenset(
    """mr mrs ms messrs mme mlle dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep
    rev hon pres supt insp det fr sra srta""".split()
)
_NEVER_FINAL = frozenset("e.g i.e cf vs viz ca approx".split())
_BEFORE_NUMBERS = frozenset(
    """no nos vol vols p pp fig figs art sec ch ed op par jan feb mar apr jun jul aug sep sept
    oct nov dec""".split()
)
_AMBIGUOUS = frozenset("etc al inc ltd co corp bros".split())
# Words that start sentences far more often than they follow an initial or an acronym.
_STARTERS = frozenset(
    """the a an he she it they we i you his her its their our my this that these those there
    but and so yet or in on at as if when while after before however meanwhile still also for
    then thus since although though what who why how""".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return (start, end) offsets of the sentences of ``text``; each slice is stripped."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        line_start, line_end = line.span()
        start = line_start
        for match in _BOUNDARY.finditer(text, line_start, line_end):
            if _is_boundary(text, line_start, match):
                _add(spans, text, start, match.end(2))
                start = match.end()
        _add(spans, text, start, line_end)
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    start += len(piece) - len(piece.lstrip())
    end = start + len(stripped)
    while end - start > MAX_SENTENCE_CHARS:
        cut = _cut(text, start, start + MAX_SENTENCE_CHARS)
        _add(spans, text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append((start, end))


def _cut(text: str, start: int, limit: int) -> int:
    """Where to end an over-long piece: after a clause mark or space in its second half."""
    for mark in _CLAUSE_MARKS:
        found = text.rfind(mark, start + MAX_SENTENCE_CHARS // 2, limit)
        if found > 0:
            return found + len(mark.rstrip()) if mark.strip() else found
    return limit


def _is_boundary(text: str, line_start: int, match: re.Match[str]) -> bool:
    following = _NEXT_WORD.match(text, match.end())
    next_word = following.group(1) if following else ""
    if next_word[:1].islower():
        return False
    punctuation = match.group(1)
    if punctuation != ".":
        return True
    space = text.rfind(" ", line_start, match.start())
    word_start = line_start if space < 0 else space + 1
    word = text[word_start : match.start()].lstrip(_OPENERS)
    lower = word.lower()
    if lower in _TITLES or lower in _NEVER_FINAL:
        return False
    if lower in _BEFORE_NUMBERS and next_word[:1].isdigit():
        return False
    if word_start == line_start and _NUMBER.fullmatch(word):
        # "1. First item" or "IV. Results": a list marker, not a sentence.
        return False
    if lower in _AMBIGUOUS or _INITIAL_OR_ACRONYM.fullmatch(word):
        return next_word.lower() in _STARTERS
    return True
