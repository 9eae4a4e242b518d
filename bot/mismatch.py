"""Near misses: a question whose number the cited paragraph does not have is not answered by it.

"who won super bowl 51" retrieves the Super Bowl 50 paragraph, and every other word matches;
"who won the heisman trophy in 1936" finds the 1935 winner. A number the question states (a
year, an edition, a count) that the paragraph and its title never mention means the paragraph
is about something else, however well the rest matches.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_DIGITS = {
    "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
    "8": "eight", "9": "nine", "10": "ten", "11": "eleven", "12": "twelve",
}


def _numbers(text: str) -> list[str]:
    return [m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)]


def missing_numbers(question: str, text: str) -> list[str]:
    """The numbers of ``question`` that ``text`` does not state (in digits or in words).

    "1,320" and "1320" are the same number; "90s" is found in "1990s"; small numbers also count
    when written as words ("5" in "the Big Five").
    """
    # What follows the question mark is not part of what is asked ("…frames? 2").
    mark = question.rfind("?")
    asked = _numbers(question[:mark] if mark >= 0 else question)
    if not asked:
        return []
    present = set(_numbers(text))
    lowered = text.lower()
    missing = []
    for number in asked:
        if number in present or any(p.endswith(number) and len(number) == 2 for p in present):
            continue
        word = _DIGITS.get(number)
        if word is not None and re.search(rf"\b{word}\b", lowered):
            continue
        missing.append(number)
    return missing
