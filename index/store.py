"""The disk engine: an index is a folder of immutable FAISS + SQLite generations.

``index.store_layout`` names its files and keeps them durable, ``index.store_writer`` writes a
generation, ``index.store_reader`` opens one; ``DiskStore`` puts them behind ``index.storage``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from index.diskspace import check_space, disk_full, estimate_generation_bytes, out_of_space
from index.manifest import Manifest, read_manifest
from index.storage import ArticleRecord, PreviousGeneration
from index.store_layout import (
    TEMP_PREFIX,
    directory_size,
    fsync_path,
    generations_dir,
    prune_generations,
    read_current,
    remove_stale_temporaries,
    write_current,
)
from index.store_reader import Generation, open_generation
from index.store_writer import read_previous, write_generation

if TYPE_CHECKING:
    from index.diskarray import VectorRows
    from index.embed import Embedder


class DiskStore:
    """The index in the folder ``root`` (an ``index.storage.Storage``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def serving(self) -> str:
        """Name of the serving generation; ``IndexNotFound`` when nothing has been built."""
        return read_current(self.root)

    def open(self, generation: str | None = None, embedder: Embedder | None = None) -> Generation:
        """Open a generation (default: the serving one); with ``embedder``, check compatibility."""
        if generation is None:
            return open_generation(self.root, embedder)
        return Generation.open(generations_dir(self.root) / generation, embedder)

    def manifest(self, generation: str) -> Manifest:
        """A generation's manifest, without opening the rest of it."""
        return read_manifest(generations_dir(self.root) / generation)

    def previous(self, generation: str) -> PreviousGeneration:
        """Content hashes and paragraph ids of a generation, for an incremental build."""
        return read_previous(generations_dir(self.root) / generation)

    def remove_unfinished(self) -> list[str]:
        """Delete what failed or killed builds left half-written (call under the build lock)."""
        return remove_stale_temporaries(self.root)

    def publish(
        self,
        articles: Sequence[ArticleRecord],
        paragraph_vectors: VectorRows,
        sentence_vectors: VectorRows,
        manifest: Manifest,
        *,
        approximate_above: int,
        embedder: Embedder,
    ) -> Manifest:
        """Write, verify and switch to the generation ``manifest`` names; its final manifest.

        It is written under a temporary name and renamed once complete, so a reader never sees
        half of it; ``CURRENT`` names it only after it was read back.
        """
        generation = manifest.generation
        folder = generations_dir(self.root)
        temp = folder / f"{TEMP_PREFIX}{generation}"
        needed = self.check_room(articles, manifest.dimensions, approximate_above)
        try:
            final = write_generation(
                temp, articles, paragraph_vectors, sentence_vectors, manifest,
                approximate_above=approximate_above,
            )
            # Read back what was written before anyone can be switched to it.
            Generation.open(temp, embedder).close()
            os.rename(temp, folder / generation)
            fsync_path(folder)
            write_current(self.root, generation)
        except BaseException as exc:
            shutil.rmtree(temp, ignore_errors=True)
            reason = out_of_space(exc, folder)
            if reason is not None:
                raise disk_full(folder, "writing the new generation", reason, needed) from None
            raise
        return final

    def check_room(
        self, articles: Sequence[ArticleRecord], dimensions: int, approximate_above: int
    ) -> int:
        """The bytes a generation of ``articles`` needs; ``DiskFull`` when the disk lacks them.

        Failing before writing leaves nothing to clean up, and says how much space to make.
        """
        needed = estimate_generation_bytes(articles, dimensions, approximate_above)
        check_space(generations_dir(self.root), needed)
        return needed

    def prune(self, keep: int) -> list[str]:
        """Delete generations older than the serving one and the ``keep`` newest others."""
        return prune_generations(self.root, keep)

    def size_bytes(self) -> int:
        """Size in bytes of everything under the index folder (cache included)."""
        return directory_size(self.root)
