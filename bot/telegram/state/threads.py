"""Conversation threads: which thread every question and answer message belongs to.

Telegram delivers only one level of ``reply_to_message``, so the bot remembers the thread of each
message it sent or answered, and in private chats the thread a question continues by default.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.models import CitedParagraph, Conversation, Turn

_SELECT = "SELECT t.thread_id, t.chat_id, t.topic_id, t.conversation FROM "


@dataclass(frozen=True)
class StoredThread:
    """A conversation thread of one chat (and forum topic)."""

    thread_id: int
    chat_id: int
    topic_id: int
    conversation: Conversation


@dataclass(frozen=True)
class Asked:
    """Where a question was asked: which thread it may continue."""

    chat_id: int
    topic_id: int
    message_id: int
    # The message it replies to (a real reply, not a forum topic's root), if any.
    reply_to: int | None
    private: bool


def conversation_to_json(conversation: Conversation) -> str:
    """Serialize a conversation's turns as JSON."""
    return json.dumps(
        [
            {
                "question": t.question,
                "query": t.query,
                "abstained": t.abstained,
                "cited": [[c.paragraph_id, c.article_id, c.number] for c in t.cited],
                "answer": t.answer,
            }
            for t in conversation.turns
        ],
        ensure_ascii=False,
    )


def conversation_from_json(text: str) -> Conversation:
    """Parse what ``conversation_to_json`` wrote."""
    turns = []
    for item in json.loads(text):
        cited = tuple(CitedParagraph(int(p), str(a), int(n)) for p, a, n in item.get("cited", ()))
        turns.append(
            Turn(
                question=str(item["question"]),
                query=str(item.get("query", item["question"])),
                cited=cited,
                abstained=bool(item.get("abstained", False)),
                answer=str(item.get("answer", "")),
            )
        )
    return Conversation(turns=tuple(turns))


def _stored(row: Any) -> StoredThread | None:
    if row is None:
        return None
    thread_id, chat_id, topic_id, conversation = row
    return StoredThread(thread_id, chat_id, topic_id, conversation_from_json(conversation))


class Threads:
    """The threads tables; the caller (``StateStore``) holds the transactions."""

    def __init__(self, db: sqlite3.Connection, ttl_seconds: float, clock: Callable[[], float]):
        self._db = db
        self._ttl = ttl_seconds
        self._clock = clock

    def fresh_after(self) -> float:
        """Threads (and answers) last touched before this moment have expired."""
        return self._clock() - self._ttl

    def thread(self, thread_id: int) -> StoredThread | None:
        """A live (not expired) thread by id."""
        row = self._db.execute(
            _SELECT + "threads t WHERE t.thread_id = ? AND t.updated_at >= ?",
            (thread_id, self.fresh_after()),
        ).fetchone()
        return _stored(row)

    def thread_of_message(self, chat_id: int, message_id: int) -> StoredThread | None:
        """The live thread a question or answer message belongs to."""
        row = self._db.execute(
            _SELECT + "thread_messages m JOIN threads t ON t.thread_id = m.thread_id"
            " WHERE m.chat_id = ? AND m.message_id = ? AND t.updated_at >= ?",
            (chat_id, message_id, self.fresh_after()),
        ).fetchone()
        return _stored(row)

    def current_thread(self, chat_id: int, topic_id: int) -> StoredThread | None:
        """The live thread a chat (private chats) continues when a question is not a reply."""
        row = self._db.execute(
            _SELECT + "current_threads c JOIN threads t ON t.thread_id = c.thread_id"
            " WHERE c.chat_id = ? AND c.topic_id = ? AND t.updated_at >= ?",
            (chat_id, topic_id, self.fresh_after()),
        ).fetchone()
        return _stored(row)

    def continued(self, asked: Asked) -> StoredThread | None:
        """The thread a question continues: the one it replies into (in its own forum topic),
        else in private chats the chat's current one."""
        if asked.reply_to is not None:
            thread = self.thread_of_message(asked.chat_id, asked.reply_to)
            if thread is not None and thread.topic_id == asked.topic_id:
                return thread
        if asked.private:
            return self.current_thread(asked.chat_id, asked.topic_id)
        return None

    def holds(self, thread_id: int, chat_id: int, message_id: int) -> bool:
        """Whether a message is linked to the thread (for a question: its turn was saved)."""
        row = self._db.execute(
            "SELECT thread_id FROM thread_messages WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        ).fetchone()
        return row is not None and row[0] == thread_id

    def forget_current(self, chat_id: int, topic_id: int) -> bool:
        """Start afresh: the next question of this chat begins a new thread."""
        cursor = self._db.execute(
            "DELETE FROM current_threads WHERE chat_id = ? AND topic_id = ?", (chat_id, topic_id)
        )
        return cursor.rowcount > 0

    def save(
        self, chat_id: int, topic_id: int, thread_id: int | None, conversation: Conversation,
        now: float,
    ) -> int:
        """Store a thread's conversation (a new thread when ``thread_id`` is None); its id."""
        payload = conversation_to_json(conversation)
        if thread_id is None:
            new_id = self._db.execute(
                "INSERT INTO threads (chat_id, topic_id, conversation, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (chat_id, topic_id, payload, now),
            ).lastrowid
            assert new_id is not None
            return new_id
        self._db.execute(
            "UPDATE threads SET conversation = ?, updated_at = ? WHERE thread_id = ?",
            (payload, now, thread_id),
        )
        return thread_id

    def make_current(self, chat_id: int, topic_id: int, thread_id: int) -> None:
        """The chat's next question that is not a reply continues this thread."""
        self._db.execute(
            "INSERT OR REPLACE INTO current_threads (chat_id, topic_id, thread_id)"
            " VALUES (?, ?, ?)",
            (chat_id, topic_id, thread_id),
        )

    def link(self, chat_id: int, thread_id: int, message_ids: Sequence[int]) -> None:
        """Remember that messages belong to a thread, so replies to them follow it."""
        self._db.executemany(
            "INSERT OR REPLACE INTO thread_messages (chat_id, message_id, thread_id)"
            " VALUES (?, ?, ?)",
            [(chat_id, m, thread_id) for m in message_ids],
        )

    def purge(self) -> int:
        """Delete expired threads with their messages; returns how many threads went."""
        cutoff = self.fresh_after()
        gone = [
            (r[0],)
            for r in self._db.execute(
                "SELECT thread_id FROM threads WHERE updated_at < ?", (cutoff,)
            )
        ]
        self._db.executemany("DELETE FROM thread_messages WHERE thread_id = ?", gone)
        self._db.executemany("DELETE FROM current_threads WHERE thread_id = ?", gone)
        self._db.execute("DELETE FROM threads WHERE updated_at < ?", (cutoff,))
        return len(gone)
