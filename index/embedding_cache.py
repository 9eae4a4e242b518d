"""Embeddings of exact texts, shared by every generation so a build only embeds new text."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import IndexCorrupt
from index.schema import CACHE_MIGRATIONS, migrate

_CHUNK = 500  # stays under SQLite's bound-parameter limit
_KEEP_BATCH = 10_000
# Rewriting the file (VACUUM) takes about as long as copying what is left (1.2 s for 230 MB
# here), so after a rebuild it runs only when it gives back at least this share of the file;
# smaller holes are reused by later inserts. `citebot index gc` always gives the space back.
AUTO_VACUUM_SHARE = 0.25

CacheKey = tuple[str, int, bytes]  # (model column, input version, text key)


def text_key(text: str) -> bytes:
    """The cache key of an exact embedded text (prefix included)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def cache_model_key(model_id: str, backend: str) -> str:
    """The model column of cached vectors: the backend is part of it, except for torch.

    Torch vectors keep the bare model id, so caches written before there were other backends
    stay valid; int8 or ONNX vectors never mix with them.
    """
    return model_id if backend == "torch" else f"{model_id}@{backend}"


class EmbeddingCache:
    """Vectors keyed by (model id + backend, passage input version, sha256 of the embedded text)."""

    def __init__(
        self, path: Path, model_id: str, input_version: int, dimensions: int, backend: str = "torch"
    ) -> None:
        self.path = path
        self.backend = backend
        self.model_id = cache_model_key(model_id, backend)
        self.input_version = input_version
        self.dimensions = dimensions
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(path))
            self._conn.execute("PRAGMA journal_mode=WAL")
            migrate(self._conn, CACHE_MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            from index.diskspace import disk_full, out_of_space

            # Opening writes too (the write-ahead log's shared memory): a full disk is no
            # reason to delete the cache.
            reason = out_of_space(exc, path.parent)
            if reason is not None:
                raise disk_full(path, "opening the embedding cache", reason, None) from None
            raise IndexCorrupt(
                f"embedding cache {path} is corrupt ({exc}); delete it or run "
                "`citebot index rebuild --clean-cache`"
            ) from None

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys`` (missing keys are absent from the result)."""
        found: dict[bytes, np.ndarray] = {}
        wanted = list(dict.fromkeys(keys))
        expected_bytes = self.dimensions * 4
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model_id = ? "
                f"AND input_version = ? AND text_hash IN ({marks})",
                (self.model_id, self.input_version, *chunk),
            )
            for key, blob in rows:
                if len(blob) == expected_bytes:  # a short blob is treated as a miss, re-embedded
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store vectors (rows aligned with ``keys``) and commit, so a killed build keeps them."""
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                    (
                        (self.model_id, self.input_version, key, data[i].tobytes())
                        for i, key in enumerate(keys)
                    ),
                )
        except sqlite3.OperationalError as exc:
            from index.diskspace import disk_full, out_of_space

            reason = out_of_space(exc, self.path.parent)
            if reason is None:
                raise
            raise disk_full(self.path, "caching new embeddings", reason, None) from None

    def clear(self) -> int:
        """Delete every cached vector (all models); returns how many were deleted."""
        with self._conn:
            count = self._conn.execute("DELETE FROM embeddings").rowcount
        self._conn.execute("VACUUM")
        return int(count)

    def close(self) -> None:
        """Close the database."""
        self._conn.close()


def _vacuum(conn: sqlite3.Connection) -> bool:
    """Rewrite the database compactly; False when the disk lacks room for the copy it needs."""
    conn.execute("DROP TABLE temp.keep")
    try:
        conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        return False  # the freed pages stay inside the file, for later inserts
    return True


def cache_files_bytes(path: Path) -> int:
    """Size of the cache database with its write-ahead log."""
    total = 0
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            total += file.stat().st_size
        except FileNotFoundError:
            pass
    return total


@dataclass(frozen=True)
class PruneResult:
    """What ``prune_unreferenced`` did to the cache."""

    removed: int
    kept: int
    bytes_before: int
    bytes_after: int
    vacuumed: bool


def prune_unreferenced(
    path: Path, referenced: Iterable[CacheKey], *, vacuum_share: float = 0.0
) -> PruneResult:
    """Delete every cached vector whose key is not in ``referenced``, then maybe VACUUM.

    The keys go through a temporary on-disk table, so memory stays flat for millions of them.
    The file is rewritten (VACUUM) when the freed pages are at least ``vacuum_share`` of it.
    """
    before = cache_files_bytes(path)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute(
            "CREATE TEMP TABLE keep (model_id TEXT, input_version INTEGER, text_hash BLOB, "
            "PRIMARY KEY (model_id, input_version, text_hash)) WITHOUT ROWID"
        )
        conn.execute("BEGIN")
        batch: list[CacheKey] = []
        for key in referenced:
            batch.append(key)
            if len(batch) >= _KEEP_BATCH:
                conn.executemany("INSERT OR IGNORE INTO temp.keep VALUES (?, ?, ?)", batch)
                batch.clear()
        conn.executemany("INSERT OR IGNORE INTO temp.keep VALUES (?, ?, ?)", batch)
        removed = conn.execute(
            "DELETE FROM main.embeddings WHERE NOT EXISTS (SELECT 1 FROM temp.keep k WHERE "
            "k.model_id = embeddings.model_id AND k.input_version = embeddings.input_version "
            "AND k.text_hash = embeddings.text_hash)"
        ).rowcount
        conn.execute("COMMIT")
        kept = int(conn.execute("SELECT COUNT(*) FROM main.embeddings").fetchone()[0])
        free_pages = int(conn.execute("PRAGMA main.freelist_count").fetchone()[0])
        pages = max(1, int(conn.execute("PRAGMA main.page_count").fetchone()[0]))
        vacuumed = free_pages > 0 and free_pages / pages >= vacuum_share and _vacuum(conn)
        # Fold the write-ahead log back in and truncate it, or the saved space hides there.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.DatabaseError as exc:
        raise IndexCorrupt(
            f"embedding cache {path} is corrupt ({exc}); delete it or run "
            "`citebot index rebuild --clean-cache`"
        ) from None
    finally:
        conn.close()
    return PruneResult(int(removed), kept, before, cache_files_bytes(path), vacuumed)
