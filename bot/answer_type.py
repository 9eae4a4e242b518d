"""What a question asks for, and whether a sentence holds something of that kind.

"how long do worker bees live" wants a duration, "how many died" a count, "when" a date, "who" a
person, "where" a place, "why" a reason, "what did X say" X's own words. A sentence that shares
the question's words but holds nothing of the kind asked for ("Worker bees change jobs as they
age.") is not the answer, however similar it is; these checks let the sentence choice see that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Kinds of answer, in the order of the features they give (see ``type_features``).
KINDS = ("number", "date", "person", "place", "reason", "quote")
# Kinds whose absence from a quote can be told: a count or a date is written with digits or
# with words from short lists, while the person, place, reason and quote patterns only guess.
CHECKABLE = frozenset({"number", "date"})
_ASKING = re.compile(r"\b(what|which|who|whom|whose|where|why|how|when)\b")

_NUMBER_Q = re.compile(
    r"\b(how (many|much|long|old|far|big|large|tall|high|heavy|fast|deep|wide|often|big)"
    r"|what (number|percentage|percent|amount|age|score|size|price|population)"
    r"|what was the (score|total|toll|death toll|cost|final score))\b"
)
_DATE_Q = re.compile(
    r"^(when|since when)\b|\b(when (did|was|were|is|will|does|do|has|had)"
    r"|what (year|date|day|month|time|decade|century)|which (year|day|month))\b"
)
_PERSON_Q = re.compile(r"^(who|whom|whose)\b|\b(who (is|was|were|did|does|won|will|has|had)"
                       r"|which (man|woman|person|player|team)|whose)\b")
_PLACE_Q = re.compile(r"^where\b|\b(where (is|was|were|did|does|do|are|will)"
                      r"|what (city|country|town|state|island|place|county|region)"
                      r"|which (city|country|town|state|island|place))\b")
_REASON_Q = re.compile(r"^why\b|\b(why|how come|what (caused|led to|made)|reason|the cause)\b")
_QUOTE_Q = re.compile(
    r"\b(what (did|does|do|has|had|would)\b.{0,60}\b(say|said|says|think|thinks|tell|told|"
    r"write|wrote|claim|claimed|mean|call|describe|describ)\w*"
    r"|according to|what'?s?.{0,40}\b(quote|said)|how did .{0,40}\b(react|respond|describe))"
)

_MONTHS = ("january february march april may june july august september october november "
           "december jan feb mar apr jun jul aug sep sept oct nov dec").split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(" + "|".join(_MONTHS + _WEEKDAYS) + r")\b"
    r"|\b(today|yesterday|tonight|last (week|month|year|night)|(days?|weeks?|months?|years?) "
    r"(ago|later|earlier|before|after)|century|decade|\d{1,2}:\d{2}|a\.m\.|p\.m\.)",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred hundreds thousand thousands million millions billion billions dozen dozens half "
    "single double twice triple quarter"
).split()
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_REASON = re.compile(
    r"\b(because|since|due to|owing to|as a result|result of|in order to|so that|so as to|"
    r"reason|caused|cause|led to|lead to|after|grounds|thanks to|blamed|blames|prompted|"
    r"in an effort|to avoid|to protect|to prevent|for fear|aimed|designed to|why)\b",
    re.IGNORECASE,
)
_QUOTE = re.compile(r"[\"“”]|\b(said|says|say|told|tells|added|wrote|writes|according to|"
                    r"stated|explained|insisted|argued|warned|noted|recalled|called it)\b",
                    re.IGNORECASE)
# A capitalized word that does not open the sentence: a name, of a person or a place.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?\b")
_PLACE_CUE = re.compile(r"\b(?:in|at|near|from|to|outside|inside|across|into)\s+(?:the\s+)?"
                        r"([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*)")
_PERSON_CUE = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|Sen|Rep|Gov|President|Minister|King|Queen|Prince|Judge|Justice|Sheriff|"
    r"Coach|Gen|Col|Capt|Sgt|Lt|Maj|Rev|Pope|Saint|St)\b\.?|\b[A-Z][a-z]+ [A-Z][a-z]+\b"
)


# What else answers "when" or "how many/long" besides a date or a number: any figure (a year
# such as 431 or 64 AD), an ordinal ("the 10th century"), a time of day or span, a temporal
# clause ("after the war", "until a loss"), and words of amount ("several", "a handful").
_DIGITS = re.compile(r"\d+")
_ORDINAL = (r"\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
            r"tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|"
            r"eighteenth|nineteenth|twentieth")
_TIME = re.compile(
    r"\b(after|before|during|until|till|since|while|when|whenever|following|once|as soon as|"
    r"prior to|by the time|at the (?:time|end|start|beginning|age)|end of|beginning of|start of|"
    r"early|late|later|earlier|ago|then|now|currently|today|recently|soon|immediately|"
    r"eventually|formerly|previously|nights?|mornings?|evenings?|afternoons?|noon|midnight|eve|"
    r"daylight|dawn|dusk|sunrise|sunset|weekends?|holidays?|mondays|tuesdays|wednesdays|"
    r"thursdays|fridays|saturdays|sundays|days?|weeks?|months?|years?|decades?|century|"
    r"centuries|age|era|period|seasons?|spring|summer|autumn|fall|winter|war|reign|dynasty|"
    r"times?|" + _ORDINAL + r")\b",
    re.IGNORECASE,
)
_AMOUNT = re.compile(
    r"\b(several|few|many|much|more|most|less|least|fewer|some|all|none|no|every|each|both|"
    r"numerous|multiple|various|countless|dozens?|scores?|hundreds|thousands|millions|billions|"
    r"majority|minority|percent|per cent|half|quarter|third|twice|thrice|once|lots?|plenty|"
    r"handful|couple|entire|whole|only|single|nearly|almost|about|over|under|around|"
    r"approximately|roughly|up to|at least|at most)\b|[%$€£¥]",
    re.IGNORECASE,
)


def expected_kinds(question: str) -> tuple[str, ...]:
    """The kinds of answer a question asks for (none for "what is X" and the like)."""
    q = " ".join(question.lower().replace("’", "'").split())
    found = []
    if _QUOTE_Q.search(q):
        found.append("quote")
    if _REASON_Q.search(q):
        found.append("reason")
    if _NUMBER_Q.search(q):
        found.append("number")
    if _DATE_Q.search(q):
        found.append("date")
    if _PLACE_Q.search(q):
        found.append("place")
    if _PERSON_Q.search(q) and "quote" not in found:
        found.append("person")
    return tuple(found)


def _new(matches: Iterable[str], question_words: set[str]) -> bool:
    """Whether any match is more than a repeat of the question's own words."""
    for m in matches:
        words = {w for w in re.findall(r"\w+", m.lower())}
        if words and not words <= question_words:
            return True
    return False


