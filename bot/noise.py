"""Take markup and chat noise out of a question before it is analysed.

Questions arrive pasted from web pages, chats and Markdown editors. HTML tags (with the content of
``script`` and ``style`` elements), character entities, links, emoji, @mentions of the bot,
hashtag marks and Markdown emphasis say nothing about what is asked, yet each of them can add
words the articles never use, which drags the retrieval score down and the "names the corpus
has never seen" evidence up, until a question the bot answers clean is refused.

Conservative on purpose: only constructions that cannot be part of a question's wording are
touched, so "C++", "AT&T", "9/11", "$5 million", "e-mail", "#1", "2*3", snake_case and quotes
inside the question survive. A mention at the start of a message, or after its final question
mark, addresses someone and goes; anywhere else it names someone and keeps the name ("what did
@jack say").
"""

from __future__ import annotations

import html
import re

# Markup is cleaned up to this many characters: enough for any question with generous markup,
# and it bounds the regex work on a pasted page (the question is cut much shorter afterwards).
MAX_NOISY_CHARS = 10_000

_HIDDEN_ELEMENT = re.compile(r"<(script|style)\b[^<>]{0,500}>.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
# A tag starts with a letter right after "<" (so "3 < 5" and "<3" are left alone).
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]{0,30})(?:\s[^<>]{0,500})?/?>")
# Inline elements wrap part of a word as often as a whole one: no space in their place.
_INLINE_TAGS = frozenset(
    "a abbr b bdi bdo cite code del em font i ins kbd mark q s samp small span strike strong "
    "sub sup tt u var".split()
)
# Only entities closed by ";": "AT&T" and "R&D" are text, not references.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_MARKDOWN_LINK = re.compile(r"!?\[([^\[\]]*)\]\(\s*<?(?:https?://|www\.|mailto:)[^()\s]*>?\s*\)")
_ANGLE_LINK = re.compile(r"<(?:https?://|www\.|mailto:)[^<>\s]*>", re.I)
# A link ends before the punctuation that ends the question ("... on https://x.org/a?").
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'“”]*[^\s<>\"'“”.,;:!?)\]}’]", re.I)

_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]{1,64})\b")
_LEADING_MENTIONS = re.compile(r"^(?:\s*@[A-Za-z0-9_]{1,64}\b(?![@.]\w)[\s,:;]*)+")
# After the question's final mark a mention addresses someone; without one it may be the person
# asked about ("who is @jack") and keeps its name.
_TRAILING_MENTIONS = re.compile(r"(?<=[?.!…)\"”])(?:\s*@[A-Za-z0-9_]{1,64}\b)+\s*$")
# "#Foxman" -> "Foxman"; "C#", "#1" and "&#39;" keep their "#".
_HASHTAG = re.compile(r"(?<![\w&#])#(?=[^\W\d_])")
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+")

# Emphasis markers must hug the text they wrap, as Markdown requires ("2 * 3 * 4" is no
# emphasis), and "_" only counts outside words (snake_case stays).
_STRONG = re.compile(r"(?<![\w*~])(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1(?![\w*~])", re.S)
_STAR = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_UNDERSCORE = re.compile(r"(?<![\w\\])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?!\w)")
_CODE = re.compile(r"`+([^`\n]+?)`+")

# Emoji: pictographs, dingbats and symbols, flags (regional indicators), skin tones, keycaps,
# variation selectors and the joiner that glues emoji sequences together.
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"
    "\u2600-\u27bf"
    "\u2b00-\u2bff"
    "\u2300-\u23ff"
    "\ufe0e\ufe0f\u200d\u20e3"
    "\U000e0020-\U000e007f"
    "\u3030\u303d\u3297\u3299"
    "]+"
)
_SPACES = re.compile(r"[^\S\n]+")
# What was taken out between a word and its punctuation leaves a space behind ("Foxman 🤔?").
_SPACE_BEFORE_MARK = re.compile(r"(?<=\w) +(?=[?!.,;:]+(?:\s|$))")


def strip_noise(text: str) -> str:
    """Remove markup, links, emoji, mentions, hashtag marks and emphasis from a question."""
    text = text[:MAX_NOISY_CHARS]
    if "<" in text:
        text = _HIDDEN_ELEMENT.sub(" ", text)
        text = _COMMENT.sub(" ", text)
        text = _ANGLE_LINK.sub(" ", text)
        text = _TAG.sub(_tag_replacement, text)
    if "&" in text:
        # After the tags: an escaped tag ("&lt;b&gt;") is text the user wrote on purpose.
        text = _ENTITY.sub(lambda m: html.unescape(m.group()), text)
    if "](" in text:
        text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    text = _EMOJI.sub(" ", text)
    if "@" in text:
        text = _LEADING_MENTIONS.sub("", text)
        text = _TRAILING_MENTIONS.sub("", text)
        text = _MENTION.sub(r"\1", text)
    if "#" in text:
        text = _MARKDOWN_HEADING.sub("", text)
        text = _HASHTAG.sub("", text)
    text = _STRONG.sub(r"\2", text)
    text = _STAR.sub(r"\1", text)
    text = _UNDERSCORE.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    return _SPACE_BEFORE_MARK.sub("", text)


def _tag_replacement(match: re.Match[str]) -> str:
    return "" if match.group(1).lower() in _INLINE_TAGS else " "
