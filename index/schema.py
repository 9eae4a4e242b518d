"""SQLite schemas of the index, as numbered migrations applied in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

# Each entry is one migration; its number is its position + 1. Never edit a released entry:
# append a new one, so every database can be brought forward step by step.
GENERATION_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        article_id TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        url TEXT,
        date TEXT,
        source TEXT NOT NULL,
        content_hash TEXT NOT NULL
    );
    CREATE TABLE paragraphs (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles(id),
        number INTEGER NOT NULL,
        text TEXT NOT NULL,
        section TEXT,
        text_hash TEXT NOT NULL,
        UNIQUE (article_id, number)
    );
    CREATE TABLE sentences (
        id INTEGER PRIMARY KEY,
        paragraph_id INTEGER NOT NULL REFERENCES paragraphs(id),
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL
    );
    CREATE INDEX sentences_by_paragraph ON sentences(paragraph_id);
    """,
    # 2: the page a paragraph starts on, for sources that have pages (PDF); NULL otherwise.
    """
    ALTER TABLE paragraphs ADD COLUMN page INTEGER;
    """,
    # 3: each sentence's lexical terms (``index.lexical_tokens``), space-separated, written at
    # build time so a search reads its candidates' wording instead of tokenizing their texts.
    """
    ALTER TABLE sentences ADD COLUMN terms TEXT;
    """,
)

# The embedding cache outlives generations (and citebot versions), so it migrates in place.
CACHE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE embeddings (
        model_id TEXT NOT NULL,
        input_version INTEGER NOT NULL,
        text_hash BLOB NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model_id, input_version, text_hash)
    ) WITHOUT ROWID;
    """,
)


def schema_version(conn: sqlite3.Connection) -> int:
    """Highest migration applied to the database (0 for a new one)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: Sequence[str]) -> int:
    """Apply the migrations the database lacks, in order; returns the resulting version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    current = schema_version(conn)
    for number, script in enumerate(migrations, start=1):
        if number <= current:
            continue
        applied = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            # executescript commits first; wrapping in BEGIN/COMMIT keeps one migration atomic.
            conn.executescript(
                f"BEGIN;\n{script}\n"
                f"INSERT INTO schema_migrations VALUES ({number}, '{applied}');\nCOMMIT;"
            )
        except sqlite3.Error:
            # A failed script leaves its transaction open: undo it so nothing half-applied stays.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return schema_version(conn)
