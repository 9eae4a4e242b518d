"""The project's one sentence splitter: rule-based English, offsets into the original text.

It runs on every paragraph of large corpora, so candidates are found by compiled regexes and
only the few characters around each candidate are looked at in Python. A candidate boundary is
terminal punctuation (. ! ? … or a run of them), optional closing quotes or brackets, then
spaces. It is not a boundary when the next word starts in lower case ("e.g. the", "?” she
asked"), after a title ("Mr.", "Maj.", "Sen."), after "e.g."/"i.e."/"vs.", after "No."/"Jan."
before a number, or after an initial, a dotted acronym or an abbreviation that also ends
sentences ("J. R. R. Tolkien", "the U.S. economy", "5 p.m. Monday", "King Jr. Day") unless the
next word typically starts a sentence ("in the U.S. The ..."). A line break always ends a
sentence. Decimals ("3.5") never match because no space follows the dot.

Quotations are kept whole, because a quote cut in two loses its speaker or its meaning: inside
a quotation that opens and closes on the same line and is at most ``QUOTE_MAX_CHARS`` long there
is no boundary, and a quotation ending in . ! or ? stays one sentence with the attribution that
follows it ("“We have hope.” Bakri told CNN."). A piece of punctuation alone (a stray closing
quote) joins the sentence before it.

A short line without final punctuation ("Rushing to the scene", "1. Joe meets Rick again") is a
heading, not a sentence: ``sentence_spans`` leaves it out so it is never quoted as an answer,
while ``text_spans`` keeps it for code that must account for every word (cutting paragraphs).

A "sentence" longer than ``MAX_SENTENCE_CHARS`` (a run-on list, text without punctuation) is
cut into pieces at the last clause mark or space before the limit, so quotes and sentence
vectors stay bounded however a source is written.

Sentence spans are stored in the index, so bump ``SPLITTER_VERSION`` whenever the output of
``sentence_spans`` changes: the manifest records it and ``citebot index stats`` names an index
split the old way (a plain ``citebot index build`` re-splits every paragraph and embeds only the
sentences whose text changed).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

# 2: abbreviations of military and civil titles, "Jr."/"Sr."/"St." only before a sentence
# starter, quotations kept whole with their attribution, headings left out, stray punctuation
# joined to its sentence.
SPLITTER_VERSION = 2

# About 250 model tokens of English: what the embedding model reads of one sentence.
MAX_SENTENCE_CHARS = 1000
# A quotation up to this long (opening to closing mark) is one sentence however many it holds:
# a few sentences of speech, no longer than a long sentence (about the 95th percentile of news
# and Wikipedia sentences), so it reads as one answer and sentence-level retrieval signals,
# fitted on ordinary sentences, still apply to it. Longer quotations are split as prose.
QUOTE_MAX_CHARS = 300
# An attribution is short and has its speech verb among its first words ("Bakri told CNN.",
# "Susan Cohen, whose daughter was killed, said.").
ATTRIBUTION_MAX_WORDS = 16
ATTRIBUTION_VERB_WITHIN = 8
_ATTRIBUTION_MAX_CHARS = 200
# A heading is one short line; longer lines without punctuation are text (a truncated source).
HEADING_MAX_WORDS = 12
HEADING_MAX_CHARS = 100
_CLAUSE_MARKS = ("; ", ": ", ", ", ") ", " ")

_LINE = re.compile(r"[^\n]+")
# The lookbehind makes each run of punctuation match once, from its start, so a long run of
# dots or a long token cannot make the scan quadratic.
_BOUNDARY = re.compile(r"(?<![.!?…])([.!?…]++)([\"'”’»)\]]*+)[^\S\n]++(?=\S)")
_NEXT_WORD = re.compile(r"[\"'“‘«(\[]*+([^\W_]+)")
_OPENERS = "\"'“‘«([{"
_CLOSERS = "\"'”’»)]}"
_QUOTE_MARKS = re.compile(r"[\"“”„«»]")
_OPEN_QUOTES = "“„«"
_CLOSE_QUOTES = "”»"
# A straight quote after one of these (or at a line start) opens a quotation.
_BEFORE_OPENING = "([{—–-/"
_FINAL_MARKS = ".!?…:;,"
_LINE_END_MARKS = ".!?…:"
_PAIRS = (("(", ")"), ("[", "]"), ("“", "”"))
_ALNUM = re.compile(r"[^\W_]")
_NON_SPACE = re.compile(r"\S")
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_INITIAL_OR_ACRONYM = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")
_NUMBER = re.compile(r"\d{1,3}|[ivxlcdm]{1,4}|[IVXLCDM]{1,4}")

# Titles before a name: never the end of a sentence.
_TITLES = frozenset(
    """mr mrs ms messrs mme mlle dr prof mt ft gen gens col cols lt lts maj brig sgt sgts capt
    capts cpl pvt pfc spc ens cmdr adm gov govs sen sens rep reps atty amb rev msgr hon rt pres
    supt insp det fr sra srta""".split()
)
_NEVER_FINAL = frozenset("e.g i.e cf vs viz ca approx".split())
_BEFORE_NUMBERS = frozenset(
    """no nos vol vols p pp fig figs art sec ch ed op par jan feb mar apr jun jul aug sep sept
    oct nov dec""".split()
)
# Abbreviations that end sentences as often as they sit inside one ("Martin Luther King Jr.",
# "on Main St.", "Apple Inc.").
_AMBIGUOUS = frozenset("etc al inc ltd co corp bros jr sr st".split())
# Words that start sentences far more often than they follow an initial or an acronym.
_STARTERS = frozenset(
    """the a an he she it they we i you his her its their our my this that these those there
    but and so yet or in on at as if when while after before however meanwhile still also for
    then thus since although though what who why how""".split()
)
# Verbs that say who spoke; present tenses only where they rarely mean anything else.
_SPEECH_VERBS = frozenset(
    """said says say told tells added adds asked asks explained explains wrote writes
    continued recalled recalls noted insisted replied replies answered shouted yelled screamed
    whispered declared stated tweeted posted admitted acknowledged argued warned claimed
    conceded responded remarked testified cried exclaimed joked laughed sighed agreed concluded
    pleaded urged according announced confirmed commented observed predicted boasted
    complained lamented quipped reported suggested""".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return (start, end) offsets of the sentences of ``text``; each slice is stripped."""
    return [(start, end) for start, end, sentence in _pieces(text) if sentence]


