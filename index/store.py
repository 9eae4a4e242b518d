"""The on-disk index: a directory of immutable generations, one of them named by ``CURRENT``.

Layout::

    <index>/CURRENT                      name of the serving generation (replaced atomically)
    <index>/build.lock                   held by the running build
    <index>/cache/embeddings.sqlite      embedding cache shared by all generations
    <index>/generations/<id>/manifest.json, meta.sqlite, lexical/,
        paragraphs.ids.npy, paragraphs.vectors.npy, sentences.ids.npy, sentences.vectors.npy
            vectors by id, memory-mapped (``index.vectors``)
        paragraphs.faiss, sentences.faiss
            candidate search over those rows, exact or approximate by size (``index.ann``)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import IndexCorrupt, IndexMismatch, IndexNotFound, first_line
from index.ann import (
    VectorSearch,
    build_search_index,
    read_search_index,
    recall_at_k,
    sample_queries,
    write_search_index,
)
from index.manifest import (
    REBUILD_HINT,
    Manifest,
    SearchIndexInfo,
    check_compatible,
    read_manifest,
    write_manifest,
)
from index.models import ArticleInfo
from index.schema import GENERATION_MIGRATIONS, migrate, schema_version
from index.vectors import VectorTable, write_table

if TYPE_CHECKING:
    from index.bm25 import LexicalIndex
    from index.embed import Embedder

CURRENT_NAME = "CURRENT"
GENERATIONS_DIR = "generations"
CACHE_PATH = Path("cache") / "embeddings.sqlite"
LOCK_NAME = "build.lock"
META_NAME = "meta.sqlite"
PARAGRAPHS = "paragraphs"
SENTENCES = "sentences"
PARAGRAPHS_FAISS = "paragraphs.faiss"
SENTENCES_FAISS = "sentences.faiss"
# Vector count above which a table is searched approximately (see ``index.ann``); the
# ``index.approximate_above`` setting passes its own value.
DEFAULT_APPROXIMATE_ABOVE = 50_000
# Above this many rows the open-time id check compares ends and order instead of every id,
# so a million-paragraph index opens in well under a second.
_FULL_ID_CHECK = 250_000
LEXICAL_DIR = "lexical"
TEMP_PREFIX = ".tmp-"
_CHUNK = 500  # stays under SQLite's bound-parameter limit


@dataclass(frozen=True)
class ParagraphRow:
    """A stored paragraph with its article's metadata."""

    paragraph_id: int
    article_id: str
    number: int
    text: str
    section: str | None
    title: str
    url: str | None
    date: str | None


@dataclass(frozen=True)
class SentenceRow:
    """A sentence of a stored paragraph, as character offsets into its text."""

    sentence_id: int
    paragraph_id: int
    start: int
    end: int


@dataclass(frozen=True)
class ParagraphRecord:
    """A paragraph to be written into a new generation."""

    paragraph_id: int
    number: int
    text: str
    section: str | None
    text_hash: str
    sentences: tuple[tuple[int, int, int], ...]  # (sentence_id, start, end)


@dataclass(frozen=True)
class ArticleRecord:
    """An article to be written into a new generation."""

    article_id: str
    title: str
    url: str | None
    date: str | None
    source: str
    content_hash: str
    paragraphs: tuple[ParagraphRecord, ...]


@dataclass(frozen=True)
class PreviousGeneration:
    """What a build needs from the serving generation: content hashes and paragraph ids."""

    generation: str
    content_hashes: dict[str, str]
    # (article_id, number, text_hash) → paragraph id, so unchanged paragraphs keep their id.
    paragraph_ids: dict[tuple[str, int, str], int]
    max_paragraph_id: int


# -- paths, CURRENT and durability ---------------------------------------------------------------


def generations_dir(root: Path) -> Path:
    """Folder holding the generations of the index at ``root``."""
    return root / GENERATIONS_DIR


def fsync_path(path: Path) -> None:
    """Flush a file or directory to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """Flush every file and folder under ``directory`` (itself included) to disk."""
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def read_current(root: Path) -> str:
    """Name of the serving generation; ``IndexNotFound`` when nothing has been built."""
    try:
        name = (root / CURRENT_NAME).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFound(f"no index at {root}; run `citebot index build`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"index file {root / CURRENT_NAME} is unreadable ({exc}); {REBUILD_HINT}") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorrupt(f"index file {root / CURRENT_NAME} is corrupt; {REBUILD_HINT}")
    return name


def write_current(root: Path, generation: str) -> None:
    """Make ``generation`` the serving one: write, fsync, then atomically replace ``CURRENT``."""
    temp = root / f"{CURRENT_NAME}.tmp-{os.getpid()}"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(generation + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, root / CURRENT_NAME)
    fsync_path(root)


def new_generation_id() -> str:
    """A fresh generation name that sorts by build time."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def generation_names(root: Path) -> list[str]:
    """Finished generations (no temporary ones), oldest first."""
    folder = generations_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def remove_stale_temporaries(root: Path) -> list[str]:
    """Delete generations left half-written by failed or killed builds (call under the lock)."""
    folder = generations_dir(root)
    removed: list[str] = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    for path in root.glob(f"{CURRENT_NAME}.tmp-*"):
        path.unlink(missing_ok=True)
    return removed


