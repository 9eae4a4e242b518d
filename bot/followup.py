"""Follow-up questions: resolve "what did he say then?" against the conversation, without an LLM.

A question that cannot stand alone (a pronoun with no antecedent in it, "and ..." / "what
about ...", too few words of its own) is searched twice, as asked and with the key words of the
previous question added, and the two rankings are blended; both searches carry a prior that
favours the paragraphs the conversation cited, the next paragraph and their articles. A
self-contained question on the same topic keeps part of that prior. A question that names
something (or uses a rare word) the corpus holds but the conversation never mentioned starts a
new topic: it is searched as it is, so it is not dragged back to the old one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.models import CitedParagraph, Conversation, Turn
from bot.question import STOPWORDS, content_stems, entities, stems, words
from index import Hit

# Words that point back at something said before.
ANAPHORA = frozenset(
    """he she him her his hers they them their theirs it its this that these those there then
    such former latter same other another else""".split()
)
# Openings that continue the previous question.
CONTINUATIONS = (
    "and ",
    "and,",
    "also ",
    "but ",
    "so ",
    "then ",
    "what about ",
    "how about ",
    "what else",
    "anything else",
    "why?",
    "how?",
    "how so",
    "who else",
    "where else",
    "when?",
    "for what",
    "with who",
    "with whom",
    "like what",
    "such as",
)

# Prior bonuses, in units of the fused retrieval score (log-odds that one paragraph beats
# another). Fitted on CoQA dialogs (benchmarks/conversation.py) against a topic-switch check:
# larger bonuses keep follow-ups on their article better but drag new topics back more often.
CITED_BONUS = 6.0
# The next paragraph often carries on the story; the one before gets no more than the article.
NEXT_BONUS = 5.0
ARTICLE_BONUS = 4.0
# Each older turn counts this much less than the one after it.
TURN_DECAY = 0.75
# A self-contained question on the conversation's topic gets this share of the prior.
SELF_CONTAINED_PRIOR = 0.5
# A term at least this rare (idf relative to that of a term no paragraph holds) that the
# conversation never mentioned marks a new topic, as does a new name.
NEW_TERM_IDF = 0.8
# Key terms of the previous question added to a follow-up's query.
MAX_EXPANSION_TERMS = 4
# A follow-up is searched alone and with those terms; this is the expanded search's share.
EXPANSION_WEIGHT = 0.5


class Corpus(Protocol):
    """What resolving a follow-up needs from the knowledge base."""

    def article_paragraph_ids(self, article_id: str) -> Sequence[int]:
        """Paragraph ids of an article in order."""
        ...

    def article_words(self, article_id: str) -> set[str]:
        """The lexical terms of an article's text."""
        ...

    def term_weights(self, terms: Iterable[str]) -> Mapping[str, float]:
        """The idf of each term; terms no paragraph holds weigh the most."""
        ...

    def unseen_weight(self) -> float:
        """The idf of a term no paragraph holds (the largest there is)."""
        ...


@dataclass(frozen=True)
class Resolution:
    """How a question is searched: the query text, the prior, and whether history was used."""

    question: str
    query: str
    prior: dict[int, float] = field(default_factory=dict)
    followup: bool = False
    new_topic: bool = False
    # Words of earlier questions added to the query (``query`` = question + these).
    context: tuple[str, ...] = ()


def continues(question: str) -> bool:
    """Whether the question opens like a continuation ("and ...", "what about ...")."""
    lowered = question.lower().lstrip(" \"'(")
    return lowered.startswith(CONTINUATIONS)


def anaphoric(question: str) -> bool:
    """Whether the question points back (he, it, that, there...) at something it does not name."""
    tokens = [w.lower() for w in words(question)]
    if not any(t in ANAPHORA for t in tokens):
        return False
    # "it" etc. with a name in the same question usually refers to that name.
    return not entities(question)


def needs_history(question: str) -> bool:
    """Whether a question likely depends on earlier turns to be understood."""
    terms = content_stems(question)
    if len(terms) <= 1:
        return True
    return continues(question) or anaphoric(question)


def last_cited(conversation: Conversation) -> list[tuple[int, Turn]]:
    """The turns that cited something, newest first, with their age (0 = the last turn)."""
    out = []
    for age, turn in enumerate(reversed(conversation.turns)):
        if turn.cited:
            out.append((age, turn))
    return out


