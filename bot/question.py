"""What a question asks about: normalization, content terms, entities and their weights."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.noise import strip_noise
from index import tokenize

# Questions longer than this are cut: nobody types more, and a pasted article would only make
# retrieval slow without making it better.
MAX_QUESTION_CHARS = 1000

# Function words and question scaffolding: they say how something is asked, not what about.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each else ever few for from further had hadn't has hasn't
    have haven't having he he'd he'll he's her here here's hers herself him himself his how
    how's however i i'd i'll i'm i've if in into is isn't it it's its itself just let's me more
    most mustn't my myself no nor not now of off on once one only or other ought our ours
    ourselves out over own same shan't she she'd she'll she's should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they'd
    they'll they're they've this those through to too under until up upon us very was wasn't we
    we'd we'll we're we've were weren't what what's whatever when when's where where's whereas
    which while who who's whom whose why why's will with won't would wouldn't yes you you'd
    you'll you're you've your yours yourself yourselves
    tell say said says know known name named called call many much kind type sort way ways
    happen happened happens get got gets go goes going went make made makes use used uses
    s t d ll m re ve
    """.split()
)

# The stop words as the tokenizer writes them (contractions split, endings stripped).
_STOP_TERMS = frozenset(t for w in STOPWORDS for t in tokenize(w))
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_question(text: str) -> str:
    """Strip markup and chat noise, collapse whitespace and cap the length of a question."""
    text = _SPACE.sub(" ", strip_noise(text)).strip()
    if len(text) > MAX_QUESTION_CHARS:
        cut = text[:MAX_QUESTION_CHARS]
        # Cut at a word boundary when one is near, so no half word reaches the search.
        space = cut.rfind(" ")
        text = cut[:space] if space > MAX_QUESTION_CHARS // 2 else cut
    return text


def has_words(text: str) -> bool:
    """Whether ``text`` holds at least one letter or digit (emoji and punctuation don't count)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def stems(text: str) -> set[str]:
    """The set of lexical terms of ``text`` (the index's own tokenizer, so idf weights apply)."""
    return set(tokenize(text))


def words(text: str) -> list[str]:
    """The word tokens of ``text`` in order, as written."""
    return _TOKEN.findall(text)


def content_stems(text: str) -> list[str]:
    """Lexical terms of the content words of ``text``, first occurrence order, no duplicates."""
    seen: dict[str, None] = {}
    for w in words(text):
        lw = w.lower().replace("’", "'")
        if lw in STOPWORDS or len(lw) < 2 and not lw.isdigit():
            continue
        for term in tokenize(lw):
            if term not in _STOP_TERMS:
                seen.setdefault(term, None)
    return list(seen)


def entities(text: str) -> list[str]:
    """Terms of the words that name something: capitalized (not first) words and numbers."""
    found: dict[str, None] = {}
    tokens = words(text)
    for i, w in enumerate(tokens):
        lw = w.lower()
        if lw in STOPWORDS:
            continue
        is_number = any(ch.isdigit() for ch in w)
        # The first word of a question is capitalized by grammar, not because it names anything.
        is_name = i > 0 and w[0].isupper()
        if is_number or is_name:
            for term in tokenize(lw):
                found.setdefault(term, None)
    return list(found)


# Share of its weight a term carried over from an earlier question keeps.
CONTEXT_WEIGHT = 0.3

TermWeights = Callable[[Iterable[str]], Mapping[str, float]]
# No token holds whitespace, so the index weighs this "term" like one no paragraph holds.
_NEVER_A_TERM = " "


def unseen_weight(weights: TermWeights) -> float:
    """The weight of a term no indexed paragraph holds (the largest weight there is)."""
    return float(weights([_NEVER_A_TERM])[_NEVER_A_TERM])


@dataclass(frozen=True)
class QuestionTerms:
    """The content of a question: its terms, which of them name things, and their weights."""

    text: str
    terms: tuple[str, ...]
    entities: tuple[str, ...]
    weights: tuple[float, ...]
    # The weight of a term the corpus lacks; 0 when weights are not known.
    unseen: float = 0.0

    def unknown(self, term: str) -> bool:
        """Whether no indexed paragraph holds ``term`` (False when weights are not known)."""
        return self.unseen > 0 and self.weight(term) >= self.unseen

    @property
    def mass(self) -> float:
        """The total weight of the question's terms."""
        return float(sum(self.weights))

    def weight(self, term: str) -> float:
        """The weight of one of the question's terms (0 for others)."""
        for t, w in zip(self.terms, self.weights, strict=True):
            if t == term:
                return w
        return 0.0

    def coverage(self, found: set[str]) -> float:
        """Share of the question's weight carried by terms in ``found`` (0 when it has none)."""
        total = self.mass
        if total <= 0:
            return 0.0
        return sum(w for t, w in zip(self.terms, self.weights, strict=True) if t in found) / total

    def entity_coverage(self, found: set[str]) -> float:
        """Share of the question's entities present in ``found`` (1 when it names none)."""
        if not self.entities:
            return 1.0
        return sum(1 for e in self.entities if e in found) / len(self.entities)


def question_terms(
    text: str, weights: TermWeights | None = None, context: Iterable[str] = ()
) -> QuestionTerms:
    """Analyse a question; ``weights`` maps terms to idf-like weights (all 1 when absent).

    ``context`` holds words carried over from earlier questions: their terms count too, at
    CONTEXT_WEIGHT of their weight, so what is asked now leads.
    """
    terms = content_stems(text)
    extra = [t for t in content_stems(" ".join(context)) if t not in terms]
    known = weights([*terms, *extra]) if weights is not None else {}
    ents = [e for e in entities(text) if e in terms]
    return QuestionTerms(
        text=text,
        terms=tuple(terms + extra),
        entities=tuple(ents),
        weights=tuple(float(known.get(t, 1.0)) for t in terms)
        + tuple(CONTEXT_WEIGHT * float(known.get(t, 1.0)) for t in extra),
        unseen=unseen_weight(weights) if weights is not None else 0.0,
    )
