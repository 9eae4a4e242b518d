"""Whether a follow-up that stays on the conversation's article is answered there.

The calibrated abstention (``bot.abstain``) was fitted on standalone questions: "how old was
she?" names nothing and has one content word, so it looks like a vague question that matches
something everywhere. Asked about an article the conversation is on, it is not vague: who "she"
is, is known. What can still go wrong is a question about something else entirely ("how do I
reset my router?") asked mid-conversation. So a follow-up is judged on its own words only (the
names it borrowed from the conversation match the article by construction): are they words the
corpus knows, does the article lack a rare one of them, and does the quoted paragraph hold them?
How much is asked of it depends on how surely the question is about the article.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.question import QuestionTerms, stems

# The confidence given to a follow-up the article answers (above the default threshold, 0.5).
FOLLOWUP_CONFIDENCE = 0.8
# A follow-up is not answered when words no paragraph holds carry this much of its idf mass,
# unless the quoted sentence is this close in meaning (cosine) all the same.
MAX_UNKNOWN = 0.5
MIN_DENSE_UNKNOWN = 0.4
# A self-contained question is answered in the article when the quoted paragraph holds this
# share of its idf mass, and no term the article lacks is this rare (idf relative to a term no
# paragraph holds).
MIN_PARAGRAPH = 0.5
MAX_RARE_MISSING = 0.6
# ... or a smaller share, when the quoted sentence is close in meaning (cosine) to the question.
MIN_PARAGRAPH_NEAR = 0.3
MIN_DENSE_NEAR = 0.3


# Words of spoken questions that say how something is asked, not what about ("who is he
# anyway?", "didn't someone else ..."): rare in articles, so they would look like a new topic.
_FILLER = frozenset(
    t for w in """anyway anyways exactly actually really basically btw ok okay still again ever
    even yet someone somebody anyone anybody something anything everyone everybody everything
    guy guys thing things stuff please""".split() for t in stems(w)
)


@dataclass(frozen=True)
class FollowupEvidence:
    """How well an in-article answer fits a follow-up's own words."""

    # The follow-up's own content terms (without the words carried over from the conversation)
    # that some paragraph holds.
    terms: int
    # Share of their idf mass found in the quoted paragraph.
    paragraph: float
    # Share of the question's idf mass carried by terms no indexed paragraph holds at all.
    unknown: float
    # Cosine similarity of the question as asked with the quoted sentence.
    dense: float
    # The largest idf (relative to that of a term no paragraph holds) of a term the article
    # lacks, and those terms.
    rarest_missing: float = 0.0
    missing: tuple[str, ...] = ()


def followup_evidence(
    terms: QuestionTerms, paragraph: str, article_words: set[str], dense: float
) -> FollowupEvidence:
    """Measure a follow-up's own ``terms`` (without context) against the article and the quoted
    paragraph; ``dense`` is the quoted sentence's similarity to the question."""
    weights = dict(zip(terms.terms, terms.weights, strict=True))
    unknown = {t for t in terms.terms if terms.unknown(t) and t not in _FILLER}
    # Words no paragraph holds (a typo, a paraphrase) say nothing about where the answer is.
    own = [t for t in terms.terms if t not in unknown and t not in _FILLER]
    mass = sum(weights[t] for t in own)

    def share(found: set[str]) -> float:
        return sum(weights[t] for t in own if t in found) / mass if mass > 0 else 1.0

    missing = tuple(t for t in own if t not in article_words)
    rarest = max((weights[t] for t in missing), default=0.0) / terms.unseen if terms.unseen else 0.0
    total = sum(terms.weights)
    return FollowupEvidence(
        rarest_missing=rarest,
        missing=missing,
        terms=len(own),
        paragraph=share(stems(paragraph)),
        unknown=sum(weights[t] for t in unknown) / total if total > 0 else 0.0,
        dense=dense,
    )


def answered_in_article(ev: FollowupEvidence, *, points_back: bool, certain: bool) -> bool:
    """Whether the evidence says the article answers the follow-up (see module docstring).

    ``points_back``: only the conversation gives the question a meaning (``followup.points_back``);
    ``certain``: the question is about the article for sure: it says "he", "she" or "they",
    whom the conversation named, or "back to <the article's topic>".
    """
    if certain:
        return True
    if ev.unknown >= MAX_UNKNOWN and ev.dense < MIN_DENSE_UNKNOWN:
        # "what time is it in Tokyo?": its words are not the corpus's, nor is its meaning.
        return False
    if points_back:
        # "why?", "and the grid?": answered here, unless its one word is a rare one the article
        # lacks ("who was polite?" asks about another story).
        return ev.rarest_missing < MAX_RARE_MISSING
    # A question that stands on its own ("how many people died?") may be about anything: the
    # quoted paragraph must hold its words (or some, and the sentence say much the same), and
    # it must not turn on a rare word the article lacks ("is coffee bad for you?").
    held = ev.paragraph >= MIN_PARAGRAPH or (
        ev.paragraph >= MIN_PARAGRAPH_NEAR and ev.dense >= MIN_DENSE_NEAR
    )
    return held and ev.rarest_missing < MAX_RARE_MISSING
