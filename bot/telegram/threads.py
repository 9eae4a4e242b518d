"""SQLite state of the Telegram bot: conversation threads, the answers' sources, question stats
and the journal of received updates.

Telegram delivers only one level of ``reply_to_message``, so the bot remembers which thread every
question and answer message belongs to. All access goes through one worker thread (the way
datasette serialises writes), so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.models import Citation, CitedParagraph, Conversation, Turn
from index import ParagraphRef

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    thread_id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    topic_id INTEGER NOT NULL,
    conversation TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS thread_messages (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX IF NOT EXISTS thread_messages_thread ON thread_messages (thread_id);
CREATE INDEX IF NOT EXISTS threads_updated ON threads (updated_at);
CREATE TABLE IF NOT EXISTS current_threads (
    chat_id INTEGER NOT NULL,
    topic_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, topic_id)
);
CREATE TABLE IF NOT EXISTS answers (
    answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    cited INTEGER NOT NULL,
    refs TEXT NOT NULL,
    more_shown INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created_at);
CREATE TABLE IF NOT EXISTS questions (
    asked_at REAL NOT NULL,
    seconds REAL NOT NULL,
    abstained INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS updates (
    update_id INTEGER PRIMARY KEY,
    payload TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL
);
"""

# Telegram keeps an undelivered update for 24 hours, so a handled update id older than this can
# never come back; after a week of silence Telegram may even reuse ids, so they must be dropped.
UPDATE_MEMORY_SECONDS = 48 * 3600.0

# /stats percentiles look at this many recent questions.
STATS_WINDOW = 1000


@dataclass(frozen=True)
class StoredThread:
    """A conversation thread of one chat (and forum topic)."""

    thread_id: int
    chat_id: int
    topic_id: int
    conversation: Conversation


@dataclass(frozen=True)
class StoredAnswer:
    """The sources an answer cited, which its buttons may show, and where it was sent."""

    answer_id: int
    chat_id: int
    thread_id: int
    cited: int
    refs: tuple[Citation, ...]
    more_shown: bool


@dataclass(frozen=True)
class QuestionStats:
    """What /stats reports."""

    questions: int
    abstentions: int
    p50_seconds: float
    p95_seconds: float
    since: float | None


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


def _refs_to_json(refs: Sequence[Citation]) -> str:
    return json.dumps(
        [
            {
                "n": c.n,
                "paragraph_id": c.ref.paragraph_id,
                "article_id": c.ref.article_id,
                "paragraph": c.ref.number,
                "section": c.ref.section,
                "title": c.ref.title,
                "text": c.ref.text,
                "url": c.ref.url,
                "date": c.ref.date,
                "score": c.score,
                "quotes": [list(q) for q in c.quotes],
            }
            for c in refs
        ],
        ensure_ascii=False,
    )


