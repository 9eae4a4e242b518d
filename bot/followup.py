"""Follow-up questions: resolve "what did he say then?" against the conversation, without an LLM.

A follow-up that names nothing the conversation's article lacks stays on that article: its
prior lifts every paragraph of it above all others (``FOCUS_BONUS``), with a little extra for
the paragraphs already cited and the next one. The engine leaves the article only when it
plainly has nothing (``bot.followup_judge``). A question that cannot stand alone (a pronoun, "and
..." / "what about ...", too few words of its own) is also searched with words of the
conversation added (``bot.followup_context``: the names asked about, or the person the last
answer named for "he"/"she") and the two rankings are blended. A question that names something
(or uses several rare words) the corpus holds but the conversation never mentioned starts a new
topic: it is searched as it is, so it is not dragged back to the old one. "back to <topic> —
..." returns to an earlier article; "tell me more", "who said that?" and "what is this article
about?" are moves answered by ``bot.followup_answers``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.followup_context import (
    MAX_EXPANSION_TERMS,
    Corpus,
    context_words,
    continues,
    focus_articles,
    last_cited,
    names_in,
    needs_history,
    person,
    personal,
    points_back,
    without_namesakes,
)
from bot.followup_moves import ABOUT, move_of, return_to
from bot.models import CitedParagraph, Conversation
from bot.question import STOPWORDS, content_stems, entities, stems, words
from index import Hit

__all__ = [
    "Corpus",
    "Resolution",
    "blend",
    "last_cited",
    "names_in",
    "needs_history",
    "personal",
    "points_back",
    "without_namesakes",
    "prior_for",
    "resolve",
]

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
# How many such terms (when none is a name) make a question a new topic.
NEW_TOPIC_TERMS = 2
# Added to every paragraph of the conversation's articles for a follow-up that names nothing
# new: far above any retrieval score, so it stays there unless they plainly have nothing.
FOCUS_BONUS = 30.0
# A follow-up is searched alone and with those terms; this is the expanded search's share.
EXPANSION_WEIGHT = 0.5
# Within the article a follow-up stays on, the topic is known: the words carried over matter
# less, and so does where the last answer was (natural follow-ups move on through the story).
FOCUS_EXPANSION_WEIGHT = 0.25
FOCUS_STICKINESS = 0.5


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
    # A conversational move (``bot.followup_moves``: "more", "speaker", "about"), not a search.
    move: str | None = None
    # The article an "about" move names, in words ("the seizure dog").
    topic: str = ""
    # The articles a follow-up stays on (its prior lifts them above all others), most recent first.
    focus: tuple[str, ...] = ()
    # The expanded search's share when the two rankings are blended.
    weight: float = EXPANSION_WEIGHT
    # Whether only the conversation gives the question a meaning (``points_back``, or "back to
    # <topic>" named the article), so that it is answered wherever its article answers it.
    refers: bool = False
    # A "back to <topic> — ..." turn: the user named the article (``focus``) it is about.
    returned: bool = False
    # Whom "he", "she" or "they" means, by name ("Nikola Tesla"); "" when no one or unknown.
    person: str = ""


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


def return_article(
    topic: str, conversation: Conversation, corpus: Corpus
) -> str | None:
    """The conversation's article that "back to <topic>" means, or None if none mentions it."""
    terms = content_stems(topic)
    if not terms:
        return None
    weights = corpus.term_weights(terms)
    best: tuple[float, str] | None = None
    for article_id in focus_articles(conversation):
        vocabulary = corpus.article_words(article_id)
        share = sum(weights[t] for t in terms if t in vocabulary) / sum(weights.values())
        # Ties go to the more recent article (listed first).
        if share > 0 and (best is None or share > best[0]):
            best = (share, article_id)
    return None if best is None else best[1]


def focus_prior(
    conversation: Conversation, corpus: Corpus, articles: Sequence[str]
) -> dict[int, float]:
    """The conversation's prior with every paragraph of ``articles`` raised above all others."""
    prior = {pid: FOCUS_STICKINESS * bonus
             for pid, bonus in prior_for(conversation, corpus.article_paragraph_ids).items()}
    for article_id in articles:
        for pid in corpus.article_paragraph_ids(article_id):
            prior[pid] = prior.get(pid, 0.0) + FOCUS_BONUS
    return prior