def text_spans(text: str) -> list[tuple[int, int]]:
    """Like ``sentence_spans`` but with headings too: every word of ``text`` is in one span."""
    return [(start, end) for start, end, _sentence in _pieces(text)]


def _pieces(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_sentence) of every piece of every line, in order."""
    pieces: list[tuple[int, int, bool]] = []
    # A heading-shaped line is a heading only if the line after it starts a sentence ("dioxygen,
    # O" + "2, which ..." is one sentence broken across lines): it waits for that line.
    waiting = -1
    ended = True  # whether the line before ended a sentence (or was a heading)
    for line in _LINE.finditer(text):
        line_start, line_end = line.span()
        spans: list[tuple[int, int]] = []
        start = line_start
        for match in _boundaries(text, line_start, line_end):
            _add(spans, text, start, match.end(2))
            start = match.end()
        _add(spans, text, start, line_end)
        if not spans:
            continue
        if len(spans) > 1:
            spans = _punctuation_joined(text, spans)
        if waiting >= 0:
            if not _starts_sentence(text, spans[0][0]):
                start, end, _ = pieces[waiting]
                pieces[waiting] = (start, end, True)
                ended = False
            waiting = -1
        last_start, last_end = spans[-1]
        if ended and len(spans) == 1 and _is_heading(text, last_start, last_end):
            waiting = len(pieces)
            pieces.append((last_start, last_end, False))
            continue  # ``ended`` stays True: a heading ends what came before it
        for start, end in spans:
            pieces.append((start, end, _has_word(text, start, end)))
        ended = _final_mark(text, last_start, last_end) in _LINE_END_MARKS
    return pieces


def _boundaries(text: str, line_start: int, line_end: int) -> list[re.Match[str]]:
    """The sentence boundaries of one line."""
    found = [
        match
        for match in _BOUNDARY.finditer(text, line_start, line_end)
        if _is_boundary(text, line_start, match)
    ]
    if not found:
        return found
    quotations = _quotations(text, line_start, line_end)
    if not quotations:
        return found
    opens = [start for start, _ in quotations]
    closings = [end for _, end in quotations]
    found = [m for m in found if not _inside_quotation(m, quotations, opens)]
    kept: list[re.Match[str]] = []
    for i, match in enumerate(found):
        start = kept[-1].end() if kept else line_start
        if _bare_quotation(text, start, match, quotations, closings):
            end = found[i + 1].end(2) if i + 1 < len(found) else line_end
            if _is_attribution(text, match.end(), end):
                continue
        kept.append(match)
    return kept


def _quotations(text: str, line_start: int, line_end: int) -> list[tuple[int, int]]:
    """(opening, closing) positions of the double-quoted passages of a line that close on it."""
    found: list[tuple[int, int]] = []
    opened = -1
    for mark in _QUOTE_MARKS.finditer(text, line_start, line_end):
        at = mark.start()
        char = mark.group()
        if char == '"':
            before = text[at - 1] if at > line_start else " "
            after = text[at + 1] if at + 1 < line_end else " "
            if (before.isspace() or before in _BEFORE_OPENING) and not after.isspace():
                opening = True
            elif not before.isspace():
                opening = False
            else:  # a quote between spaces closes an open quotation, else means nothing
                if opened < 0:
                    continue
                opening = False
        else:
            opening = char in _OPEN_QUOTES
        if opening:
            # An earlier opening never closed (a quotation running on to the next paragraph).
            opened = at
        elif opened >= 0:
            found.append((opened, at))
            opened = -1
    return found


def _inside_quotation(
    match: re.Match[str], quotations: list[tuple[int, int]], opens: list[int]
) -> bool:
    """Whether a boundary falls inside a quotation short enough to keep whole."""
    i = bisect_right(opens, match.start()) - 1
    if i < 0:
        return False
    opening, closing = quotations[i]
    # The boundary that takes the closing mark ends the quotation: it is not inside.
    return match.end(2) <= closing and closing - opening < QUOTE_MAX_CHARS


def _bare_quotation(
    text: str, start: int, match: re.Match[str], quotations: list[tuple[int, int]],
    closings: list[int],
) -> bool:
    """Whether the sentence ending at ``match`` is nothing but a quotation (so has no speaker)."""
    i = bisect_left(closings, match.start(2))
    if i == len(closings) or closings[i] >= match.end(2):
        return False  # the boundary closes no quotation
    return _NON_SPACE.search(text, start, quotations[i][0]) is None


def _is_attribution(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` says who spoke the quotation before it ("Smith said.")."""
    if end - start > _ATTRIBUTION_MAX_CHARS:
        return False
    piece = text[start:end].strip()
    if not piece or piece[0] in _OPENERS:
        return False
    words = _WORDS.findall(piece)
    if len(words) > ATTRIBUTION_MAX_WORDS:
        return False
    return any(word.lower() in _SPEECH_VERBS for word in words[:ATTRIBUTION_VERB_WITHIN])


