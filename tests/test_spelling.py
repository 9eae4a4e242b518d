"""Spelling correction: unknown words become the vocabulary terms they were meant to be."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bot.typos import correct_spelling
from index.spelling import Speller

VOCAB = ["penicillin", "discover", "rosetta", "stone", "found", "khan", "congress", "student",
         "barkley", "sector", "fold", "marri", "maria", "witch", "arpaio"]
DF = np.array([3, 5, 4, 9, 12, 2, 6, 8, 2, 1, 1, 2, 3, 1, 2])


def speller(dictionary: frozenset[str] = frozenset()) -> Speller:
    return Speller(VOCAB, DF, dictionary)


def test_corrects_unknown_words_within_one_or_two_edits() -> None:
    s = speller()
    assert s.correct("penicilin") == "penicillin"  # a letter left out
    assert s.correct("discoverd") == "discover"  # by its stem
    assert s.correct("rosseta") == "rosetta"  # two edits in a long word
    assert s.correct("congres") == "congress"  # by the word as typed
    assert s.correct("studnets") == "student"  # swapped letters
    assert s.correct("barkely") == "barkley"


def test_leaves_known_real_and_ambiguous_words_alone() -> None:
    s = speller(dictionary=frozenset({"quake", "fond"}))
    assert s.correct("stone") is None  # known
    assert s.correct("quake") is None and s.correct("fond") is None  # real words
    assert s.correct("zzzzzzzz") is None  # nothing close
    assert s.correct("mari") is None or s.correct("mari") in {"marri", "maria"}
    assert s.correct("maried") is None  # a short stem of a longer word is too ambiguous
    assert s.correct("kahn") == "khan"  # a swap in a short word is a slip
    assert s.correct("fnud") is None  # two substitutions in a short word are not


def _weights(known: set[str]):  # type: ignore[no-untyped-def]
    def weights(terms: Iterable[str]) -> dict[str, float]:
        return {t: (1.0 if t in known else 9.0) for t in terms}

    return weights


def test_rewrites_only_unknown_words_and_question_words() -> None:
    s = speller(dictionary=frozenset({"fond"}))

    def corrections(words: Iterable[str]) -> dict[str, str]:
        return {w: c for w in words if (c := s.correct(w)) is not None}

    weights = _weights({"stone", "found", "penicillin", "discover", "witch"})
    fix = lambda q: correct_spelling(q, corrections, weights, 9.0)  # noqa: E731
    assert fix("wen was the rosseta stone found") == "when was the rosetta stone found"
    assert fix("who discoverd penicilin?") == "who discover penicillin?"
    # At the start, a short unknown word one edit from a question word is that word.
    assert fix("wich witch was it") == "which witch was it"
    assert fix("Who found the stone?") == "Who found the stone?"
    assert fix("") == ""


def test_real_words_are_corrected_only_when_asked_to() -> None:
    s = speller(dictionary=frozenset({"fond"}))
    assert s.correct("fond") is None
    assert s.correct("fond", real_words=True) == "found"