def _refs_from_json(text: str) -> tuple[Citation, ...]:
    # Rows written before sources were stored as citations lack the paragraph id, section and
    # score; the buttons never use them, so such a row still reads (id -1, no section, score 0).
    return tuple(
        Citation(
            n=int(r["n"]),
            ref=ParagraphRef(
                paragraph_id=int(r.get("paragraph_id", -1)),
                article_id=r["article_id"],
                number=int(r["paragraph"]),
                text=r["text"],
                section=r.get("section"),
                title=r["title"],
                url=r.get("url"),
                date=r.get("date"),
            ),
            score=float(r.get("score", 0.0)),
            quotes=tuple((int(a), int(b)) for a, b in r.get("quotes", ())),
        )
        for r in json.loads(text)
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (0.0 for none)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


class ThreadStore:
    """Synchronous access to the bot's SQLite state; use it from one thread only."""

    def __init__(self, path: str | Path, ttl_hours: float, clock: Callable[[], float] = time.time):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._ttl = ttl_hours * 3600.0
        self._clock = clock

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _fresh_after(self) -> float:
        return self._clock() - self._ttl

    def _thread(self, row: Any) -> StoredThread | None:
        if row is None:
            return None
        thread_id, chat_id, topic_id, conversation = row
        return StoredThread(thread_id, chat_id, topic_id, conversation_from_json(conversation))

    def thread(self, thread_id: int) -> StoredThread | None:
        """A live (not expired) thread by id."""
        row = self._db.execute(
            "SELECT thread_id, chat_id, topic_id, conversation FROM threads"
            " WHERE thread_id = ? AND updated_at >= ?",
            (thread_id, self._fresh_after()),
        ).fetchone()
        return self._thread(row)

    def thread_of_message(self, chat_id: int, message_id: int) -> StoredThread | None:
        """The live thread a question or answer message belongs to."""
        row = self._db.execute(
            "SELECT t.thread_id, t.chat_id, t.topic_id, t.conversation FROM thread_messages m"
            " JOIN threads t ON t.thread_id = m.thread_id"
            " WHERE m.chat_id = ? AND m.message_id = ? AND t.updated_at >= ?",
            (chat_id, message_id, self._fresh_after()),
        ).fetchone()
        return self._thread(row)

    def current_thread(self, chat_id: int, topic_id: int) -> StoredThread | None:
        """The live thread a chat (private chats) continues when a question is not a reply."""
        row = self._db.execute(
            "SELECT t.thread_id, t.chat_id, t.topic_id, t.conversation FROM current_threads c"
            " JOIN threads t ON t.thread_id = c.thread_id"
            " WHERE c.chat_id = ? AND c.topic_id = ? AND t.updated_at >= ?",
            (chat_id, topic_id, self._fresh_after()),
        ).fetchone()
        return self._thread(row)

    def forget_current(self, chat_id: int, topic_id: int) -> bool:
        """Start afresh: the next question of this chat begins a new thread."""
        cursor = self._db.execute(
            "DELETE FROM current_threads WHERE chat_id = ? AND topic_id = ?", (chat_id, topic_id)
        )
        return cursor.rowcount > 0

    def record_answer(
        self,
        *,
        chat_id: int,
        topic_id: int,
        thread_id: int | None,
        conversation: Conversation,
        question_message_id: int,
        refs: Sequence[Citation],
        cited: int,
        make_current: bool,
    ) -> tuple[int, int]:
        """Save a thread's conversation and an answer's sources; returns (thread, answer) ids."""
        now = self._clock()
        payload = conversation_to_json(conversation)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if thread_id is None:
                thread_id = self._db.execute(
                    "INSERT INTO threads (chat_id, topic_id, conversation, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (chat_id, topic_id, payload, now),
                ).lastrowid
            else:
                self._db.execute(
                    "UPDATE threads SET conversation = ?, updated_at = ? WHERE thread_id = ?",
                    (payload, now, thread_id),
                )
            assert thread_id is not None
            self._link(chat_id, thread_id, (question_message_id,))
            if make_current:
                self._db.execute(
                    "INSERT OR REPLACE INTO current_threads (chat_id, topic_id, thread_id)"
                    " VALUES (?, ?, ?)",
                    (chat_id, topic_id, thread_id),
                )
            answer_id = self._db.execute(
                "INSERT INTO answers (chat_id, thread_id, cited, refs, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (chat_id, thread_id, cited, _refs_to_json(refs), now),
            ).lastrowid
        assert answer_id is not None
        return thread_id, answer_id

    def _link(self, chat_id: int, thread_id: int, message_ids: Sequence[int]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO thread_messages (chat_id, message_id, thread_id)"
            " VALUES (?, ?, ?)",
            [(chat_id, m, thread_id) for m in message_ids],
        )

    def link_messages(self, chat_id: int, thread_id: int, message_ids: Sequence[int]) -> None:
        """Remember that the bot's messages belong to a thread, so replies to them follow it."""
        with self._db:
            self._link(chat_id, thread_id, message_ids)

    def answer(self, answer_id: int) -> StoredAnswer | None:
        """A live answer's sources."""
        row = self._db.execute(
            "SELECT answer_id, chat_id, thread_id, cited, refs, more_shown FROM answers"
            " WHERE answer_id = ? AND created_at >= ?",
            (answer_id, self._fresh_after()),
        ).fetchone()
        if row is None:
            return None
        answer_id, chat_id, thread_id, cited, refs, more_shown = row
        return StoredAnswer(
            answer_id, chat_id, thread_id, cited, _refs_from_json(refs), bool(more_shown)
        )

    def mark_more_shown(self, answer_id: int) -> bool:
        """Mark an answer's further results as shown; False if they already were."""
        cursor = self._db.execute(
            "UPDATE answers SET more_shown = 1 WHERE answer_id = ? AND more_shown = 0", (answer_id,)
        )
        return cursor.rowcount > 0

    def log_question(self, seconds: float, abstained: bool) -> None:
        """Count one answered question for /stats (no text is kept)."""
        self._db.execute(
            "INSERT INTO questions (asked_at, seconds, abstained) VALUES (?, ?, ?)",
            (self._clock(), seconds, int(abstained)),
        )

    def question_stats(self) -> QuestionStats:
        """Totals, and latency percentiles over the recent questions."""
        total, abstentions, since = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(abstained), 0), MIN(asked_at) FROM questions"
        ).fetchone()
        recent = [
            r[0]
            for r in self._db.execute(
                "SELECT seconds FROM questions ORDER BY rowid DESC LIMIT ?", (STATS_WINDOW,)
            )
        ]
        recent.sort()
        return QuestionStats(
            questions=total,
            abstentions=abstentions,
            p50_seconds=percentile(recent, 0.5),
            p95_seconds=percentile(recent, 0.95),
            since=since,
        )

    def claim_update(self, update_id: int, payload: str) -> bool:
        """Journal an update before Telegram learns the bot has it; False if it was seen before
        (a redelivery after a crash or a lost offset), so it must not be handled again."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO updates (update_id, payload, received_at) VALUES (?, ?, ?)",
            (update_id, payload, self._clock()),
        )
        return cursor.rowcount > 0

    def finish_update(self, update_id: int) -> None:
        """Mark an update handled: it is never handled again, and its content is dropped."""
        self._db.execute(
            "UPDATE updates SET payload = NULL WHERE update_id = ?", (update_id,)
        )

    def unfinished_updates(self, max_attempts: int) -> tuple[list[tuple[int, str]], list[int]]:
        """Updates journaled but never handled (the bot died first), to handle now, oldest
        first; and those already retried ``max_attempts`` times, which are given up."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT update_id, payload, attempts FROM updates WHERE payload IS NOT NULL"
                " ORDER BY update_id"
            ).fetchall()
            retry = [(u, p) for u, p, a in rows if a < max_attempts]
            given_up = [u for u, _, a in rows if a >= max_attempts]
            self._db.executemany(
                "UPDATE updates SET attempts = attempts + 1 WHERE update_id = ?",
                [(u,) for u, _ in retry],
            )
            self._db.executemany(
                "UPDATE updates SET payload = NULL WHERE update_id = ?", [(u,) for u in given_up]
            )
        return retry, given_up

    def purge(self) -> int:
        """Delete expired threads and answers; returns how many threads went."""
        cutoff = self._fresh_after()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "DELETE FROM updates WHERE received_at < ?",
                (self._clock() - UPDATE_MEMORY_SECONDS,),
            )
            gone = [
                r[0]
                for r in self._db.execute(
                    "SELECT thread_id FROM threads WHERE updated_at < ?", (cutoff,)
                )
            ]
            self._db.executemany(
                "DELETE FROM thread_messages WHERE thread_id = ?", [(t,) for t in gone]
            )
            self._db.executemany(
                "DELETE FROM current_threads WHERE thread_id = ?", [(t,) for t in gone]
            )
            self._db.execute("DELETE FROM threads WHERE updated_at < ?", (cutoff,))
            self._db.execute("DELETE FROM answers WHERE created_at < ?", (cutoff,))
        return len(gone)


class AsyncThreadStore:
    """The thread store for the event loop: every call runs on the store's own worker thread."""

    def __init__(self, path: str | Path, ttl_hours: float) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-state")
        self._store: ThreadStore = self._executor.submit(ThreadStore, path, ttl_hours).result()

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``method`` (a ThreadStore method) on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: method(*args, **kwargs))

    @property
    def sync(self) -> ThreadStore:
        """The underlying store, to name methods for ``call``."""
        return self._store

    def close(self) -> None:
        """Close the database and stop the worker."""
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
