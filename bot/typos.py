"""Misspelled questions: rewrite words the articles don't know to the words they probably meant.

"wen was the rosseta stone fond" should be searched as "when was the rosetta stone found". Each
word whose term no indexed paragraph holds is replaced by the closest, most frequent term of the
index's vocabulary (index/spelling.py); short words that are one edit from a question word
("wen", "wat", "wich", "hw") become that question word, since question words are not in the
vocabulary at all (they are stop words there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from rapidfuzz.distance import OSA

from bot.question import STOPWORDS
from index import tokenize

QUESTION_WORDS = ("what", "when", "where", "which", "who", "whom", "whose", "why", "how")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)

Corrections = Callable[[Iterable[str]], Mapping[str, str]]
Weights = Callable[[Iterable[str]], Mapping[str, float]]


def _question_word(word: str) -> str | None:
    """The question word a short unknown word is one edit from ("wen" → "when"), if one."""
    if not 2 <= len(word) <= 5 or word in STOPWORDS:
        return None
    close = [q for q in QUESTION_WORDS if OSA.distance(word, q) <= 1 and q[0] == word[0]]
    return close[0] if len(close) == 1 else None


def correct_spelling(
    text: str, corrections: Corrections, weights: Weights, unseen: float
) -> str:
    """``text`` with words the index does not know replaced by their likely corrections.

    ``weights`` gives each term's idf; a term weighing ``unseen`` is one no paragraph holds.
    """
    found = list(_WORD.finditer(text))
    if not found:
        return text
    lowered: dict[int, str] = {}
    term_of: dict[int, str] = {}
    for i, match in enumerate(found):
        lowered[i] = match.group().lower().replace("’", "'")
        terms = tokenize(lowered[i])
        if len(terms) == 1 and lowered[i] not in STOPWORDS:
            term_of[i] = terms[0]
    known = weights(term_of.values()) if term_of else {}
    unknown = {i: lowered[i] for i, t in term_of.items() if known.get(t, 0.0) >= unseen > 0}
    if not unknown:
        return text
    fixes = corrections(set(unknown.values()))
    pieces: list[str] = []
    last = 0
    for i, match in enumerate(found):
        if i not in unknown:
            continue
        word = match.group()
        # A question opens with its question word, so there "wich" is "which", not "witch".
        replacement = _question_word(word.lower()) if i == 0 else None
        if replacement is None:
            replacement = fixes.get(unknown[i])
        if replacement is None and len(word) <= 5:
            replacement = _question_word(word.lower())
        if replacement is None:
            continue
        pieces.append(text[last : match.start()])
        pieces.append(replacement)
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)
