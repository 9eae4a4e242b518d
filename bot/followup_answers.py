"""Answers to conversational moves: the story's next paragraph ("tell me more"), who said the
last quote ("who said that?") and an article's lead ("what is this article about?").

They quote paragraphs the conversation points at rather than searching for the question's words,
which "tell me more" does not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.followup import Resolution, last_cited
from bot.followup_moves import ABOUT, MORE, SPEAKER, speaker_sentence
from bot.models import Answer, Citation, Conversation, Quote
from bot.question import content_stems, stems
from index import Hit, sentence_spans

# A lead this short (in words) is a caption or a hook; the next paragraph's first sentence is
# quoted with it, since it is what says what the story is about.
SHORT_LEAD_WORDS = 15
# An article is taken as the one an "about" question names when it holds at least this share of
# the idf mass of the words naming it ("the seizure dog story").
ABOUT_COVERAGE = 0.5
# What is said when a move has nothing to quote.
STORY_ENDS = "That is where the article ends: there is nothing more to tell."
NO_SPEAKER = "The article says that in its own words; it does not quote anyone there."
# Paragraphs searched when looking for the article an "about" question names.
ABOUT_DEPTH = 10
# Words that say what kind of piece it is, not what it is about ("the colbert opinion piece").
_GENRE = frozenset(
    t for w in "opinion editorial op-ed column news latest recent new breaking cnn long short "
    "interesting big main whole full original".split() for t in stems(w)
)


class Library(Protocol):
    """What answering a move needs from the knowledge base."""

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The ``k`` best paragraphs for ``query``."""
        ...

    def hit_for(self, paragraph_id: int) -> Hit | None:
        """A paragraph as an unscored hit, with its sentence spans."""
        ...

    def article_paragraph_ids(self, article_id: str) -> Sequence[int]:
        """Paragraph ids of an article in order."""
        ...

    def article_words(self, article_id: str) -> set[str]:
        """The lexical terms of an article's text."""
        ...

    def term_weights(self, terms: Iterable[str]) -> Mapping[str, float]:
        """The idf of each term."""
        ...


@dataclass(frozen=True)
class MoveAnswer:
    """What a move quotes: the answer and the paragraphs it drew on (as the trace's hits)."""

    answer: Answer
    hits: tuple[Hit, ...]


def answer_move(
    question: str,
    resolution: Resolution,
    conversation: Conversation,
    kb: Library,
    max_sentences: int,
) -> MoveAnswer | None:
    """Answer ``question``'s "more", "speaker" or "about" move; None when the move cannot be
    made here (the question is then searched as usual)."""
    if resolution.move == MORE:
        return _more(question, conversation, kb, max_sentences)
    if resolution.move == SPEAKER:
        return _speaker(question, conversation, kb)
    if resolution.move == ABOUT:
        if resolution.topic:
            article = named_article(resolution.topic, kb)
        else:
            article = resolution.focus[0] if resolution.focus else None
        if article is None:
            return None
        return _lead(question, article, kb, max_sentences)
    return None


def _sentences(hit: Hit) -> list[tuple[int, int]]:
    if hit.sentences:
        return [(s.start, s.end) for s in hit.sentences]
    return list(sentence_spans(hit.ref.text))


def quoting(
    question: str, parts: Sequence[tuple[Hit, Sequence[tuple[int, int]]]], kind: str | None
) -> MoveAnswer:
    """An answer quoting the given sentence spans of each paragraph, numbered in order."""
    quotes: list[Quote] = []
    citations: list[Citation] = []
    for n, (hit, spans) in enumerate(parts, start=1):
        citations.append(
            Citation(n=n, ref=hit.ref, score=hit.score, quotes=tuple(sorted(spans)))
        )
        quotes.extend(Quote(text=hit.ref.text[s:e], citation=n) for s, e in sorted(spans))
    answer = Answer(question=question, abstained=False, quotes=tuple(quotes),
                    citations=tuple(citations), confidence=1.0, reply_kind=kind)
    return MoveAnswer(answer, tuple(hit for hit, _ in parts))


