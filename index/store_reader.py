"""Reading a disk generation: opened, checked against its manifest, then looked up by id."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.ann import VectorSearch, read_search_index
from index.errors import IndexCorrupt, IndexMismatch, IndexNotFound, first_line
from index.manifest import REBUILD_HINT, Manifest, SearchIndexInfo, check_compatible, read_manifest
from index.models import ArticleInfo, ParagraphRef
from index.schema import GENERATION_MIGRATIONS, schema_version
from index.storage import SentenceRow
from index.store_layout import (
    LEXICAL_DIR,
    META_NAME,
    PARAGRAPHS,
    SENTENCES,
    connect_readonly,
    generations_dir,
    read_current,
)
from index.vectors import VectorTable

if TYPE_CHECKING:
    from index.bm25 import LexicalIndex
    from index.embed import Embedder

# Above this many rows the open-time id check compares ends and order instead of every id,
# so a million-paragraph index opens in well under a second.
_FULL_ID_CHECK = 250_000
_CHUNK = 500  # stays under SQLite's bound-parameter limit


class Generation:
    """One opened, read-only generation. Safe to share between threads."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        conn: sqlite3.Connection,
        paragraph_index: VectorSearch,
        sentence_index: VectorSearch,
        lexical: LexicalIndex,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.paragraph_index = paragraph_index
        self.sentence_index = sentence_index
        self.lexical = lexical
        self._conn = conn
        version = schema_version(conn)
        self._row_sql = _row_sql(version)
        # Generations written before migration 3 have no stored terms: search tokenizes them.
        self._terms_column = "terms" if version >= 3 else "NULL"
        # One connection for all threads: a generation's files may be deleted (pruned) while a
        # reader still serves from it, and an already-open connection keeps working.
        self._lock = threading.Lock()

    @property
    def generation(self) -> str:
        """The generation's name."""
        return self.path.name

    @classmethod
    def open(cls, path: Path, embedder: Embedder | None = None) -> Generation:
        """Open and verify a generation; with ``embedder``, also check it embeds compatibly."""
        from index.bm25 import LexicalFormatError, LexicalIndex

        if not path.is_dir():
            raise IndexCorrupt(f"index generation {path} is missing; {REBUILD_HINT}")
        manifest = read_manifest(path)
        if embedder is not None:
            check_compatible(manifest, embedder, path.parent.parent)
        for name, size in manifest.files:
            file = path / name
            if not file.is_file():
                raise IndexCorrupt(f"index file {file} is missing; {REBUILD_HINT}")
            if file.stat().st_size != size:
                raise IndexCorrupt(
                    f"index file {file} is truncated or altered ({file.stat().st_size} bytes, "
                    f"expected {size}); {REBUILD_HINT}"
                )
        conn = cls._open_meta(path / META_NAME, manifest)
        try:
            indexes = [
                cls._open_search(path, name, expected, info, manifest.dimensions)
                for name, expected, info in (
                    (PARAGRAPHS, manifest.paragraphs, manifest.paragraph_search),
                    (SENTENCES, manifest.sentences, manifest.sentence_search),
                )
            ]
            cls._check_ids(path, conn, indexes[0], indexes[1])
            try:
                lexical = LexicalIndex.load(path / LEXICAL_DIR)
            except LexicalFormatError as exc:
                raise IndexMismatch(
                    f"index at {path} was built by another version of citebot ({exc}); "
                    f"{REBUILD_HINT}"
                ) from None
            except Exception as exc:  # any failure to load it means the files are unusable
                raise IndexCorrupt(
                    f"index files {path / LEXICAL_DIR} are corrupt ({type(exc).__name__}); "
                    f"{REBUILD_HINT}"
                ) from None
            # The vector ids were checked against SQLite above; the lexical ones must match them.
            if not np.array_equal(np.sort(lexical.ids), indexes[0].table.ids):
                raise IndexCorrupt(
                    f"index files {path / LEXICAL_DIR} are out of step with {path / META_NAME}; "
                    f"{REBUILD_HINT}"
                )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexCorrupt(
                f"index file {path / META_NAME} is corrupt ({exc}); {REBUILD_HINT}"
            ) from None
        except BaseException:
            conn.close()
            raise
        return cls(path, manifest, conn, indexes[0], indexes[1], lexical)

    @staticmethod
    def _open_meta(meta: Path, manifest: Manifest) -> sqlite3.Connection:
        if not meta.is_file():
            raise IndexCorrupt(f"index file {meta} is missing; {REBUILD_HINT}")
        conn = connect_readonly(meta)
        try:
            version = schema_version(conn)
            # An older generation still serves (what it lacks reads as unknown, see _row_sql);
            # a newer one may hold what this citebot cannot read.
            if not 1 <= version <= len(GENERATION_MIGRATIONS):
                raise IndexMismatch(
                    f"index file {meta} has schema version {version} but this citebot uses "
                    f"{len(GENERATION_MIGRATIONS)}; {REBUILD_HINT}"
                )
            counts = tuple(
                conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("articles", "paragraphs", "sentences")
            )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexCorrupt(f"index file {meta} is corrupt ({exc}); {REBUILD_HINT}") from None
        except BaseException:
            conn.close()
            raise
        expected = (manifest.articles, manifest.paragraphs, manifest.sentences)
        if counts != expected:
            conn.close()
            raise IndexCorrupt(
                f"index file {meta} holds {counts[0]} articles, {counts[1]} paragraphs, "
                f"{counts[2]} sentences but the manifest says {expected[0]}, {expected[1]}, "
                f"{expected[2]}; {REBUILD_HINT}"
            )
        return conn

    @staticmethod
    def _open_search(
        path: Path, name: str, expected: int, info: SearchIndexInfo, dimensions: int
    ) -> VectorSearch:
        """Map a vector table and its search index, checking both against the manifest."""
        try:
            table = VectorTable.open(path, name)
        except (OSError, ValueError) as exc:
            first = first_line(exc)
            raise IndexCorrupt(
                f"index files {path / name}.*.npy are corrupt ({first}); {REBUILD_HINT}"
            ) from None
        if len(table) != expected or table.dimensions != dimensions:
            raise IndexCorrupt(
                f"index file {path / name}.vectors.npy holds {len(table)} vectors of "
                f"{table.dimensions} dims but the manifest says {expected} of {dimensions}; "
                f"{REBUILD_HINT}"
            )
        file = path / f"{name}.faiss"
        try:
            index = read_search_index(file)
        except RuntimeError as exc:
            first = first_line(exc, "unreadable")
            raise IndexCorrupt(f"index file {file} is corrupt ({first}); {REBUILD_HINT}") from None
        if index.ntotal != expected or index.d != dimensions:
            raise IndexCorrupt(
                f"index file {file} holds {index.ntotal} vectors of {index.d} dims but the "
                f"manifest says {expected} of {dimensions}; {REBUILD_HINT}"
            )
        return VectorSearch(index, table, info)

    @staticmethod
    def _check_ids(
        path: Path, conn: sqlite3.Connection, paragraphs: VectorSearch, sentences: VectorSearch
    ) -> None:
        for name, search, table in ((PARAGRAPHS, paragraphs, "paragraphs"),
                                    (SENTENCES, sentences, "sentences")):
            ids = search.table.ids
            if len(ids) <= _FULL_ID_CHECK:
                rows = conn.execute(f"SELECT id FROM {table} ORDER BY id")
                stored = np.fromiter((r[0] for r in rows), dtype=np.int64)
                same = np.array_equal(stored, ids)
            else:
                # Counts already agree; matching ends and a strictly ascending array leave only
                # same-size edits inside the file, which its size check cannot see either.
                low, high = conn.execute(f"SELECT MIN(id), MAX(id) FROM {table}").fetchone()
                same = (int(ids[0]), int(ids[-1])) == (low, high) and bool((np.diff(ids) > 0).all())
            if not same:
                raise IndexCorrupt(
                    f"index file {path / name}.ids.npy is out of step with {path / META_NAME}; "
                    f"{REBUILD_HINT}"
                )

    def close(self) -> None:
        """Close the SQLite connection (only once no thread uses this generation)."""
        with self._lock:
            self._conn.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                # Opening reads only a few pages; a damaged one shows when a query reaches it.
                raise IndexCorrupt(
                    f"index file {self.path / META_NAME} is corrupt ({exc}); {REBUILD_HINT}"
                ) from None

    def _query_in(self, sql: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (with one ``{marks}`` placeholder list) over ``ids`` in chunks."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = [int(i) for i in ids[start : start + _CHUNK]]
            rows.extend(self._query(sql.format(marks=",".join("?" * len(chunk))), chunk))
        return rows

    def rows(self, paragraph_ids: Sequence[int]) -> list[ParagraphRef]:
        """Paragraph rows in the order of ``paragraph_ids`` (unknown ids are left out)."""
        found = {
            r[0]: ParagraphRef(*r)
            for r in self._query_in(self._row_sql + "WHERE p.id IN ({marks})", paragraph_ids)
        }
        return [found[int(i)] for i in paragraph_ids if int(i) in found]

    def paragraph_row(self, article_id: str, number: int) -> ParagraphRef | None:
        """One paragraph by its article and number."""
        rows = self._query(self._row_sql + "WHERE a.article_id = ? AND p.number = ?",
                           (article_id, number))
        return ParagraphRef(*rows[0]) if rows else None

    def article_rows(self, article_id: str) -> list[ParagraphRef]:
        """All paragraphs of an article, in its own order."""
        sql = self._row_sql + "WHERE a.article_id = ? ORDER BY p.number"
        rows = self._query(sql, (article_id,))
        return [ParagraphRef(*r) for r in rows]

    def sentences(self, paragraph_ids: Sequence[int]) -> dict[int, tuple[SentenceRow, ...]]:
        """Sentences of each paragraph, in text order."""
        grouped: dict[int, list[SentenceRow]] = {int(i): [] for i in paragraph_ids}
        rows = self._query_in(
            f'SELECT id, paragraph_id, start, "end", {self._terms_column} FROM sentences '
            "WHERE paragraph_id IN ({marks}) ORDER BY paragraph_id, start",
            list(grouped),
        )
        for sid, pid, start, end, terms in rows:
            # str.split() (no argument) makes "" no terms at all; terms never hold spaces.
            stored = None if terms is None else tuple(terms.split())
            grouped[pid].append(SentenceRow(sid, pid, start, end, stored))
        return {pid: tuple(sents) for pid, sents in grouped.items()}

    def sentence_paragraphs(self, sentence_ids: Sequence[int]) -> dict[int, int]:
        """Paragraph id of each given sentence id (unknown ids are left out)."""
        return dict(self._query_in("SELECT id, paragraph_id FROM sentences WHERE id IN ({marks})",
                                   sentence_ids))

    def paragraph_vectors(self, paragraph_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the paragraphs (rows in the given order; KeyError for unknown ids)."""
        return self.paragraph_index.table.get(paragraph_ids)

    def sentence_vectors(self, sentence_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the sentences (rows in the given order; KeyError for unknown ids)."""
        return self.sentence_index.table.get(sentence_ids)

    def latest_articles(self, n: int) -> list[ArticleInfo]:
        """The ``n`` most recent articles: by date (undated last), then newest indexed first."""
        rows = self._query(
            "SELECT a.article_id, a.title, a.url, a.date, COUNT(p.id) FROM articles a "
            "LEFT JOIN paragraphs p ON p.article_id = a.id GROUP BY a.id "
            "ORDER BY a.date IS NULL, a.date DESC, a.id DESC LIMIT ?",
            (max(0, n),),
        )
        return [ArticleInfo(*r) for r in rows]


def _row_sql(version: int) -> str:
    """The start of a paragraph query, in ``ParagraphRef`` field order, for schema ``version``."""
    # Generations written before migration 2 have no page column: their paragraphs have none.
    page = "p.page" if version >= 2 else "NULL"
    return (
        f"SELECT p.id, a.article_id, p.number, p.text, p.section, a.title, a.url, a.date, {page} "
        "FROM paragraphs p JOIN articles a ON a.id = p.article_id "
    )


def open_generation(root: Path, embedder: Embedder | None = None) -> Generation:
    """Open the serving generation of the index at ``root``."""
    if not root.is_dir():
        raise IndexNotFound(f"no index at {root}; run `citebot index build`")
    name = read_current(root)
    return Generation.open(generations_dir(root) / name, embedder)
