"""Remove site boilerplate from loaded documents and normalize their text.

Boilerplate is recognized on principle rather than by a list tuned to one site:

1. Repetition. A block whose normalized text occurs in at least ``repeat_threshold`` articles
   is site furniture (menus, footers, standard appeals). This only means something in a
   corpus of at least ``2 * repeat_threshold`` articles; below that, rules 2-4 still apply.
   Article text is quoted across stories too (a statement several reports repeat), so a
   repeated block is dropped only where boilerplate lives: in the leading or trailing run of
   boilerplate of its article, or when it is shorter than ``min_chars`` (a label, not a
   paragraph), or when it is in more than half of the corpus. If repetition would empty an
   article, the article is a duplicate rather than boilerplate and keeps those blocks.
2. Navigation lines. Short one-line blocks (at most six words) without sentence punctuation
   that start with an interface verb or label ("Skip To Content", "Republish This Story",
   "Please read before republishing", "Share", "Advertisement"), and menu lines of short items
   separated by | • · » ›. Subheadings are short lines too, so a plain short line is kept;
   only the interface vocabulary marks navigation.
3. Patterns, each matching a construction that addresses the site's reader, not a topic:
   donation appeals ("support our ... journalism", "become a ... member", "make a gift",
   "readers like you", "before you go", "join our mission", "donate today"); republishing
   notices ("republish this story", "before republishing", "available to republish", "to
   republish, copy the HTML"); browser notices ("we don't support Internet Explorer", "please
   use Chrome, Safari ..."; "enable JavaScript"); cookie and newsletter notices ("we use
   cookies", "sign up for our newsletter", "subscribe today"); and publisher sign-offs ("—
   Name, Publisher and CEO"). Phrases that could occur in reporting ("become a member", "make
   a gift", "donate today") count only in a block that speaks to the reader (you/your/our/we).
4. Tail. What follows the end of an article is boilerplate: once a donation or republishing
   block starts a suffix that runs to the end of the article, the unmatched blocks inside it
   ("Now more than ever, readers need independent news ...") are part of the appeal too. To
   never lose article text, the suffix must end in a boilerplate block, at least two thirds of
   its blocks must be recognized boilerplate, and it may contain no run of more than two
   consecutive unrecognized blocks; otherwise only the recognized blocks are dropped.

A block repeating the title at the top of an article is dropped (the title is metadata already).

Verbatim documents (JSON ``paragraphs``) are returned untouched: their numbering is the
source's. Other text is normalized to Unicode NFC with runs of spaces collapsed and line ends
trimmed; wording, case and punctuation are kept because the text is quoted to users.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from index.models import Document
from index.settings import SplitSettings

_ODD_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\t\f\v]")
_INVISIBLE = re.compile(r"[\u200b\u00ad\ufeff]")
_RUN_OF_SPACES = re.compile(r" {2,}")
_KEY_NOISE = re.compile(r"[\W_]+")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_FIRST_WORD = re.compile(r"[^\W\d_]+")
_MENU_SEPARATOR = re.compile(r"\s+[|•·»›]\s+")
_ADDRESSES_READER = re.compile(r"\b(?:you|your|you['’]ll|our|we|us)\b", re.I)

# First words of interface lines; a subheading rarely starts with one.
_NAVIGATION_WORDS = frozenset(
    """skip jump back return go share tweet email print republish subscribe sign log login
    register follow donate support join read click tap download watch listen view see continue
    please menu search close open toggle advertisement advertisements sponsored related comments
    comment tags home next previous accept manage""".split()
)
_MAX_NAVIGATION_WORDS = 6
# The tail rule tolerates at most this many consecutive unrecognized blocks.
_TAIL_GAP = 2


def _patterns(*expressions: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(expression, re.I) for expression in expressions)


_APOSTROPHE = "['’]"
# Matched anywhere in a block. Donation and republishing notices close articles, so they
# can start a tail (rule 4); the other notices also appear mid-article.
_CLOSING = _patterns(
    # Donation appeals.
    r"\bsupport (?:our|us|the \w+" + _APOSTROPHE + r"?s?|independent|nonprofit)\b[^.!?]{0,80}"
    r"\b(?:journalism|reporting|newsroom|work|mission)\b",
    r"\breaders like you\b",
    r"\bbefore you go\b",
    r"\bjoin our mission\b",
    # Republishing notices.
    r"\brepublish (?:this|our) (?:story|article|piece)\b",
    r"\bbefore republishing\b",
    r"\bavailable (?:for you )?to republish\b",
    r"\bto republish\b[^.!?]{0,40}\b(?:copy|html|embed|guidelines)\b",
    r"\brepublishing guidelines\b",
)
_NOTICES = _patterns(
    # Browser notices.
    r"\b(?:we|this site) (?:do not|don" + _APOSTROPHE + r"t|no longer) support "
    r"(?:internet explorer|your browser)\b",
    r"\bplease (?:use|switch to|upgrade to) (?:a (?:modern|different|supported|newer) browser"
    r"|chrome|firefox|safari|edge)\b",
    r"\b(?:upgrade|update) your (?:web )?browser\b",
    r"\b(?:enable|turn on) javascript\b|\bjavascript is (?:disabled|required)\b",
    # Cookie and newsletter notices.
    r"\b(?:we|this (?:web)?site) uses? cookies\b",
    r"\baccept (?:all )?cookies\b",
    r"\bcookie (?:policy|settings|preferences)\b",
    r"\bsign up for (?:our|the|a) (?:[\w-]+ ){0,3}newsletters?\b",
    r"\bsubscribe (?:to (?:our|the) (?:[\w-]+ ){0,3}(?:newsletter|podcast|channel)s?|now|today)\b",
    r"\bdelivered (?:straight )?to your inbox\b",
    # Publisher sign-off: the whole block is "— Name, Title".
    r"^[—–-]\s*[^,\n]{2,60},\s*(?:[\w-]+ ){0,4}(?:publisher|editor(?:-in-chief)?|ceo|president"
    r"|executive director|founder)\b[^.!?\n]*$",
)
# Phrases that also occur in reporting; boilerplate only when the block addresses the reader.
_APPEALS = _patterns(
    r"\bbecom(?:e|ing) an? (?:[\w-]+ ){0,2}(?:member|subscriber|donor|supporter)\b(?! of\b)",
    r"\bmake a (?:tax-deductible |one-time |recurring |monthly )?(?:gift|donation|contribution)\b",
    r"\b(?:donate|give|contribute) (?:now|today)\b",
)


def normalize_text(text: str) -> str:
    """NFC, one space between words, trimmed lines, no empty lines; wording kept as is."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _RUN_OF_SPACES.sub(" ", _ODD_SPACES.sub(" ", _INVISIBLE.sub("", text)))
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def block_key(text: str) -> str:
    """The form of a block compared across articles: case and punctuation ignored."""
    return _KEY_NOISE.sub(" ", text.casefold()).strip()


