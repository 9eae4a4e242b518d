"""Embeddings of exact texts, shared by every generation so a build only embeds new text."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from index.errors import IndexCorrupt
from index.schema import CACHE_MIGRATIONS, migrate

_CHUNK = 500  # stays under SQLite's bound-parameter limit


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
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                (
                    (self.model_id, self.input_version, key, data[i].tobytes())
                    for i, key in enumerate(keys)
                ),
            )

    def clear(self) -> int:
        """Delete every cached vector (all models); returns how many were deleted."""
        with self._conn:
            count = self._conn.execute("DELETE FROM embeddings").rowcount
        self._conn.execute("VACUUM")
        return int(count)

    def close(self) -> None:
        """Close the database."""
        self._conn.close()
