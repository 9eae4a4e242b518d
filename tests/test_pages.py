"""Page numbers travel from a loaded block to the stored paragraph; older indexes read none."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from index.build import content_hash
from index.clean import clean_documents
from index.embed import Embedder
from index.errors import IndexMismatch
from index.models import Article, Block, Document, Paragraph, page_label
from index.settings import SplitSettings
from index.split import split_document
from index.storage import ArticleRecord, ParagraphRecord
from index.store_layout import META_NAME, write_current
from index.store_reader import open_generation
from index.store_writer import write_generation
from test_store import DIMS, _manifest, _unit


def _words(count: int) -> str:
    return " ".join(f"word{i}" for i in range(count)) + "."


def test_pages_survive_cleaning_merging_and_splitting() -> None:
    doc = Document("a", "Title", "a.pdf", (
        Block("Short lead:", page=1),  # merged into the next block: the paragraph starts on p. 1
        Block("A paragraph that is long enough to stand alone in the article.", page=2),
        Block(_words(400), "Section", page=3),  # split in pieces, each still on p. 3
        Block("Tail.", "Section", page=5),  # merged into the previous paragraph of its section
    ))
    [cleaned] = clean_documents([doc], SplitSettings())
    article = split_document(cleaned, SplitSettings(), lambda text: len(text.split()), 128)
    pages = [p.page for p in article.paragraphs]
    assert pages[0] == 1 and article.paragraphs[0].text.startswith("Short lead:")
    assert len(pages) > 3 and set(pages[1:]) == {3}
    assert article.paragraphs[-1].text.endswith("Tail.")


def test_page_label() -> None:
    assert page_label(4) == "p. 4"
    assert page_label(None) is None


def test_content_hash_counts_pages_only_where_there_are_pages() -> None:
    plain = Article("a", "T", "a.txt", (Paragraph("a", 0, "Text."),))
    # The hash of an article without pages is what it was before pages existed.
    legacy = json.dumps(["T", None, None, "a.txt", [[0, "Text.", None]]], ensure_ascii=False)
    assert content_hash(plain) == hashlib.sha256(legacy.encode()).hexdigest()
    on_page = Article("a", "T", "a.pdf", (Paragraph("a", 0, "Text.", page=2),))
    moved = Article("a", "T", "a.pdf", (Paragraph("a", 0, "Text.", page=3),))
    assert content_hash(on_page) != content_hash(moved)


def _write(root: Path) -> None:
    records = [
        ArticleRecord("doc", "Report", None, None, "doc.pdf", "h", (
            ParagraphRecord(1, 0, "On page four.", None, "t1", ((1, 0, 13),), 4),
            ParagraphRecord(2, 1, "No page.", None, "t2", ((2, 0, 8),)),
        )),
    ]
    write_generation(root / "generations" / "g1", records, _unit(2, DIMS, 1), _unit(2, DIMS, 2),
                     _manifest(Embedder().model_id))
    write_current(root, "g1")


def test_store_round_trips_the_page(tmp_path: Path) -> None:
    _write(tmp_path)
    generation = open_generation(tmp_path)
    assert [r.page for r in generation.rows([1, 2])] == [4, None]
    assert generation.paragraph_row("doc", 0).page == 4  # type: ignore[union-attr]


def test_an_index_written_before_pages_still_serves(tmp_path: Path) -> None:
    _write(tmp_path)
    meta = tmp_path / "generations" / "g1" / META_NAME
    # What a citebot before migration 2 wrote: no page column, schema version 1.
    with sqlite3.connect(meta) as conn:
        conn.execute("ALTER TABLE paragraphs DROP COLUMN page")
        conn.execute("ALTER TABLE sentences DROP COLUMN terms")  # migration 3, later still
        conn.execute("DELETE FROM schema_migrations WHERE version >= 2")
    conn.close()
    manifest = tmp_path / "generations" / "g1" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"][META_NAME] = meta.stat().st_size
    manifest.write_text(json.dumps(data))

    generation = open_generation(tmp_path)
    assert [(r.text, r.page) for r in generation.rows([1, 2])] == [
        ("On page four.", None), ("No page.", None)
    ]
    assert [r.page for r in generation.article_rows("doc")] == [None, None]


def test_a_schema_without_migrations_is_refused(tmp_path: Path) -> None:
    _write(tmp_path)
    meta = tmp_path / "generations" / "g1" / META_NAME
    with sqlite3.connect(meta) as conn:
        conn.execute("DELETE FROM schema_migrations")
    conn.close()
    manifest = tmp_path / "generations" / "g1" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"][META_NAME] = meta.stat().st_size
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatch, match="schema version 0"):
        open_generation(tmp_path)
