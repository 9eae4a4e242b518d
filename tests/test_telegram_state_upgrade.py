"""The bot's SQLite state migrates: a file written before its schema had numbered migrations
opens, is upgraded in place, and still gives back its threads, answers' sources and stats."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.models import Citation, CitedParagraph, Conversation, Turn
from index import ParagraphRef
from bot.telegram.state.answers import citations_from_json, citations_to_json
from bot.telegram.state.db import MIGRATIONS, NewerStateError, migrate, schema_version
from bot.telegram.state.store import StateStore
from bot.telegram.state.threads import Asked

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
BEFORE_MIGRATIONS = FIXTURES / "bot_state_before_migrations.sql"
# The fixture's clock: its last write, a little later.
NOW = 1_700_000_100.0


def _old_database(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(BEFORE_MIGRATIONS.read_text(encoding="utf-8"))
    db.close()
    return path


def _schema(db: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = db.execute(
        "SELECT name, sql FROM sqlite_master"
        " WHERE sql IS NOT NULL AND name != 'schema_migrations' ORDER BY name"
    ).fetchall()
    return [(name, re.sub(r"\s+", " ", sql.replace("IF NOT EXISTS ", ""))) for name, sql in rows]


def test_migration_1_is_the_schema_from_before_migrations(tmp_path: Path) -> None:
    old = sqlite3.connect(_old_database(tmp_path / "old.sqlite"))
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite")
    assert migrate(fresh, MIGRATIONS[:1]) == 1
    assert _schema(fresh) == _schema(old)


def test_a_state_file_from_before_migrations_is_upgraded_and_read_back(tmp_path: Path) -> None:
    path = _old_database(tmp_path / "bot.sqlite")
    store = StateStore(path, ttl_hours=72, clock=lambda: NOW)
    assert schema_version(store._db) == len(MIGRATIONS)  # noqa: SLF001

    group = store.threads.thread_of_message(-1005, 11)
    assert group is not None and group.thread_id == 1
    assert group.conversation == Conversation(turns=(Turn(
        "Who discovered penicillin?", "Who discovered penicillin?",
        (CitedParagraph(12, "penicillin", 0),), False, "Alexander Fleming discovered it in 1928.",
    ),))
    private = store.threads.current_thread(7, 0)
    assert private is not None and private.thread_id == 2
    assert [t.abstained for t in private.conversation.turns] == [False, True]

    answer = store.answer(1)
    assert answer is not None
    assert (answer.chat_id, answer.cited, answer.more_shown) == (-1005, 1, True)
    cited, more = answer.citations
    assert cited == Citation(
        n=1,
        ref=ParagraphRef(
            paragraph_id=-1, article_id="penicillin", number=0,
            text="Alexander Fleming discovered it in 1928.", section=None, title="Penicillin",
            url="https://example.org/penicillin", date="2024-01-02",
        ),
        score=0.0,
        quotes=((0, 40),),
    )
    assert (more.n, more.ref.number, more.ref.url, more.quotes) == (2, 3, None, ())
    assert "“in earnest”" in more.ref.text

    stats = store.question_stats()
    assert (stats.questions, stats.abstentions, stats.since) == (4, 1, 1_700_000_061.0)
    assert stats.p50_seconds == pytest.approx(1.0)
    assert store.unfinished_updates(1) == ([(101, '{"update_id": 101}')], [])
    assert not store.claim_update(100, "{}")
    # New rows continue the old ones' ids, so old buttons never name a new answer.
    assert store.claim(Asked(9, 0, 1, reply_to=None, private=True)).answer_id == 3
    store.close()
    # Opening it again changes nothing.
    reopened = StateStore(path, ttl_hours=72, clock=lambda: NOW)
    assert reopened.question_stats() == stats
    reopened.close()


def test_a_state_file_from_a_newer_citebot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    StateStore(path, ttl_hours=1).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (len(MIGRATIONS) + 1,))
    db.commit()
    db.close()
    with pytest.raises(NewerStateError, match="newer"):
        StateStore(path, ttl_hours=1)


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "bot.sqlite", isolation_level=None)
    migrate(db, MIGRATIONS[:1])
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, (*MIGRATIONS[:1], "CREATE TABLE half (x); SELECT * FROM missing;"))
    assert schema_version(db) == 1
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


def test_citations_round_trip_with_every_field() -> None:
    citations = (
        Citation(
            1, ParagraphRef(42, "art", 3, "Text “quoted”.", "Intro", "T", "https://x.org", "2024"),
            0.8125, ((0, 4),),
        ),
        Citation(4, ParagraphRef(7, "other", 0, "More.", None, "", None, None), 0.1),
    )
    assert citations_from_json(citations_to_json(citations)) == citations
