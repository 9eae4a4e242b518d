"""Small talk: greetings, thanks, requests for help and goodbyes get a reply of their own.

Rule-based and deliberately narrow: a message is small talk only when *all* of it is made of
known pleasantries ("hi", "thanks a lot", "ok great", "bye"), possibly around a request for help
that matches one of a few patterns ("what can you do", "which articles do you have"). Anything
else is a question, so "what can you tell me about the Rosetta Stone" or "thanks to whom was the
war won?" still reach the search. A pleasantry in front of a real question ("hi, who discovered
penicillin?") is taken off before searching (``without_pleasantries``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.models import Answer, Conversation, Reply

if TYPE_CHECKING:
    from index import ArticleInfo

# The reply kinds of small talk, as ``Answer.reply_kind`` and the JSON "kind" carry them.
GREETING, THANKS, HELP, GOODBYE = "greeting", "thanks", "help", "goodbye"
# "ok", "great", "got it": replied to like thanks, without the "you're welcome".
_ACK = "ack"
# Words that only pad a pleasantry ("thanks *so much*", "hey *there*", "yo *bot*").
_FILLER = "filler"
# Which reply a message gets when it mixes pleasantries ("ok thanks bye" is a goodbye).
_PRIORITY = (HELP, GOODBYE, THANKS, _ACK, GREETING)

_PHRASES: dict[str, str] = {
    GREETING: """hi | hello | hey | heya | hiya | howdy | yo | hola | greetings | salut | bonjour |
        hallo | ahoy | sup | wassup | whassup | what's up | whats up | good morning |
        good afternoon | good evening | good day | morning | evening | afternoon | g'day | gday |
        how are you | how are you doing | how r u | how are u | how's it going |
        hows it going | how is it going | how do you do | how are things | nice to meet you |
        pleased to meet you | anyone there | anybody there | anyone home | are you there |
        you there | is anyone there | is anybody there""",
    THANKS: """thanks | thank you | thank u | thankyou | thanku | thx | thnx | thnks | thanx |
        ty | tysm | tyvm | cheers | many thanks | much appreciated | appreciated |
        appreciate it | i appreciate it | appreciate that | i appreciate that | merci | danke |
        gracias | ta | kudos""",
    _ACK: """ok | okay | k | okey | okie | alright | all right | great | good | nice | cool |
        awesome | perfect | excellent | brilliant | wonderful | amazing | fantastic | super |
        sweet | neat | lovely | fine | got it | gotcha | i see | understood | makes sense |
        that makes sense | that helps | that helped | that's helpful | that is helpful |
        very helpful | helpful | useful | that's great | that is great | that's perfect |
        good job | great job | well done | nice one | good bot | good answer | great answer |
        nice answer | interesting | wow | lol | haha""",
    GOODBYE: """bye | bye bye | byebye | goodbye | good bye | cya | see ya | see you |
        see you later | see you soon | later | laters | good night | goodnight | night | nite |
        farewell | take care | ttyl | talk to you later | that's all | that is all |
        that's it | that is it | i'm done | im done | i am done | adios | ciao | au revoir |
        have a good day | have a nice day | have a great day""",
    HELP: "help | help me | help please | please help | help pls | help plz",
    _FILLER: """bot | citebot | robot | there | mate | buddy | pal | friend | friends | man | dude |
        bro | guys | all | everyone | everybody | folks | y'all | again | so much | very much |
        a lot | a ton | a bunch | a million | loads | so | very | really | oh | ah | well | um |
        uh | hmm | then | for that | for this | for the help | for your help | for helping |
        for the answer | for the answers | for the info | for the information |
        for everything | for now | today | please | pls | plz | and | but | just | indeed |
        also | to you | dear | sir""",
}

# Fillers that address the bot or say please: never part of a request for help.
_VOCATIVES = frozenset("bot citebot robot please pls plz".split())
# Words a question can open with right after a bare greeting ("hi who won the final").
_QUESTION_WORDS = frozenset(
    "who whom whose what what's when where why how which can could do does did tell".split()
)

# Requests for help, matched against the whole message (lowercase, words joined by spaces).
_YOU = r"(?:you|u|citebot|the bot|this bot)"
_THINGS = (r"(?:questions?|things|stuff|topics?|subjects?|articles?|stories|documents?|texts?|"
           r"sources?|papers?|news|books?|info|information|data|knowledge|content)")
_WHICH = r"(?:(?:what|which) (?:kinds?|sorts?|types?) of|what|which)"
_MODAL = r"(?:can|could|do|does|should|shall|may|might|will|would)"
_ACT = (r"(?:do|ask|ask you|ask you about|ask about|answer|cover|help(?: me)? with|tell me|"
        r"tell me about|say|know|know about|search|find|offer|read|handle|have|use|contain|"
        r"include|discuss|talk about)")
_HELP_PATTERNS = (
    r"(?:(?:can|could|would) you |i need |need |can i get |can i have |i want |i'd like )?"
    r"(?:some |a little |your )?(?:help|assistance)(?: me)?(?: out)?(?: with this)?",
    r"info|information|instructions|usage|commands|menu|options|start|get started|about|faq|"
    r"guide|tutorial|manual|how to|how to use(?: this| it| you)?",
    rf"what {_MODAL} (?:you|u|i|we|one) {_ACT}(?: for me| here| with (?:you|this|it))?",
    rf"{_WHICH} {_THINGS} {_MODAL} (?:you|u|i|we|one) {_ACT}(?: about)?(?: here)?",
    rf"{_WHICH} {_THINGS} (?:are|is) (?:there|available|in there|indexed|covered|included|"
    r"in (?:your|the) (?:index|database|collection))",
    rf"{_WHICH} {_THINGS} (?:have you got|you got|do you have)",
    r"how (?:does|do|can|should) (?:this|it|you|u|citebot|the bot|this bot|this thing|all this) "
    r"(?:work|function|help(?: me)?)",
    rf"how (?:do|can|should|would) (?:i|we|one) (?:use|ask|start|begin|talk to|work with|"
    rf"get started with)(?: {_YOU}| this| it| questions| a question)?",
    r"(?:what|who) (?:are|r) (?:you|u)(?: exactly)?",
    r"(?:what|who)(?:'s| is) (?:this|citebot|this bot|the bot|this thing)",
    r"what (?:are|r) (?:you|u) (?:for|about|good for|able to do|capable of|made for)",
    rf"what (?:do|does) {_YOU} do",
    rf"who (?:made|built|created|wrote|programmed|designed) (?:{_YOU}|this)",
    r"tell me (?:more )?about (?:you|yourself|this bot|citebot|the bot)",
    r"introduce yourself|explain yourself",
    rf"(?:are|r) {_YOU} (?:a |an )?(?:bot|robot|human|real|person|ai|chatbot|machine|chatgpt)",
    rf"how can {_YOU} help(?: me)?",
    r"what (?:are|is) your (?:sources|articles|topics|capabilities|purpose|data|knowledge|"
    r"abilities|features|commands|name)",
    rf"(?:where|what) do {_YOU} get (?:your|the|its) (?:info|information|answers|data|sources|"
    r"facts) from",
)
_HELP = re.compile("|".join(f"(?:{p})" for p in _HELP_PATTERNS))

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_REPEATS = re.compile(r"(.)\1+")
# What separates a pleasantry from the question after it ("Hi, …", "Thanks! …", "ok - …").
_SEPARATOR = re.compile(r"[,.!?;:…\-–—]")
# Title length (words) beyond which a title makes a clumsy example question.
_SHORT_TITLE_WORDS = 8
# Latest articles considered for the example question and named in the help reply.
_CANDIDATES = 10
_NAMED_TITLES = 3


def _collapsed(word: str) -> str:
    """A word with repeated letters collapsed, so "hiii", "heyyy" and "thanksss" match."""
    return _REPEATS.sub(r"\1", word)


def _phrase_table() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for category, phrases in _PHRASES.items():
        for phrase in phrases.split("|"):
            table[tuple(_collapsed(w) for w in phrase.split())] = category
    return table


_TABLE = _phrase_table()
_LONGEST = max(len(k) for k in _TABLE)


@dataclass(frozen=True)
class _Parse:
    """A message split into pleasantries in front, the rest, and pleasantries behind."""

    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    head: int  # words[:head] are pleasantries
    tail: int  # words[tail:] are pleasantries
    head_kinds: frozenset[str]
    tail_kinds: frozenset[str]
    # Word positions between two phrases of the head (tail) where the pleasantries before
    # (after) include more than filler: where a question may be cut off from them.
    head_cuts: tuple[int, ...] = ()
    tail_cuts: tuple[int, ...] = ()


def _match(keys: Sequence[str], start: int, stop: int, backwards: bool) -> tuple[int, str] | None:
    """The longest phrase at ``start`` (or ending at ``stop``, backwards): (length, category)."""
    for n in range(min(_LONGEST, stop - start), 0, -1):
        piece = tuple(keys[stop - n:stop]) if backwards else tuple(keys[start:start + n])
        category = _TABLE.get(piece)
        if category is not None:
            return n, category
    return None


def _parse(text: str) -> _Parse:
    # Words are found in the text as given, so their spans can cut it (normalizing first could
    # change its length: "…" becomes "...").
    found = list(_WORD.finditer(text))
    words = tuple(unicodedata.normalize("NFKC", m.group(0)).lower().replace("’", "'")
                  for m in found)
    keys = [_collapsed(w) for w in words]
    head, head_kinds, head_cuts = 0, set(), []
    while (hit := _match(keys, head, len(keys), backwards=False)) is not None:
        head += hit[0]
        head_kinds.add(hit[1])
        if head_kinds - {_FILLER}:
            head_cuts.append(head)
    tail, tail_kinds, tail_cuts = len(keys), set(), []
    while tail > head and (hit := _match(keys, head, tail, backwards=True)) is not None:
        tail -= hit[0]
        tail_kinds.add(hit[1])
        if tail_kinds - {_FILLER}:
            tail_cuts.append(tail)
    return _Parse(words, tuple(m.span() for m in found), head, tail,
                  frozenset(head_kinds - {_FILLER}), frozenset(tail_kinds - {_FILLER}),
                  tuple(head_cuts), tuple(tail_cuts))


def _asks_for_help(words: Sequence[str], parse: _Parse) -> bool:
    """Whether the message, with or without its pleasantries, is a request for help."""
    # Fillers can also be part of the request ("which articles are *there*"), so the whole
    # message is tried too; fillers alone are only taken off when they address the bot or
    # say please, lest "who is this *man*?" become a request for help.
    starts, stops = {0}, {len(words)}
    if parse.head_kinds or set(words[:parse.head]) <= _VOCATIVES:
        starts.add(parse.head)
    if parse.tail_kinds or set(words[parse.tail:]) <= _VOCATIVES:
        stops.add(parse.tail)
    return any(
        start < stop and _HELP.fullmatch(" ".join(words[start:stop]))
        for start in starts
        for stop in stops
    )


def _kind(text: str) -> str | None:
    """The category of small talk ``text`` is (``_ACK`` included), or None for a question."""
    parse = _parse(text)
    words = parse.words
    kinds = parse.head_kinds | parse.tail_kinds
    if parse.head < parse.tail:
        return HELP if _asks_for_help(words, parse) else None
    return next((k for k in _PRIORITY if k in kinds), None)


def classify(text: str) -> str | None:
    """The small-talk reply kind of a whole message ("greeting", "thanks", "help", "goodbye"),
    or None when it is (or contains) a real question."""
    kind = _kind(text)
    return THANKS if kind == _ACK else kind


def without_pleasantries(text: str) -> str:
    """A question with a greeting or thanks in front or behind taken off ("Hi, who won?" →
    "who won?"); the text as it was when nothing separates them clearly."""
    parse = _parse(text)
    if parse.head >= parse.tail:
        return text
    spans = parse.spans

    def separated(before: int) -> bool:
        """Whether punctuation stands between word ``before - 1`` and word ``before``."""
        return bool(_SEPARATOR.search(text[spans[before - 1][1]:spans[before][0]]))

    start, end = 0, len(text)
    # The latest cut with punctuation: "ok, and when did it open?" keeps its "and".
    cut = next((c for c in reversed(parse.head_cuts) if separated(c)), None)
    if cut is None and GREETING in parse.head_kinds and parse.words[parse.head] in _QUESTION_WORDS:
        # Without punctuation only a greeting before a question word is surely not part of the
        # question: "hi who won?", but not "thanks to whom…" or "Good Morning America's host".
        cut = parse.head
    if cut is not None:
        start = spans[cut][0]
    cut = next((c for c in reversed(parse.tail_cuts) if separated(c)), None)
    if cut is not None:
        gap = text[spans[cut - 1][1]:spans[cut][0]]
        end = spans[cut - 1][1] + len(gap.rstrip().rstrip(" ,;:-–—"))
    if (start, end) == (0, len(text)):
        return text
    return text[start:end].strip() or text


# --- replies -----------------------------------------------------------------------------------


class Library(Protocol):
    """What small talk needs from the engine: the latest articles, and answering."""

    def latest_articles(self, n: int) -> Sequence[ArticleInfo]:
        """The ``n`` most recent articles."""
        ...

    def ask(self, question: str, conversation: Conversation = ...) -> Reply:
        """Answer a question."""
        ...


@dataclass(frozen=True)
class Intro:
    """What the replies say about the collection: latest titles and a question it answers."""

    titles: tuple[str, ...]
    example: str | None


_intros: weakref.WeakKeyDictionary[Library, tuple[tuple[str, ...], Intro]] = (
    weakref.WeakKeyDictionary()
)
_intros_lock = threading.Lock()


def _clean_title(article: ArticleInfo) -> str:
    return " ".join((article.title or "").split()).rstrip(" .?!:;,")


def _topic(title: str) -> str:
    """A title as the object of a sentence: "The Rosetta Stone" → "the Rosetta Stone"."""
    first, _, rest = title.partition(" ")
    return f"{first.lower()} {rest}" if rest and first in ("The", "A", "An") else title


def _example(library: Library, titles: Sequence[str]) -> str | None:
    """A question about one of the latest articles that citebot really answers, or None."""
    # Short titles that name a topic read best after "about"; "How a Honeybee Colony Works"
    # or a news headline only if nothing else answers.
    def clumsy(title: str) -> tuple[bool, bool]:
        words = title.split()
        return len(words) > _SHORT_TITLE_WORDS, words[0].lower() in _QUESTION_WORDS

    for title in sorted(titles, key=clumsy):  # stable: newest first within each group
        question = f"What do the articles say about {_topic(title)}?"
        if library.ask(question).answer.kind == "answer":
            return question
    return None


def intro(library: Library) -> Intro:
    """The latest titles and an example question, worked out once per set of latest articles."""
    latest = library.latest_articles(_CANDIDATES)
    titles = tuple(t for t in (_clean_title(a) for a in latest) if t)
    key = tuple(f"{a.article_id}\0{a.title}" for a in latest)
    with _intros_lock:
        cached = _intros.get(library)
    if cached is not None and cached[0] == key:
        return cached[1]
    made = Intro(titles, _example(library, titles))
    with _intros_lock:
        _intros[library] = (key, made)
    return made


def _listing(titles: Sequence[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def reply_text(kind: str, about: Intro) -> str:
    """The reply to one kind of small talk (``_ACK`` too), naming the collection where useful."""
    try_this = f" For example: “{about.example}”" if about.example else ""
    if kind == GREETING:
        return ("Hello! Ask me a question about the articles and I'll answer with sentences "
                "quoted from them and numbered sources." + try_this)
    if kind == THANKS:
        return "You're welcome! Ask me another question whenever you like."
    if kind == _ACK:
        return "All right. Ask me another question whenever you like."
    if kind == GOODBYE:
        return "Goodbye! Come back whenever you have a question about the articles."
    latest = ""
    if about.titles:
        latest = f" The latest include {_listing(about.titles[:_NAMED_TITLES])}."
    return ("I answer questions about the articles I have, with sentences quoted word for word "
            "from them and numbered sources you can check; when the articles don't say, I tell "
            "you so rather than guess. In a conversation, follow-up questions work too."
            + latest + try_this)


def small_talk(text: str, library: Library) -> Answer | None:
    """The reply to ``text`` if the whole message is small talk, else None (a question)."""
    kind = _kind(text)
    if kind is None:
        return None
    about = intro(library) if kind in (GREETING, HELP) else Intro((), None)
    return Answer(
        question=text,
        abstained=False,
        reply_kind=THANKS if kind == _ACK else kind,
        message=reply_text(kind, about),
    )