def prune_generations(root: Path, keep: int) -> list[str]:
    """Delete generations older than the serving one and the ``keep`` newest others."""
    current = read_current(root)
    others = [name for name in generation_names(root) if name != current]
    doomed = others[: max(0, len(others) - max(0, keep))]
    for name in doomed:
        shutil.rmtree(generations_dir(root) / name, ignore_errors=True)
    return doomed


def directory_size(directory: Path) -> int:
    """Total size in bytes of the files under ``directory``."""
    total = 0
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += (Path(folder) / name).stat().st_size
            except OSError:
                pass
    return total


# -- writing a generation ------------------------------------------------------------------------


def _write_search_index(
    directory: Path, name: str, other: str, approximate_above: int
) -> SearchIndexInfo:
    """Build, write and (when approximate) measure the search index of table ``name``.

    Recall queries are stored vectors of the ``other`` table (sentences for paragraphs and
    vice versa): close to real questions, and never the very vector being searched for.
    """
    table = VectorTable.open(directory, name)
    index, info = build_search_index(table, approximate_above)
    write_search_index(index, directory / f"{name}.faiss")
    if info.kind != "flat":
        queries = sample_queries(VectorTable.open(directory, other))
        recall = recall_at_k(VectorSearch(index, table, info), queries)
        info = dataclasses.replace(info, recall_at_10=round(recall, 4), recall_queries=len(queries))
    return info


def write_generation(
    directory: Path,
    articles: Sequence[ArticleRecord],
    paragraph_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    manifest: Manifest,
    *,
    approximate_above: int = DEFAULT_APPROXIMATE_ABOVE,
) -> Manifest:
    """Write a complete generation into the empty folder ``directory`` and fsync it.

    Vectors are rows aligned with the paragraphs (and sentences) in ``articles`` order; they may
    be memory-mapped arrays of any float type. Tables above ``approximate_above`` vectors get an
    approximate search index whose recall is measured here. The manifest's counts, search
    indexes and files are filled in here; it is written last.
    """
    from index.bm25 import LexicalIndex

    directory.mkdir(parents=True)
    paragraphs = [p for a in articles for p in a.paragraphs]
    sentences = [s for p in paragraphs for s in p.sentences]
    if paragraph_vectors.shape != (len(paragraphs), manifest.dimensions):
        raise ValueError(f"paragraph vectors {paragraph_vectors.shape} do not match the paragraphs")
    if sentence_vectors.shape != (len(sentences), manifest.dimensions):
        raise ValueError(f"sentence vectors {sentence_vectors.shape} do not match the sentences")

    conn = sqlite3.connect(str(directory / META_NAME))
    try:
        migrate(conn, GENERATION_MIGRATIONS)
        with conn:
            for row_id, article in enumerate(articles, start=1):
                conn.execute(
                    "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (row_id, article.article_id, article.title, article.url, article.date,
                     article.source, article.content_hash),
                )
                conn.executemany(
                    "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?, ?)",
                    [(p.paragraph_id, row_id, p.number, p.text, p.section, p.text_hash)
                     for p in article.paragraphs],
                )
                conn.executemany(
                    "INSERT INTO sentences VALUES (?, ?, ?, ?)",
                    [(sid, p.paragraph_id, start, end)
                     for p in article.paragraphs for sid, start, end in p.sentences],
                )
    finally:
        conn.close()

    write_table(directory, PARAGRAPHS, [p.paragraph_id for p in paragraphs], paragraph_vectors)
    write_table(directory, SENTENCES, [s[0] for s in sentences], sentence_vectors)
    paragraph_search = _write_search_index(directory, PARAGRAPHS, SENTENCES, approximate_above)
    sentence_search = _write_search_index(directory, SENTENCES, PARAGRAPHS, approximate_above)
    LexicalIndex.build([p.text for p in paragraphs], [p.paragraph_id for p in paragraphs]).save(
        directory / LEXICAL_DIR
    )

    files = tuple(
        sorted(
            (str(path.relative_to(directory)), path.stat().st_size)
            for path in directory.rglob("*")
            if path.is_file()
        )
    )
    final = dataclasses.replace(
        manifest,
        articles=len(articles),
        paragraphs=len(paragraphs),
        sentences=len(sentences),
        files=files,
        paragraph_search=paragraph_search,
        sentence_search=sentence_search,
    )
    write_manifest(directory, final)
    fsync_tree(directory)
    return final


