"""What a follow-up borrows from the conversation: the words it points back with ("he",
"and ...", "why?"), the earlier turns it leans on, and the names "he" or "she" may mean."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from bot.models import Conversation, Turn
from bot.question import STOPWORDS, content_stems, entities, stems, words
from index import Hit

# Words that point back at something said before.
ANAPHORA = frozenset(
    """he she him her his hers they them their theirs it its this that these those there then
    such former latter same other another else""".split()
)
# Pronouns that point back at people (named in the previous question or its answer).
PERSONAL = frozenset("he she him her his hers they them their theirs".split())
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
# Words of the conversation added to a follow-up's query.
MAX_EXPANSION_TERMS = 4
# A name quoted in the previous answer is carried over when at least this rare (idf relative to
# that of a term no paragraph holds): "Hancock", not "CNN" or "Monday".
NAME_IDF = 0.5
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


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
    names: list[str] = []
    others: list[str] = []
    seen: set[str] = set()
    for i, w in enumerate(words(turn.question)):
        lw = w.lower()
        if lw in STOPWORDS or lw in ANAPHORA or lw in seen or len(lw) < 3 and not lw.isdigit():
            continue
        seen.add(lw)
        (names if i > 0 and (w[0].isupper() or any(c.isdigit() for c in w)) else others).append(w)
    return (names + others)[:limit]


def names_in(text: str) -> list[str]:
    """The names in ``text``: runs of capitalized words ("Luke Hancock"), leaving out words
    capitalized only because a sentence starts with them, in order, without repeats."""
    tokens = list(_WORD.finditer(text))
    runs: list[list[str]] = []
    last_end = -1
    for i, match in enumerate(tokens):
        word = match.group(0)
        lowered = word.lower()
        if not word[0].isupper() or lowered in STOPWORDS or lowered in ANAPHORA or len(word) < 2:
            last_end = -1
            continue
        before = text[: match.start()].rstrip(" \"“‘'(")
        if not before or before[-1] in ".!?:—-":
            # A sentence's first word names something when a name runs on ("Luke Hancock
            # was ...") or it is possessive ("Summer's sisters ...").
            following = tokens[i + 1].group(0) if i + 1 < len(tokens) else ""
            adjacent = i + 1 < len(tokens) and text[match.end() : tokens[i + 1].start()] == " "
            if not (word.endswith(("'s", "’s")) or adjacent and following[:1].isupper()):
                last_end = -1
                continue
        word = re.sub(r"['’]s$", "", word)
        if last_end >= 0 and text[last_end : match.start()] in (" ", "-", ". "):
            runs[-1].append(word)
        else:
            runs.append([word])
        last_end = -1 if match.group(0) != word else match.end()
    return list(dict.fromkeys(" ".join(run) for run in runs))


def personal(question: str) -> bool:
    """Whether the question points at a person ("he", "her", "they"...)."""
    return any(w.lower() in PERSONAL for w in words(question))


def points_back(question: str) -> bool:
    """Whether only the conversation gives the question a meaning: it says "he", "she" or
    "they", opens like a continuation ("and ...", "what about ..."), or has hardly a word of
    its own ("why?"). ("How far can an owl turn its head?" says "its", but about the owl.)"""
    return personal(question) or continues(question) or len(content_stems(question)) <= 1


def focus_articles(conversation: Conversation) -> list[str]:
    """The articles the conversation is about, most recent first (each turn's main citation)."""
    return list(dict.fromkeys(turn.cited[0].article_id for _, turn in last_cited(conversation)))


def asks_who(question: str) -> bool:
    """Whether a question asks who someone is ("who was their best player?")."""
    return question.lower().lstrip(" \"'(").startswith(("who", "whom", "whose", "which"))


def context_words(question: str, conversation: Conversation, corpus: Corpus) -> list[str]:
    """Words of the conversation a follow-up leans on, at most MAX_EXPANSION_TERMS.

    The previous question's key words (names first), and for "he", "she" or "they" the person
    meant (``person``): first when that question asked who ("who was their best player?" —
    "how many did he score?"), else after the names asked about. When the previous
    question named no one, the names of the first question on the same article follow, since
    the person a conversation is about is mostly named at its start.
    """
    history = last_cited(conversation)
    if not history:
        return []
    previous = history[0][1]
    asked = key_terms(previous, limit=2 * MAX_EXPANSION_TERMS)
    names = [w for w in asked if _is_name(w)]
    others = [w for w in asked if not _is_name(w)]
    meant = person(question, conversation, corpus)
    quoted = [meant] if meant else []
    if asks_who(previous.question):
        ordered = [*quoted, *names, *others]
    else:
        ordered = [*names, *quoted, *others]
    if personal(question) and not names:
        article = previous.cited[0].article_id
        first = next(t for _, t in reversed(history) if t.cited[0].article_id == article)
        if first is not previous:
            ordered += key_terms(first)
    out: list[str] = []
    seen = stems(question)
    for phrase in ordered:
        for w in phrase.split():
            terms = stems(w)
            if terms and not terms <= seen and w.lower() not in STOPWORDS:
                seen |= terms
                out.append(w)
    return out[:MAX_EXPANSION_TERMS]


_WHO_IS = re.compile(r"^\s*who(?:'s|\s+is|\s+was|\s+are|\s+were)\s+(?P<name>[^?]+?)\s*\??\s*$",
                     re.IGNORECASE)


def person(question: str, conversation: Conversation, corpus: Corpus) -> str:
    """The name "he", "she" or "they" in ``question`` most likely means ("Nikola Tesla"), or "".

    After "who was tesla?" the answer's name with "tesla" in it; after another "who ...?" ("who
    was their best player?") the first person the answer quoted; otherwise the one it quoted
    that the previous question asked about ("how did sharapova do?"), or a name written out.
    """
    history = last_cited(conversation)
    if not personal(question) or not history:
        return ""
    previous = history[0][1]
    quoted = _distinctive(names_in(previous.answer), corpus) if previous.answer else []

    def about(asked: Iterable[str]) -> list[str]:
        wanted = {w.lower() for w in asked}
        return [run for run in quoted if wanted & {w.lower() for w in run.split()}]

    who = _WHO_IS.match(previous.question)
    named = who.group("name") if who else ""
    if named and not any(w.lower() in STOPWORDS for w in words(named)):
        return next(iter(about(words(named))), named)
    if asks_who(previous.question):
        # "Ware's teammate Luke Hancock was named ...": the answer is not the one whose it is.
        own = [run for run in quoted if not _possessive_only(run, previous.answer)]
        return (own or quoted or [""])[0]
    # Only rare words of the question can name someone ("sharapova", not "player").
    found = about(_distinctive(words(previous.question), corpus))
    if found:
        return found[0]
    written = names_in(previous.question)
    return written[0] if written else ""


def _possessive_only(name: str, text: str) -> bool:
    """Whether ``text`` writes ``name`` only as a possessive ("Ware's teammate")."""
    found = [m.end() for m in re.finditer(re.escape(name), text)]
    return bool(found) and all(text[end : end + 2] in ("'s", "’s") for end in found)


# Titles that run into a name without making it someone else's ("Sen. Specter").
_TITLES = frozenset(
    """mr mrs ms miss dr sir dame lord lady sen senator rep gov governor president prof
    professor judge justice gen general col capt captain sgt lt st chancellor minister premier
    king queen prince princess pope saint""".split()
)


def namesake(text: str, name: str) -> bool:
    """Whether ``text`` names someone else who shares part of ``name`` ("Milutin Tesla" when the
    conversation is about Nikola Tesla)."""
    own = {w.lower() for w in name.split()}
    for run in names_in(text):
        found = {w.lower() for w in run.split()} - _TITLES
        # "Herlind Merkel", not "Merkel" or "Chancellor Angela Merkel".
        if found & own and not found <= own and not own <= found:
            return True
    return False


def without_namesakes(hits: Sequence[Hit], name: str) -> list[Hit]:
    """``hits`` with those whose best sentence is about a namesake of ``name`` moved last: "when
    did he die?" about Nikola Tesla is not answered by "Milutin Tesla died ..."."""
    if len(name.split()) < 2:
        return list(hits)

    def other(hit: Hit) -> bool:
        best = max(hit.sentences, key=lambda s: s.score, default=None)
        return namesake(hit.ref.text[best.start : best.end] if best else hit.ref.text, name)

    flagged = [other(h) for h in hits]
    kept = [h for h, f in zip(hits, flagged, strict=True) if not f]
    return kept + [h for h, f in zip(hits, flagged, strict=True) if f]


def _is_name(word: str) -> bool:
    return word[:1].isupper() or any(c.isdigit() for c in word)


def _distinctive(names: Sequence[str], corpus: Corpus) -> list[str]:
    """The names rare enough in the corpus to point at someone (not "CNN" or "Monday")."""
    terms = {n: stems(n) for n in names}
    weights = corpus.term_weights({t for ts in terms.values() for t in ts})
    cut = NAME_IDF * corpus.unseen_weight()
    # One rare word makes a name someone's: "Nikola Tesla", even in an article full of "Tesla".
    return [n for n, ts in terms.items() if ts and max(weights[t] for t in ts) >= cut]