@dataclass(frozen=True)
class Asked:
    """A question's expected answer kinds and its own words (which never count as an answer)."""

    kinds: tuple[str, ...]
    words: frozenset[str]


def asked(question: str) -> Asked:
    """Analyse what a question asks for."""
    return Asked(expected_kinds(question), frozenset(re.findall(r"\w+", question.lower())))


def holds(kind: str, sentence: str, question_words: frozenset[str]) -> bool:
    """Whether ``sentence`` holds an answer of ``kind`` that the question does not already say."""
    words = set(question_words)
    if kind == "number":
        return _new((m.group() for m in _NUMBER.finditer(sentence)), words)
    if kind == "date":
        return _new((m.group() for m in _DATE.finditer(sentence)), words)
    if kind == "person":
        return _new((m.group() for m in _PERSON_CUE.finditer(sentence)), words) or _new(
            (m.group() for m in _NAME.finditer(sentence)), words)
    if kind == "place":
        return _new((m.group(1) for m in _PLACE_CUE.finditer(sentence)), words) or _new(
            (m.group() for m in _NAME.finditer(sentence)), words)
    if kind == "reason":
        return bool(_REASON.search(sentence))
    if kind == "quote":
        return bool(_QUOTE.search(sentence))
    return False


def type_features(what: Asked, sentence: str) -> tuple[float, ...]:
    """Per kind in ``KINDS``: 1 when the question asks for it and the sentence holds one."""
    return tuple(
        1.0 if kind in what.kinds and holds(kind, sentence, what.words) else 0.0 for kind in KINDS
    )


def asked_features(what: Asked) -> tuple[float, ...]:
    """Per kind in ``KINDS``: 1 when the question asks for it (whatever the sentence holds)."""
    return tuple(1.0 if kind in what.kinds else 0.0 for kind in KINDS)


def misses_kind(question: str, quoted: str) -> bool:
    """Whether a question asking only for a count or a date got quotes with no measure at all.

    "when did king bhumibol die" answered with "King Bhumibol Adulyadej has pardoned foreigners
    in similar cases in the past" is a near miss: the article is about him but does not say.
    Only questions with a single question word are judged ("when Fox left, who replaced him"
    asks who), and any figure, time or amount in the quote counts as an answer ("in daylight",
    "until the end of the season", "a week-long festival", "several"): measured on SQuAD
    training questions, "when" is often answered by an event or a condition.
    """
    what = asked(question)
    if not what.kinds or not set(what.kinds) <= CHECKABLE:
        return False
    if len(_ASKING.findall(question.lower())) != 1:
        return False
    words = set(what.words)
    if any(holds(kind, quoted, what.words) for kind in what.kinds):
        return False
    measures = [_DIGITS, _TIME] if "number" not in what.kinds else [_DIGITS, _TIME, _AMOUNT]
    return not any(_new((m.group() for m in p.finditer(quoted)), words) for p in measures)