# -- reading -------------------------------------------------------------------------------------


def _connect_readonly(path: Path) -> sqlite3.Connection:
    # immutable=1: a generation never changes once written, so SQLite may skip all locking.
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def read_previous(directory: Path) -> PreviousGeneration:
    """Read the content hashes and paragraph ids of a generation (its SQLite file only)."""
    meta = directory / META_NAME
    if not meta.is_file():
        raise IndexCorrupt(f"index file {meta} is missing; {REBUILD_HINT}")
    try:
        conn = _connect_readonly(meta)
        try:
            hashes = dict(conn.execute("SELECT article_id, content_hash FROM articles"))
            ids = {
                (article_id, number, text_hash): pid
                for pid, article_id, number, text_hash in conn.execute(
                    "SELECT p.id, a.article_id, p.number, p.text_hash "
                    "FROM paragraphs p JOIN articles a ON a.id = p.article_id"
                )
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise IndexCorrupt(f"index file {meta} is corrupt ({exc}); {REBUILD_HINT}") from None
    return PreviousGeneration(directory.name, hashes, ids, max(ids.values(), default=0))


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
                    f"index files {path / LEXICAL_DIR} are corrupt ({type(exc).__name__}); {REBUILD_HINT}"
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
        conn = _connect_readonly(meta)
        try:
            version = schema_version(conn)
            if version != len(GENERATION_MIGRATIONS):
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
                stored = np.fromiter(
                    (r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")), dtype=np.int64
                )
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

    _ROW_SQL = (
        "SELECT p.id, a.article_id, p.number, p.text, p.section, a.title, a.url, a.date "
        "FROM paragraphs p JOIN articles a ON a.id = p.article_id "
    )

    def rows(self, paragraph_ids: Sequence[int]) -> list[ParagraphRow]:
        """Paragraph rows in the order of ``paragraph_ids`` (unknown ids are left out)."""
        found = {
            r[0]: ParagraphRow(*r)
            for r in self._query_in(self._ROW_SQL + "WHERE p.id IN ({marks})", paragraph_ids)
        }
        return [found[int(i)] for i in paragraph_ids if int(i) in found]

    def paragraph_row(self, article_id: str, number: int) -> ParagraphRow | None:
        """One paragraph by its article and number."""
        rows = self._query(self._ROW_SQL + "WHERE a.article_id = ? AND p.number = ?",
                           (article_id, number))
        return ParagraphRow(*rows[0]) if rows else None

    def article_rows(self, article_id: str) -> list[ParagraphRow]:
        """All paragraphs of an article, in its own order."""
        rows = self._query(self._ROW_SQL + "WHERE a.article_id = ? ORDER BY p.number", (article_id,))
        return [ParagraphRow(*r) for r in rows]

    def sentences(self, paragraph_ids: Sequence[int]) -> dict[int, tuple[SentenceRow, ...]]:
        """Sentences of each paragraph, in text order."""
        grouped: dict[int, list[SentenceRow]] = {int(i): [] for i in paragraph_ids}
        rows = self._query_in(
            'SELECT id, paragraph_id, start, "end" FROM sentences WHERE paragraph_id IN ({marks}) '
            "ORDER BY paragraph_id, start",
            list(grouped),
        )
        for row in rows:
            grouped[row[1]].append(SentenceRow(*row))
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

    def all_paragraph_ids(self) -> np.ndarray:
        """Every paragraph id of the generation, ascending."""
        return np.array(self.paragraph_index.table.ids)

    def article(self, article_id: str) -> ArticleInfo | None:
        """One article's metadata."""
        rows = self._query(
            "SELECT a.article_id, a.title, a.url, a.date, COUNT(p.id) FROM articles a "
            "LEFT JOIN paragraphs p ON p.article_id = a.id WHERE a.article_id = ? GROUP BY a.id",
            (article_id,),
        )
        return ArticleInfo(*rows[0]) if rows else None

    def latest_articles(self, n: int) -> list[ArticleInfo]:
        """The ``n`` most recent articles: by date (undated last), then newest indexed first."""
        rows = self._query(
            "SELECT a.article_id, a.title, a.url, a.date, COUNT(p.id) FROM articles a "
            "LEFT JOIN paragraphs p ON p.article_id = a.id GROUP BY a.id "
            "ORDER BY a.date IS NULL, a.date DESC, a.id DESC LIMIT ?",
            (max(0, n),),
        )
        return [ArticleInfo(*r) for r in rows]

    def size_bytes(self) -> int:
        """Size of the generation's files on disk."""
        return directory_size(self.path)


def open_generation(root: Path, embedder: Embedder | None = None) -> Generation:
    """Open the serving generation of the index at ``root``."""
    if not root.is_dir():
        raise IndexNotFound(f"no index at {root}; run `citebot index build`")
    name = read_current(root)
    return Generation.open(generations_dir(root) / name, embedder)