def resolve(
    question: str, conversation: Conversation, corpus: Corpus, *, moves: bool = True
) -> Resolution:
    """Decide how to search ``question`` given the conversation so far; ``moves=False`` searches
    it even when it makes a conversational move ("tell me more") that could not be made."""
    move = move_of(question) if moves else None
    history = last_cited(conversation)
    if not history:
        if move is not None and move.kind == ABOUT and move.topic:
            return Resolution(question=question, query=move.topic, move=ABOUT, topic=move.topic)
        return Resolution(question=question, query=question)
    focus = focus_articles(conversation)
    if move is not None:
        return Resolution(question=question, query=move.topic or question, followup=True,
                          move=move.kind, topic=move.topic, focus=() if move.topic else (focus[0],))
    back = return_to(question)
    if back is not None:
        article = return_article(back.topic, conversation, corpus)
        if article is not None:
            return _returned(back.question, back.topic, article, conversation, corpus)
    cue = needs_history(question)
    names = entities(question)
    fresh = new_terms(question, conversation, corpus)
    # One rare word the conversation has not used ("when's the funeral?") is still a follow-up
    # (the engine searches elsewhere if the article plainly has nothing); a new name or several
    # new rare words ("who won the djokovic del potro semi") start a new topic.
    if (len(fresh) >= NEW_TOPIC_TERMS or set(fresh) & set(names)) and not continues(question):
        return Resolution(question=question, query=question, new_topic=True)
    vocabulary = corpus.article_words(focus[0])
    if all(n in vocabulary for n in names):
        # Nothing named that the article lacks: stay on the conversation's articles, unless the
        # engine finds they plainly have nothing.
        prior = focus_prior(conversation, corpus, focus)
        kept = tuple(focus)
    else:
        prior = prior_for(conversation, corpus.article_paragraph_ids)
        kept = ()
    if not cue:
        if not kept:
            prior = {pid: bonus * SELF_CONTAINED_PRIOR for pid, bonus in prior.items()}
        return Resolution(question=question, query=question, prior=prior, followup=True,
                          focus=kept, refers=points_back(question))
    extra = context_words(question, conversation, corpus)
    query = " ".join([question, *extra]) if extra else question
    return Resolution(
        question=question, query=query, prior=prior, followup=True, context=tuple(extra),
        focus=kept, refers=points_back(question), person=person(question, conversation, corpus),
        weight=FOCUS_EXPANSION_WEIGHT if kept else EXPANSION_WEIGHT,
    )


def _returned(
    asked: str, topic: str, article: str, conversation: Conversation, corpus: Corpus
) -> Resolution:
    """ "back to <topic> — <asked>": <asked> (or the topic alone) on that earlier article."""
    # The turns about that article are the history that <asked> follows.
    earlier = Conversation(tuple(t for t in conversation.turns
                                 if t.cited and t.cited[0].article_id == article))
    asked = asked or topic
    extra: list[str] = []
    seen = stems(asked)
    for w in [*words(topic), *context_words(asked, earlier, corpus)]:
        terms = stems(w)
        if terms and not terms <= seen and w.lower() not in STOPWORDS:
            seen |= terms
            extra.append(w)
    extra = extra[:MAX_EXPANSION_TERMS]
    return Resolution(
        question=asked, query=" ".join([asked, *extra]),
        prior=focus_prior(earlier, corpus, [article]), followup=True, context=tuple(extra),
        focus=(article,), refers=True, returned=True, weight=FOCUS_EXPANSION_WEIGHT,
        person=person(asked, earlier, corpus),
    )


def blend(
    alone: Sequence[Hit], expanded: Sequence[Hit], k: int, weight: float = EXPANSION_WEIGHT
) -> list[Hit]:
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
    by_id = {h.ref.paragraph_id: h for h in expanded}
    by_id.update({h.ref.paragraph_id: h for h in alone})
    score_alone = {h.ref.paragraph_id: h.score for h in alone}
    score_expanded = {h.ref.paragraph_id: h.score for h in expanded}
    blended = {
        pid: (1 - weight) * score_alone.get(pid, floor_alone)
        + weight * score_expanded.get(pid, floor_expanded)
        for pid in by_id
    }
    order = sorted(blended, key=lambda pid: (-blended[pid], pid))[:k]
    return [dataclasses.replace(by_id[pid], score=blended[pid]) for pid in order]