def _nothing(question: str, kind: str | None, message: str) -> MoveAnswer:
    """Nothing to quote, and a line that says why."""
    answer = Answer(question=question, abstained=True, reply_kind=kind, message=message)
    return MoveAnswer(answer, ())


def _more(question: str, conversation: Conversation, kb: Library, n: int) -> MoveAnswer | None:
    """The paragraph after the one the last answer quoted: the story goes on there."""
    history = last_cited(conversation)
    if not history:
        return None
    cited = history[0][1].cited[0]
    ids = list(kb.article_paragraph_ids(cited.article_id))
    if cited.paragraph_id not in ids:
        return None
    for pid in ids[ids.index(cited.paragraph_id) + 1 :]:
        hit = kb.hit_for(pid)
        if hit is not None and hit.ref.text.strip():
            return quoting(question, [(hit, _sentences(hit)[:n])], MORE)
    return _nothing(question, MORE, STORY_ENDS)


def _speaker(question: str, conversation: Conversation, kb: Library) -> MoveAnswer | None:
    """The sentence that says who spoke the words the last answer quoted."""
    history = last_cited(conversation)
    if not history:
        return None
    turn = history[0][1]
    hit = kb.hit_for(turn.cited[0].paragraph_id)
    if hit is None or not turn.answer:
        return None
    spans = _sentences(hit)
    text = hit.ref.text
    quoted = [(s, e) for s, e in spans if text[s:e].strip() and text[s:e] in turn.answer]
    if not quoted:
        return None
    at = speaker_sentence(spans, text, (quoted[0][0], quoted[-1][1]))
    if at is None:
        # Searching "who said that?" would only find someone saying something else.
        return _nothing(question, None, NO_SPEAKER)
    return quoting(question, [(hit, [spans[at]])], None)


def named_article(topic: str, kb: Library) -> str | None:
    """The article that words like "the seizure dog" name, or None if no article holds them.

    Of the articles the topic's search finds, the one whose title and lead carry most of the
    topic's words: a story about Uganda names Uganda at its top, while an article on Kenya that
    mentions it further down may well rank first.
    """
    terms = [t for t in content_stems(topic) if t not in _GENRE]
    if not terms:
        return None
    hits = kb.search(topic, ABOUT_DEPTH)
    if not hits:
        return None
    weights = kb.term_weights(terms)
    total = sum(weights.values())
    if total <= 0:
        return None

    def share(found: set[str]) -> float:
        return sum(w for t, w in weights.items() if t in found) / total

    def at_top(article: str) -> float:
        ids = kb.article_paragraph_ids(article)
        lead = kb.hit_for(ids[0]) if ids else None
        return share(stems(title_of(hits, article))) + share(stems(lead.ref.text if lead else ""))

    articles = list(dict.fromkeys(h.ref.article_id for h in hits))
    # Ties go to the article found first.
    article = max(articles, key=lambda a: (at_top(a), -articles.index(a)))
    vocabulary = kb.article_words(article) | stems(title_of(hits, article))
    return article if share(vocabulary) >= ABOUT_COVERAGE else None


def title_of(hits: Sequence[Hit], article: str) -> str:
    """The title of ``article`` as the hits carry it."""
    return next((h.ref.title or "" for h in hits if h.ref.article_id == article), "")


def _lead(question: str, article: str, kb: Library, n: int) -> MoveAnswer | None:
    """The first paragraph of the article, where a news story says what it is about."""
    ids = list(kb.article_paragraph_ids(article))
    paragraphs = [h for h in (kb.hit_for(pid) for pid in ids[:2]) if h is not None]
    if not paragraphs:
        return None
    lead = paragraphs[0]
    spans = _sentences(lead)[:n]
    parts: list[tuple[Hit, Sequence[tuple[int, int]]]] = [(lead, spans)]
    if len(lead.ref.text.split()) < SHORT_LEAD_WORDS and len(paragraphs) > 1:
        following = _sentences(paragraphs[1])[:1]
        if following:
            parts.append((paragraphs[1], following))
    return quoting(question, parts, ABOUT)
