"""The bot's SQLite file: opening it, its schema as numbered migrations, and transactions."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from index import CitebotError, schema_version
from index import migrate as migrate_sqlite

# Each entry is one migration; its number is its position + 1. Never edit a released entry:
# append a new one, so every database can be brought forward step by step (as index/schema.py).
MIGRATIONS: tuple[str, ...] = (
    # 1: the schema from before migrations were numbered, verbatim. Its IF NOT EXISTS lets a
    # database written then (all tables, no schema_migrations) be adopted as version 1 as it is.
    """
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
    """,
    # 2: all-time /stats totals in one row, so the per-question rows (latencies) can be dropped
    # after a retention window; seeded from the rows kept so far.
    """
    CREATE TABLE question_totals (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        questions INTEGER NOT NULL,
        abstentions INTEGER NOT NULL,
        since REAL
    );
    INSERT INTO question_totals (id, questions, abstentions, since)
        SELECT 1, COUNT(*), COALESCE(SUM(abstained), 0), MIN(asked_at) FROM questions;
    CREATE INDEX questions_asked ON questions (asked_at);
    """,
)


class NewerStateError(CitebotError):
    """The state file was written by a newer citebot, whose schema this one does not know."""


def migrate(db: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Apply the migrations the state file lacks (as the index does); returns its version."""
    current = schema_version(db)
    if current > len(migrations):
        raise NewerStateError(
            f"the bot's state has schema version {current}, newer than this citebot's "
            f"{len(migrations)}; upgrade citebot or use another [telegram] state_path"
        )
    return migrate_sqlite(db, migrations)


def open_database(path: str | Path) -> sqlite3.Connection:
    """Open (creating it and its folder if need be) and migrate the state file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Autocommit: the stores open their transactions explicitly (``transaction``).
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    migrate(db)
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed when the block ends, rolled back when it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