def _has_word(text: str, start: int, end: int) -> bool:
    return _ALNUM.search(text, start, end) is not None


def _punctuation_joined(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join each piece of punctuation alone (a stray closing quote, "...") to its neighbour."""
    if all(_has_word(text, start, end) for start, end in spans):
        return spans
    joined: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None  # punctuation before the line's first sentence
    for start, end in spans:
        if _has_word(text, start, end):
            if pending is not None and end - pending[0] <= MAX_SENTENCE_CHARS:
                start = pending[0]
            elif pending is not None:
                joined.append(pending)
            pending = None
            joined.append((start, end))
        elif joined and end - joined[-1][0] <= MAX_SENTENCE_CHARS:
            joined[-1] = (joined[-1][0], end)
        elif pending is not None and end - pending[0] <= MAX_SENTENCE_CHARS:
            pending = (pending[0], end)
        else:
            if pending is not None:
                joined.append(pending)
            pending = (start, end)
    if pending is not None:
        joined.append(pending)
    return joined


def _final_mark(text: str, start: int, end: int) -> str:
    """The last character of ``text[start:end]`` before any closing quotes and brackets."""
    while end > start and text[end - 1] in _CLOSERS:
        end -= 1
    return text[end - 1] if end > start else ""


def _is_heading(text: str, start: int, end: int) -> bool:
    """Whether a line is shaped like a heading: short, capitalized, without final punctuation."""
    if end - start > HEADING_MAX_CHARS:
        return False
    mark = _final_mark(text, start, end)
    if not mark or mark in _FINAL_MARKS or mark.isspace():
        return False
    first = _ALNUM.search(text, start, end)
    if first is None or not (first.group().isupper() or first.group().isdigit()):
        return False
    piece = text[start:end]
    if len(piece.split()) > HEADING_MAX_WORDS:
        return False
    # A bracket or quotation left open runs on into the next line.
    return all(piece.count(a) == piece.count(b) for a, b in _PAIRS if a in piece or b in piece)


def _starts_sentence(text: str, start: int) -> bool:
    first = _ALNUM.search(text, start, start + 8)
    return first is not None and first.group().isupper()


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
