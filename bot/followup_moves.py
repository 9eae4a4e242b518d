"""Conversational moves that are not searches: "tell me more", "who said that?", "what is this
article about?" and "back to the bombing — ...".

Recognizing them is pure text work (this module); answering them needs the knowledge base and
is done in ``bot.followup_answers``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.question import STOPWORDS, words

# Moves a question can make besides asking something to search for.
MORE = "more"
SPEAKER = "speaker"
ABOUT = "about"

_LEAD = r"^(?:(?:ok(?:ay)?|so|and|well|alright|hmm+|right|cool|great|thanks|interesting)[\s,.!-]+)*"
_TAIL = r"[\s?.!…]*$"
# "tell me more", "what happened next?", "and after that?", "go on": continue the story.
_MORE = re.compile(
    _LEAD
    + r"(?:(?:please\s+)?(?:tell|give)\s+me\s+more(?:\s+about\s+(?:it|that|this|him|her|them))?"
    r"|(?:can|could)\s+you\s+(?:tell\s+me|say)\s+more|more\s+(?:please|details|detail)"
    r"|(?:and\s+)?what\s+happen(?:ed|s)\s+(?:next|then|after(?:\s+that|wards)?|later)"
    r"|(?:and\s+)?what\s+came\s+next|(?:and\s+)?(?:what\s+)?(?:after\s+that|afterwards|next|then)"
    r"|(?:and\s+)?then\s+what(?:\s+happened)?|go\s+on|keep\s+going|continue|carry\s+on"
    r"|what\s+else\s+happened|what\s+next|(?:and\s+)?how\s+did\s+it\s+(?:end|continue))"
    + r"(?:\s+please)?" + _TAIL,
    re.IGNORECASE,
)
# "who said that?", "whose words are those?", "says who?": the speaker of the last quote.
_SPEAKER = re.compile(
    _LEAD
    + r"(?:who\s+(?:said|says|say|wrote|told|tweeted|is\s+quoted|was\s+quoted|is\s+speaking"
    r"|was\s+speaking|is\s+talking)(?:\s+(?:that|this|it|so|those\s+words|these\s+words))?"
    r"|who'?s\s+(?:quoted|speaking|talking|saying\s+(?:that|this|it))"
    r"|whose\s+(?:words|quote)\s+(?:are|is|were|was)\s+(?:that|this|those|these|they|it)"
    r"|says\s+who|said\s+by\s+whom|who\s+(?:is|was)\s+that\s+quote\s+from"
    r"|who\s+(?:is|was)\s+(?:the\s+)?(?:speaker|source\s+of\s+(?:that|this|the\s+quote)))"
    + _TAIL,
    re.IGNORECASE,
)
_KIND = r"(?:article|story|piece|report|item|post|news\s+story|op-?ed|feature|column|interview)"
_DET = r"(?:the|this|that|your|an?)"
# Bare "what": spelling correction may have dropped the "'s" ("whats" → "what").
_WHATS = r"(?:what'?s|whats|what\s+is|what\s+was|what're|what\s+are|what)"
# "what's the seizure dog story about", "what's the article on comb jellies about", "summary of
# the ammonia leak story", "tell me about the road rage cop story": the lead of that article.
_ABOUT_NAMED = (
    re.compile(
        _LEAD + _WHATS + rf"\s+{_DET}\s+(?P<topic>.*?)\s*{_KIND}(?:\s+about)?" + _TAIL, re.I
    ),
    re.compile(
        _LEAD + _WHATS + rf"\s+{_DET}\s+{_KIND}\s+(?:on|about|of|with|covering)\s+(?P<topic>.+?)"
        r"(?:\s+about)?" + _TAIL,
        re.I,
    ),
    # "that article comparing colbert to orwell", "show me the story about the seizure dog".
    re.compile(
        _LEAD + r"(?:(?:show|find|give|get)\s+me\s+|(?:i'?m\s+)?looking\s+for\s+|where'?s\s+)?"
        rf"(?:the|that|this)\s+{_KIND}\s+(?:about|on|comparing|where|with|that|which|in\s+which"
        r"|covering|describing|explaining|saying)\s+(?P<topic>.+?)" + _TAIL,
        re.I,
    ),
    re.compile(
        _LEAD + r"(?:(?:give\s+me\s+)?(?:a\s+|the\s+)?summary\s+of|summari[sz]e|sum\s+up"
        r"|(?:can\s+you\s+)?tell\s+me\s+about|what\s+does|what\s+did|gist\s+of)"
        rf"\s+{_DET}?\s*(?P<topic>.*?)\s*{_KIND}(?:\s+(?:on|about)\s+(?P<more>.+?))?"
        r"(?:\s+(?:say|about|cover|report))?" + _TAIL,
        re.I,
    ),
)
# "what is this article about?", "what's it about", "summarize it": the conversation's article.
_ABOUT_THIS = re.compile(
    _LEAD
    + r"(?:" + _WHATS + r"\s+(?:it|this|that|this\s+all|all\s+this)\s+(?:all\s+)?about"
    r"|what\s+(?:is|was)\s+(?:it|this|that)\s+(?:all\s+)?about"
    r"|summary|summari[sz]e(?:\s+(?:it|this|that))?|sum\s+(?:it|this|that)\s+up|tl;?dr|gist"
    r"|what'?s\s+the\s+gist|(?:give\s+me\s+)?the\s+gist)" + _TAIL,
    re.IGNORECASE,
)
# "back to the bombing — what did he say", "ok back to the peru thing, why ...": the earlier topic
# named, then the question about it (which may be missing: "back to specter?").
_RETURN = re.compile(
    _LEAD + r"(?:(?:let'?s\s+)?(?:go(?:ing)?\s+|get(?:ting)?\s+)?back\s+to|return(?:ing)?\s+to)"
    r"\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"\s*(?:[,;:—–]|\s-+\s|\.\.\.|\?)\s*")
# Words that start the question after "back to X" when no punctuation separates them.
_QUESTION_START = frozenset(
    """who whom whose what which when where why how is are was were do does did has have had
    can could will would should anyone anything any tell""".split()
)


@dataclass(frozen=True)
class Move:
    """A question's conversational move: ``kind`` (MORE, SPEAKER, ABOUT) and, for ABOUT, the
    article it names (empty: the conversation's own article)."""

    kind: str
    topic: str = ""


def move_of(question: str) -> Move | None:
    """The move a question makes, or None for an ordinary question to search for."""
    text = question.strip()
    if _MORE.match(text):
        return Move(MORE)
    if _SPEAKER.match(text):
        return Move(SPEAKER)
    if _ABOUT_THIS.match(text):
        return Move(ABOUT)
    for pattern in _ABOUT_NAMED:
        found = pattern.match(text)
        if found is None:
            continue
        topic = " ".join(g for g in found.groupdict().values() if g).strip()
        if not topic:
            # "what's this story about" names no article: the conversation's own.
            return Move(ABOUT)
        # "what is the name of the story" asks something else.
        return Move(ABOUT, topic) if _meaningful(topic) else None
    return None


def _meaningful(topic: str) -> bool:
    return any(w.lower() not in STOPWORDS for w in words(topic))


@dataclass(frozen=True)
class Return:
    """ "back to X — question": the earlier topic named and the question asked about it."""

    topic: str
    question: str


def return_to(question: str) -> Return | None:
    """The topic and question of a "back to ..." turn, or None if it is not one."""
    found = _RETURN.match(question.strip())
    if found is None:
        return None
    rest = found.group("rest").strip()
    parts = _SEPARATOR.split(rest, maxsplit=1)
    if len(parts) == 2 and _meaningful(parts[0]):
        topic, asked = parts[0], parts[1]
    else:
        tokens = rest.split()
        cut = next((i for i, w in enumerate(tokens) if i > 0 and w.lower() in _QUESTION_START),
                   len(tokens))
        topic, asked = " ".join(tokens[:cut]), " ".join(tokens[cut:])
    topic = re.sub(r"\s+(?:thing|stuff|story|article|one|business|case)$", "", topic.strip(),
                   flags=re.I)
    if not _meaningful(topic):
        return None
    return Return(topic=topic, question=asked.strip(" -—–,:;"))


# --- who said it ----------------------------------------------------------------------------

# Verbs that attribute words to someone.
_SAYING = re.compile(
    r"\b(?:said|says|say|told|tells|added|adds|asked|asks|wrote|writes|explained|stated|declared"
    r"|recalled|insisted|noted|argued|replied|tweeted|announced|according\s+to|quoted|warned"
    r"|continued|admitted|acknowledged|conceded|claimed|joked|cried|shouted|urged|testified)\b",
    re.IGNORECASE,
)
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’.-]*")
_QUOTE_MARKS = "\"“”«»"
# Characters either side of a verb of saying where the speaker's name is looked for (a few words).
_NEAR = 30


