"""Frozen records of the conversation layer: answers, citations and conversation turns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index import ParagraphRef


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: one paragraph, its retrieval score, and the spans quoted."""

    n: int
    ref: ParagraphRef
    score: float
    # Character spans of ``ref.text`` that the answer quotes (highlighted when rendered).
    quotes: tuple[tuple[int, int], ...] = ()

    @property
    def url_quote(self) -> str | None:
        """The article's web address opening at the quote (or the paragraph, if none is quoted).

        None when the article has no http(s) URL.
        """
        from bot.text_fragment import quote_url

        if not self.ref.url:
            return None
        text = self.ref.text
        spans = [(a, b) for a, b in self.quotes if 0 <= a < b <= len(text)]
        quoted = text[spans[0][0] : spans[0][1]] if spans else text
        return quote_url(self.ref.url, quoted, self.ref.page)

    def to_json(self) -> dict[str, Any]:
        """The citation as in the CLI's JSON answer object.

        ``page`` is there only when the source has pages, ``url_quote`` only with a web URL.
        """
        ref = self.ref
        data: dict[str, Any] = {
            "n": self.n,
            "article_id": ref.article_id,
            "title": ref.title,
            "url": ref.url,
        }
        url_quote = self.url_quote
        if url_quote is not None:
            data["url_quote"] = url_quote
        data.update(date=ref.date, paragraph=ref.number)
        if ref.page is not None:
            data["page"] = ref.page
        data.update(text=ref.text, score=round(self.score, 6))
        return data


@dataclass(frozen=True)
class Quote:
    """A verbatim piece of a cited paragraph, as it appears in the answer."""

    text: str
    citation: int


@dataclass(frozen=True)
class Answer:
    """An answer: verbatim quotes with numbered citations, or an abstention."""

    question: str
    abstained: bool
    quotes: tuple[Quote, ...] = ()
    citations: tuple[Citation, ...] = ()
    # Further results, offered behind a "More" button; never part of the answer itself.
    more: tuple[Citation, ...] = ()
    confidence: float = 0.0
    # What kind of reply this is when it is not a quoted answer or a refusal: small talk
    # ("greeting", "thanks", "help", "goodbye") or a reply about the conversation ("about",
    # "more").
    reply_kind: str | None = None
    # The reply's own text when it is not made of quotes (small talk); shown as plain text.
    message: str = ""

    @property
    def kind(self) -> str:
        """"answer", "abstain", or the reply kind set for small talk and the like."""
        if self.reply_kind is not None:
            return self.reply_kind
        return "abstain" if self.abstained else "answer"

    @property
    def text(self) -> str:
        """The quoted sentence(s) as plain text."""
        return " ".join(q.text for q in self.quotes)

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON answer object."""
        return {
            "question": self.question,
            "kind": self.kind,
            "abstained": self.abstained,
            # Small talk has no quotes: its reply text goes where a quoted answer would.
            "answer": self.text or self.message,
            "citations": [c.to_json() for c in self.citations],
        }


@dataclass(frozen=True)
class CitedParagraph:
    """A paragraph an earlier turn cited, by identity only.

    Not a whole ``ParagraphRef``: the conversation is stored as JSON and rewritten on every
    turn, and follow-ups need only which paragraph it was, never its text or metadata.
    """

    paragraph_id: int
    article_id: str
    number: int

    @classmethod
    def of(cls, ref: ParagraphRef) -> CitedParagraph:
        """The identity of a cited paragraph."""
        return cls(ref.paragraph_id, ref.article_id, ref.number)


@dataclass(frozen=True)
class Turn:
    """One question of a conversation, the query it was resolved to, and what it cited."""

    question: str
    query: str
    cited: tuple[CitedParagraph, ...] = ()
    abstained: bool = False
    # The quoted text of the answer: "he", "she" and "who said that?" may refer to it.
    answer: str = ""


@dataclass(frozen=True)
class Conversation:
    """The recent turns of one conversation, oldest first."""

    turns: tuple[Turn, ...] = ()

    def add(self, turn: Turn, max_turns: int) -> Conversation:
        """Return the conversation with ``turn`` appended, keeping the last ``max_turns``."""
        return Conversation(turns=(*self.turns, turn)[-max_turns:] if max_turns > 0 else ())


# The conversation before its first question (immutable, so one instance serves everyone).
NEW_CONVERSATION = Conversation()


@dataclass(frozen=True)
class Reply:
    """What the engine returns for a question: the answer and the conversation after it."""

    answer: Answer
    conversation: Conversation
