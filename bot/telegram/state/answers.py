"""The answers' sources, kept so the buttons under an answer can show them later."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.models import Citation
from index import ParagraphRef

# Rows written before whole citations were stored lack these; nothing a button shows uses them.
UNKNOWN_PARAGRAPH_ID = -1
UNKNOWN_SCORE = 0.0


@dataclass(frozen=True)
class StoredAnswer:
    """The sources an answer cited, which its buttons may show, and where it was sent."""

    answer_id: int
    chat_id: int
    thread_id: int
    # How many of ``citations`` the answer cited; the rest are the further results of More.
    cited: int
    citations: tuple[Citation, ...]
    more_shown: bool


def citations_to_json(citations: Sequence[Citation]) -> str:
    """Serialize an answer's numbered citations (all their fields) as JSON."""
    return json.dumps(
        [
            {
                "n": c.n,
                "paragraph_id": c.ref.paragraph_id,
                "article_id": c.ref.article_id,
                "title": c.ref.title,
                "paragraph": c.ref.number,
                "section": c.ref.section,
                "text": c.ref.text,
                "score": c.score,
                "url": c.ref.url,
                "date": c.ref.date,
                "page": c.ref.page,
                "quotes": [list(q) for q in c.quotes],
            }
            for c in citations
        ],
        ensure_ascii=False,
    )


def citations_from_json(text: str) -> tuple[Citation, ...]:
    """Parse what ``citations_to_json`` wrote, or the source list of an older bot's answer."""
    return tuple(
        Citation(
            n=int(c["n"]),
            ref=ParagraphRef(
                paragraph_id=int(c.get("paragraph_id", UNKNOWN_PARAGRAPH_ID)),
                article_id=str(c["article_id"]),
                number=int(c["paragraph"]),
                text=str(c["text"]),
                section=c.get("section"),
                title=str(c["title"]),
                url=c.get("url"),
                date=c.get("date"),
                page=c.get("page"),
            ),
            score=float(c.get("score", UNKNOWN_SCORE)),
            quotes=tuple((int(a), int(b)) for a, b in c.get("quotes", ())),
        )
        for c in json.loads(text)
    )


class Answers:
    """The answers table; the caller (``StateStore``) holds the transactions."""

    def __init__(self, db: sqlite3.Connection, ttl_seconds: float, clock: Callable[[], float]):
        self._db = db
        self._ttl = ttl_seconds
        self._clock = clock

    def reserve(self, chat_id: int, now: float) -> int:
        """A new answer id, for the buttons of an answer not sent yet; it shows nothing (no
        sources) until ``save`` fills it in."""
        answer_id = self._db.execute(
            "INSERT INTO answers (chat_id, thread_id, cited, refs, created_at)"
            " VALUES (?, 0, 0, '[]', ?)",
            (chat_id, now),
        ).lastrowid
        assert answer_id is not None
        return answer_id

    def save(
        self, answer_id: int, chat_id: int, thread_id: int, cited: int,
        citations: Sequence[Citation], now: float,
    ) -> None:
        """Store a sent answer's sources under its reserved id."""
        self._db.execute(
            "INSERT OR REPLACE INTO answers"
            " (answer_id, chat_id, thread_id, cited, refs, more_shown, created_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?)",
            (answer_id, chat_id, thread_id, cited, citations_to_json(citations), now),
        )

    def answer(self, answer_id: int) -> StoredAnswer | None:
        """A live answer's sources."""
        row = self._db.execute(
            "SELECT answer_id, chat_id, thread_id, cited, refs, more_shown FROM answers"
            " WHERE answer_id = ? AND created_at >= ?",
            (answer_id, self._clock() - self._ttl),
        ).fetchone()
        if row is None:
            return None
        answer_id, chat_id, thread_id, cited, refs, more_shown = row
        return StoredAnswer(
            answer_id, chat_id, thread_id, cited, citations_from_json(refs), bool(more_shown)
        )

    def mark_more_shown(self, answer_id: int) -> bool:
        """Mark an answer's further results as shown; False if they already were."""
        cursor = self._db.execute(
            "UPDATE answers SET more_shown = 1 WHERE answer_id = ? AND more_shown = 0", (answer_id,)
        )
        return cursor.rowcount > 0

    def purge(self) -> None:
        """Delete expired answers, reserved ones included."""
        self._db.execute("DELETE FROM answers WHERE created_at < ?", (self._clock() - self._ttl,))