def attribution(sentence: str) -> float:
    """How clearly a sentence says who spoke: 2 with a verb of saying and a name, 1 with the
    verb alone ("he said"), 0 without such a verb."""
    found = list(_SAYING.finditer(sentence))
    if not found:
        return 0.0
    # The name must be next to the verb ("Dolly Parton said", "said resident Ann Lee"), not
    # anywhere ("He said his family went to Baton Rouge").
    for m in found:
        before = sentence[max(0, m.start() - _NEAR) : m.start()]
        after = sentence[m.end() : m.end() + _NEAR]
        if _names(" " + before) or _names(" " + after):
            return 2.0
    return 1.0


def speaker_sentence(
    spans: Sequence[tuple[int, int]], text: str, quoted: tuple[int, int]
) -> int | None:
    """Index in ``spans`` of the sentence that says who spoke the ``quoted`` words, or None.

    The quoted sentences themselves count first ("'...,' Parton said."), then the ones after
    them up to the next quotation (a quotation is mostly attributed at its end), then the ones
    before ("Edwards said: ..."). Where the attribution is only "he said", the sentence before
    that names someone is what says who "he" is.
    """
    at = next((i for i, (s, e) in enumerate(spans) if s <= quoted[0] < e), None)
    if at is None:
        return None
    last = next((i for i, (s, e) in enumerate(spans) if s < quoted[1] <= e), at)

    def sentence(i: int) -> str:
        return text[spans[i][0] : spans[i][1]]

    after = []
    for i in range(last + 1, min(len(spans), last + 3)):
        if sentence(i).lstrip()[:1] in _QUOTE_MARKS:
            break  # someone else's words begin
        after.append(i)
    before = list(range(at - 1, max(-1, at - 3), -1))
    for i in [*range(at, last + 1), *after, *before]:
        score = attribution(sentence(i))
        if score >= 2:
            return i
        if score >= 1:
            named = next((j for j in range(i - 1, max(-1, i - 3), -1)
                          if _names(sentence(j))), None)
            return i if named is None else named
    return None


def _names(sentence: str) -> list[str]:
    return [m.group(0) for m in _CAPITALIZED.finditer(sentence)
            if m.group(0).lower() not in STOPWORDS]


def quotation_marks(text: str) -> bool:
    """Whether ``text`` holds a quotation mark (a quote of someone's words)."""
    return any(mark in text for mark in _QUOTE_MARKS)
