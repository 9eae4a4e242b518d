"""Spelling correction of query terms against the index's own vocabulary.

People type "penicilin", "rosseta" and "barkely". A term no indexed paragraph holds cannot match
anything lexically, and it makes a question look as if it named something the articles never
mention; when the corpus holds a term one or two edits away, that term is almost always what was
meant. Only unknown terms are corrected, so a rare but real word is never "fixed".
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from index.lexical_tokens import tokenize

# Shorter terms have too many neighbours one edit away ("wen": men, ten, wed...).
MIN_LENGTH = 4
# Terms at least this long may be two edits off (insertions, deletions, substitutions and
# transpositions of neighbours each count one edit); shorter ones one.
TWO_EDITS_FROM = 7
# Candidates considered per term, best first, before choosing by edit distance and frequency.
CANDIDATES = 25


def max_edits(term: str) -> int:
    """How many edits a term of this length may be from its correction."""
    return 2 if len(term) >= TWO_EDITS_FROM else 1


class Speller:
    """Corrects terms to the closest, most frequent vocabulary term within a few edits."""

    def __init__(
        self,
        vocab: Sequence[str],
        document_frequency: np.ndarray,
        dictionary: frozenset[str] = frozenset(),
        known: Container[str] | None = None,
    ) -> None:
        keep = [i for i, t in enumerate(vocab) if len(t) >= MIN_LENGTH - 1 and t.isalpha()]
        self._terms = [vocab[i] for i in keep]
        self._df = np.asarray(document_frequency, dtype=np.int64)[keep] if keep else np.zeros(0)
        # The index's own term lookup, when given, rather than a second copy of the vocabulary.
        self._known = known if known is not None else frozenset(vocab)
        # Real words the articles happen not to use ("quake", "shooter") are not typos.
        self._dictionary = dictionary

    def correct(self, word: str, real_words: bool = False) -> str | None:
        """The vocabulary term a lower-cased ``word`` was probably meant to be, or None.

        None when the word's term is known, or nothing close enough is; a real (dictionary) word
        only with ``real_words``, for a second try ("fond" for "found"). Both the word as typed
        and its stemmed term are compared with the (stemmed) vocabulary: "congres" is one edit
        from "congress", "studnets" (term "studnet") one from "student".
        """
        terms = tokenize(word)
        if len(terms) != 1 or terms[0] in self._known or not word.isalpha():
            return None
        if word in self._dictionary and not real_words:
            return None
        found: list[tuple[str, float, int]] = []
        for form in dict.fromkeys((word, terms[0])):
            # A short stem of a longer word ("mari" of "maried") is too ambiguous to correct.
            if len(form) < MIN_LENGTH or len(form) == MIN_LENGTH and form != word:
                continue
            hits = process.extract(form, self._terms, scorer=OSA.distance,
                                   score_cutoff=max_edits(form), limit=CANDIDATES)
            found.extend(h for h in hits if len(form) > MIN_LENGTH or _slip(form, h[0]))
        if not found:
            return None
        # Fewest edits first; among equals the one that keeps the first letter (typos rarely
        # hit it), then the term more paragraphs use, then alphabetical for determinism.
        best = min(
            found,
            key=lambda f: (f[1], f[0][0] != word[0], -int(self._df[f[2]]), f[0]),
        )
        return str(best[0])


def _slip(typed: str, term: str) -> bool:
    """Whether a short word is ``term`` with a letter left out or two letters swapped.

    Four-letter words are one substitution away from many others ("mari": mark, mary, maru),
    so only the commonest slips of short words count: "fond" for "found", "kahn" for "khan".
    """
    if len(term) == len(typed) + 1:
        it = iter(term)
        return all(ch in it for ch in typed)
    return len(term) == len(typed) and sorted(term) == sorted(typed) and term != typed