def is_navigation(text: str) -> bool:
    """Whether a block is an interface line (navigation, share or republish button, menu)."""
    text = text.strip()
    if not text or "\n" in text or _SENTENCE_END.search(text):
        return False
    parts = _MENU_SEPARATOR.split(text)
    if len(parts) >= 3 and all(len(part.split()) <= 4 for part in parts):
        return True
    words = text.split()
    if len(words) > _MAX_NAVIGATION_WORDS:
        return False
    first = _FIRST_WORD.search(text)
    return first is not None and first.group(0).casefold() in _NAVIGATION_WORDS


def matches_boilerplate(text: str) -> bool:
    """Whether a block matches one of the documented boilerplate patterns."""
    return _is_closing(text) or any(pattern.search(text) for pattern in _NOTICES)


def _is_closing(text: str) -> bool:
    if any(pattern.search(text) for pattern in _CLOSING):
        return True
    return bool(_ADDRESSES_READER.search(text)) and any(p.search(text) for p in _APPEALS)


def clean_documents(docs: Sequence[Document], settings: SplitSettings) -> tuple[Document, ...]:
    """Normalize text and drop boilerplate blocks; verbatim documents are returned unchanged."""
    cleaner = Cleaner(settings)
    normalized = [cleaner.add(doc) for doc in docs]
    cleaner.finish()
    return tuple(cleaner.clean(doc) for doc in normalized)