def key_terms(turn: Turn, limit: int = MAX_EXPANSION_TERMS) -> list[str]:
    """The words of a turn's question worth carrying into a follow-up (names first)."""
    names = []
    others = []
    seen: set[str] = set()
    for i, w in enumerate(words(turn.question)):
        lw = w.lower()
        if lw in STOPWORDS or lw in ANAPHORA or lw in seen or len(lw) < 3 and not lw.isdigit():
            continue
        seen.add(lw)
        (names if i > 0 and (w[0].isupper() or any(c.isdigit() for c in w)) else others).append(w)
    return (names + others)[:limit]


def prior_for(
    conversation: Conversation, article_paragraph_ids: Callable[[str], Sequence[int]]
) -> dict[int, float]:
    """Bonuses for paragraphs cited by recent turns, their neighbours and their articles."""
    prior: dict[int, float] = {}

    def add(pid: int, bonus: float) -> None:
        prior[pid] = max(prior.get(pid, 0.0), bonus)

    for age, turn in last_cited(conversation):
        decay = TURN_DECAY**age
        by_article: dict[str, list[CitedParagraph]] = {}
        for cited in turn.cited:
            by_article.setdefault(cited.article_id, []).append(cited)
        for article_id, cited_here in by_article.items():
            ids = list(article_paragraph_ids(article_id))
            for pid in ids:
                add(pid, ARTICLE_BONUS * decay)
            for cited in cited_here:
                position = ids.index(cited.paragraph_id) if cited.paragraph_id in ids else -1
                if position >= 0 and position + 1 < len(ids):
                    add(ids[position + 1], NEXT_BONUS * decay)
                add(cited.paragraph_id, CITED_BONUS * decay)
    return prior


def new_terms(question: str, conversation: Conversation, corpus: Corpus) -> list[str]:
    """Names and rare terms of the question that the corpus holds but the conversation never saw."""
    terms = content_stems(question)
    if not terms:
        return []
    weights = corpus.term_weights(terms)
    unseen = corpus.unseen_weight()
    names = set(entities(question))
    candidates = [
        t for t in terms
        if weights[t] < unseen and (t in names or weights[t] >= NEW_TERM_IDF * unseen)
    ]
    if not candidates:
        return []
    seen: set[str] = set()
    for turn in conversation.turns:
        seen |= stems(turn.question)
    articles = (c.article_id for _, turn in last_cited(conversation) for c in turn.cited)
    for article_id in dict.fromkeys(articles):
        seen |= corpus.article_words(article_id)
    return [t for t in candidates if t not in seen]


def resolve(question: str, conversation: Conversation, corpus: Corpus) -> Resolution:
    """Decide how to search ``question`` given the conversation so far."""
    history = last_cited(conversation)
    if not history:
        return Resolution(question=question, query=question)
    cue = needs_history(question)
    if new_terms(question, conversation, corpus) and not continues(question):
        return Resolution(question=question, query=question, new_topic=True)
    prior = prior_for(conversation, corpus.article_paragraph_ids)
    if not cue:
        scaled = {pid: bonus * SELF_CONTAINED_PRIOR for pid, bonus in prior.items()}
        return Resolution(question=question, query=question, prior=scaled, followup=True)
    previous = conversation.turns[-1]
    known = stems(question)
    extra = [w for w in key_terms(previous) if not stems(w) <= known]
    query = " ".join([question, *extra]) if extra else question
    return Resolution(
        question=question, query=query, prior=prior, followup=True, context=tuple(extra)
    )


def blend(alone: Sequence[Hit], expanded: Sequence[Hit], k: int) -> list[Hit]:
    """Merge the rankings of a follow-up asked alone and with context, averaging their scores.

    The expanded query finds the conversation's topic; the question alone keeps its own words
    from being outweighed by the (often rarer) words carried over. A paragraph missing from one
    ranking counts with that ranking's lowest score. Hits come from the question-alone ranking
    where possible, so their sentence scores reflect what is asked now.
    """
    if not expanded:
        return list(alone[:k])
    if not alone:
        return list(expanded[:k])
    floor_alone = min(h.score for h in alone)
    floor_expanded = min(h.score for h in expanded)
    by_id = {h.paragraph_id: h for h in expanded}
    by_id.update({h.paragraph_id: h for h in alone})
    score_alone = {h.paragraph_id: h.score for h in alone}
    score_expanded = {h.paragraph_id: h.score for h in expanded}
    blended = {
        pid: (1 - EXPANSION_WEIGHT) * score_alone.get(pid, floor_alone)
        + EXPANSION_WEIGHT * score_expanded.get(pid, floor_expanded)
        for pid in by_id
    }
    order = sorted(blended, key=lambda pid: (-blended[pid], pid))[:k]
    return [dataclasses.replace(by_id[pid], score=blended[pid]) for pid in order]
