"""Writing a disk generation: SQLite rows, vector tables, their search indexes, BM25, manifest.

Also reads back what an incremental build needs from the serving generation.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from array import array
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.ann import (
    VectorSearch,
    build_search_index,
    recall_at_k,
    sample_queries,
    write_search_index,
)
from index.diskarray import VectorRows
from index.errors import IndexCorrupt
from index.lexical_tokens import sentence_terms
from index.manifest import (
    CHECKSUM_ALGORITHM,
    REBUILD_HINT,
    Manifest,
    SearchIndexInfo,
    file_checksum,
    write_manifest,
)
from index.schema import GENERATION_MIGRATIONS, migrate
from index.storage import ArticleRecord, PreviousGeneration
from index.store_layout import (
    LEXICAL_DIR,
    META_NAME,
    PARAGRAPHS,
    SENTENCES,
    connect_readonly,
    fsync_tree,
)
from index.vectors import VectorTable, write_table

# Vector count above which a table is searched approximately (see ``index.ann``); the
# ``index.approximate_above`` setting passes its own value.
DEFAULT_APPROXIMATE_ABOVE = 50_000


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


def _write_meta(path: Path, articles: Sequence[ArticleRecord]) -> None:
    """Write the articles, paragraphs and sentences into a new SQLite file."""
    conn = sqlite3.connect(str(path))
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
                    "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(p.paragraph_id, row_id, p.number, p.text, p.section, p.text_hash, p.page)
                     for p in article.paragraphs],
                )
                conn.executemany(
                    "INSERT INTO sentences VALUES (?, ?, ?, ?, ?)",
                    [(sid, p.paragraph_id, start, end, " ".join(terms))
                     for p in article.paragraphs
                     for (sid, start, end), terms in zip(
                         p.sentences,
                         sentence_terms(p.text, [(s, e) for _, s, e in p.sentences]),
                         strict=True,
                     )],
                )
    finally:
        conn.close()


def write_generation(
    directory: Path,
    articles: Sequence[ArticleRecord],
    paragraph_vectors: VectorRows,
    sentence_vectors: VectorRows,
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
    from index.bm25_build import write_lexical

    directory.mkdir(parents=True)
    # Ids as flat arrays, not records: ``articles`` may be read back from disk (a big build).
    paragraph_ids, sentence_ids = array("q"), array("q")
    for article in articles:
        for p in article.paragraphs:
            paragraph_ids.append(p.paragraph_id)
            sentence_ids.extend([s[0] for s in p.sentences])
    if paragraph_vectors.shape != (len(paragraph_ids), manifest.dimensions):
        raise ValueError(f"paragraph vectors {paragraph_vectors.shape} do not match the paragraphs")
    if sentence_vectors.shape != (len(sentence_ids), manifest.dimensions):
        raise ValueError(f"sentence vectors {sentence_vectors.shape} do not match the sentences")

    _write_meta(directory / META_NAME, articles)
    write_table(directory, PARAGRAPHS, np.frombuffer(paragraph_ids, np.int64), paragraph_vectors)
    write_table(directory, SENTENCES, np.frombuffer(sentence_ids, np.int64), sentence_vectors)
    paragraph_search = _write_search_index(directory, PARAGRAPHS, SENTENCES, approximate_above)
    sentence_search = _write_search_index(directory, SENTENCES, PARAGRAPHS, approximate_above)
    write_lexical(directory / LEXICAL_DIR, (p.text for a in articles for p in a.paragraphs),
                  np.frombuffer(paragraph_ids, np.int64), scratch=directory)

    written = sorted(path for path in directory.rglob("*") if path.is_file())
    files = tuple((str(path.relative_to(directory)), path.stat().st_size) for path in written)
    # Hashed right after writing, while the files are still in the page cache.
    checksums = tuple(
        (str(path.relative_to(directory)), file_checksum(path)) for path in written
    )
    final = dataclasses.replace(
        manifest,
        articles=len(articles),
        paragraphs=len(paragraph_ids),
        sentences=len(sentence_ids),
        files=files,
        checksums=checksums,
        checksum_algorithm=CHECKSUM_ALGORITHM,
        paragraph_search=paragraph_search,
        sentence_search=sentence_search,
    )
    write_manifest(directory, final)
    fsync_tree(directory)
    return final


def read_previous(directory: Path) -> PreviousGeneration:
    """Read the content hashes and paragraph ids of a generation (its SQLite file only)."""
    meta = directory / META_NAME
    if not meta.is_file():
        raise IndexCorrupt(f"index file {meta} is missing; {REBUILD_HINT}")
    try:
        conn = connect_readonly(meta)
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