class Cleaner:
    """Cleaning in two steps, so documents can stream: ``add`` each, ``finish``, ``clean`` each.

    Repetition (rule 1) is counted over every prose document first; ``clean`` then needs only
    the document at hand.
    """

    def __init__(self, settings: SplitSettings) -> None:
        self._settings = settings
        self._threshold = max(2, settings.repeat_threshold)
        self._counts: Counter[str] = Counter()
        self._prose = 0
        self._repeated: set[str] = set()
        self._ubiquitous: set[str] = set()

    def add(self, doc: Document) -> Document:
        """``doc`` normalized (verbatim ones unchanged), its blocks counted for repetition."""
        if doc.verbatim:
            return doc
        normalized = _normalized(doc)
        self._prose += 1
        self._counts.update({block_key(block.text) for block in normalized.blocks})
        return normalized

    def finish(self) -> None:
        """Settle which blocks repeat, once every document was added."""
        if self._prose < 2 * self._threshold:  # too few articles for repetition to mean much
            self._counts.clear()
        counts = self._counts
        self._repeated = {key for key, n in counts.items() if key and n >= self._threshold}
        self._ubiquitous = {key for key in self._repeated if counts[key] * 2 > self._prose}
        self._counts = Counter()

    def clean(self, doc: Document) -> Document:
        """An added (normalized) document without its boilerplate; verbatim ones unchanged."""
        if doc.verbatim:
            return doc
        return _cleaned(doc, self._repeated, self._ubiquitous, self._settings.min_chars)


def _normalized(doc: Document) -> Document:
    blocks = []
    for block in doc.blocks:
        text = normalize_text(block.text)
        if text:
            section = normalize_text(block.section) if block.section else None
            blocks.append(replace(block, text=text, section=section or None))
    return replace(doc, title=normalize_text(doc.title) or doc.article_id, blocks=tuple(blocks))


def _cleaned(doc: Document, repeated: set[str], ubiquitous: set[str], short: int) -> Document:
    blocks = list(doc.blocks)
    if not blocks:
        return doc
    keys = [block_key(block.text) for block in blocks]
    title_key = block_key(doc.title)
    recognized = [is_navigation(b.text) or matches_boilerplate(b.text) for b in blocks]
    is_repeated = [key in repeated for key in keys]
    boiler = [r or p for r, p in zip(recognized, is_repeated, strict=True)]
    drop = list(recognized)
    tail = _tail_start([_is_closing(b.text) for b in blocks], boiler)
    if tail is not None:
        drop[tail:] = [True] * (len(blocks) - tail)
    # Repeated blocks go where boilerplate lives: the edges, labels, or nearly every article.
    lead_end = next((i for i, b in enumerate(boiler) if not b), len(blocks))
    trail_start = next((i + 1 for i in range(len(blocks) - 1, -1, -1) if not boiler[i]), 0)
    dropped_for_repetition = []
    for i, block in enumerate(blocks):
        if drop[i] or not is_repeated[i]:
            continue
        at_edge = i < lead_end or i >= trail_start
        # Shorter than a paragraph (``min_chars``): a label or a slogan, not a quoted passage.
        if at_edge or len(block.text) < short or keys[i] in ubiquitous:
            drop[i] = True
            dropped_for_repetition.append(i)
    if all(drop) and dropped_for_repetition:
        # Nothing but repeated text: a duplicated article, not boilerplate.
        for i in dropped_for_repetition:
            drop[i] = False
    kept = [block for i, block in enumerate(blocks) if not drop[i]]
    while kept and block_key(kept[0].text) == title_key:
        kept.pop(0)
    return replace(doc, blocks=tuple(kept))


def _tail_start(closing: list[bool], boiler: list[bool]) -> int | None:
    """Index where a boilerplate tail begins, or None (see rule 4 in the module docstring)."""
    if not boiler or not boiler[-1]:
        return None
    for start, is_closing in enumerate(closing):
        if not is_closing:
            continue
        suffix = boiler[start:]
        if sum(suffix) * 3 < len(suffix) * 2:
            continue
        gap = 0
        for flag in suffix:
            gap = 0 if flag else gap + 1
            if gap > _TAIL_GAP:
                break
        else:
            return start
    return None
