"""The manifest of an index generation: what built it, what it holds, its files' sizes and sums."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.errors import IndexCorrupt, IndexMismatch
from index.sentences import SPLITTER_VERSION

if TYPE_CHECKING:
    from index.embed import Embedder

# Version of the on-disk layout of a generation (files, tables, FAISS index types).
# 2: vectors in memory-mapped .npy tables, FAISS files hold only the (possibly approximate)
# candidate-search indexes.
FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
REBUILD_HINT = "run `citebot index rebuild`"
# SHA-256 from the standard library: on CPUs with SHA instructions (x86 SHA-NI, ARMv8) it hashed
# 1.6 GB/s here against 0.66 for BLAKE2b and 0.74 for MD5, so verifying is bound by the disk, and
# it needs no extra package. The manifest names the algorithm, so another one can follow.
CHECKSUM_ALGORITHM = "sha256"
_READ_CHUNK = 1 << 20

# The manifest checks its own content too: a flipped bit in a count or a digest would otherwise
# go unnoticed (or blame a healthy file).
SELF_CHECKSUM_KEY = "manifest_checksum"


@dataclass(frozen=True)
class SearchIndexInfo:
    """How a vector table is searched: ``flat`` (exact) or ``ivfpq`` with its parameters."""

    kind: str = "flat"
    nlist: int = 0
    nprobe: int = 0
    pq_m: int = 0
    pq_bits: int = 0
    # Candidates re-scored exactly with the stored vectors (approximate kinds only).
    refine: int = 0
    # Recall@10 against exact search, measured at build time on stored vectors of the other
    # table as queries (None when not measured; exact search is 1.0 by construction).
    recall_at_10: float | None = None
    recall_queries: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchIndexInfo:
        """Parse the manifest's description of a search index."""
        recall = data.get("recall_at_10")
        return cls(
            kind=str(data["kind"]),
            nlist=int(data.get("nlist", 0)),
            nprobe=int(data.get("nprobe", 0)),
            pq_m=int(data.get("pq_m", 0)),
            pq_bits=int(data.get("pq_bits", 0)),
            refine=int(data.get("refine", 0)),
            recall_at_10=None if recall is None else float(recall),
            recall_queries=int(data.get("recall_queries", 0)),
        )


@dataclass(frozen=True)
class Manifest:
    """Everything needed to decide whether a generation can serve with the configured model."""

    format_version: int
    generation: str
    model_id: str
    backend: str
    dimensions: int
    normalized: bool
    passage_input: int
    passage_prefix: str
    articles: int
    paragraphs: int
    sentences: int
    built_at: str
    # (relative path, size in bytes) of every other file of the generation: catches truncation.
    files: tuple[tuple[str, int], ...] = ()
    # (relative path, hex digest) of the same files, for `citebot index verify`; empty in
    # manifests written before checksums were recorded (those generations verify sizes only).
    checksums: tuple[tuple[str, str], ...] = ()
    checksum_algorithm: str = ""
    paragraph_search: SearchIndexInfo = SearchIndexInfo()
    sentence_search: SearchIndexInfo = SearchIndexInfo()
    # Version of the sentence splitter that made the stored sentence spans (a manifest written
    # before it was recorded reads as 1; 0 stands for a splitter passed in by the caller).
    sentence_splitter: int = SPLITTER_VERSION
    # How sentence vectors were made ("shared", "paragraph" or "alone", see ``index.span_pool``);
    # manifests written before it was recorded read as "alone". Informational: every mode's
    # vectors answer the same queries, and a build in another mode embeds the sentences anew
    # (their cache keys differ), so a config naming another mode serves this index as it is.
    sentence_vectors: str = "alone"

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to ``manifest.json``."""
        data = dataclasses.asdict(self)
        data["counts"] = {
            "articles": data.pop("articles"),
            "paragraphs": data.pop("paragraphs"),
            "sentences": data.pop("sentences"),
        }
        data["files"] = {name: size for name, size in self.files}
        # A separate key keeps `files` readable by citebots that predate checksums.
        del data["checksum_algorithm"]
        data["checksums"] = (
            {"algorithm": self.checksum_algorithm, "files": dict(self.checksums)}
            if self.checksums else {}
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Parse a manifest (raises KeyError/TypeError/ValueError when malformed)."""
        counts = data["counts"]
        checksums = dict(data.get("checksums") or {})
        return cls(
            format_version=int(data["format_version"]),
            generation=str(data["generation"]),
            model_id=str(data["model_id"]),
            backend=str(data["backend"]),
            dimensions=int(data["dimensions"]),
            normalized=bool(data["normalized"]),
            passage_input=int(data["passage_input"]),
            passage_prefix=str(data.get("passage_prefix", "")),
            articles=int(counts["articles"]),
            paragraphs=int(counts["paragraphs"]),
            sentences=int(counts["sentences"]),
            built_at=str(data["built_at"]),
            files=tuple((str(k), int(v)) for k, v in dict(data.get("files", {})).items()),
            paragraph_search=SearchIndexInfo.from_json(data["paragraph_search"]),
            sentence_search=SearchIndexInfo.from_json(data["sentence_search"]),
            sentence_splitter=int(data.get("sentence_splitter", 1)),
            sentence_vectors=str(data.get("sentence_vectors", "alone")),
            checksums=tuple((str(k), str(v)) for k, v in dict(checksums.get("files", {})).items()),
            checksum_algorithm=str(checksums.get("algorithm", "")),
        )


def read_manifest(directory: Path) -> Manifest:
    """Read a generation's manifest; a missing or unreadable one is ``IndexCorrupt``."""
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        # Checked before parsing the rest: another version's manifest may lack today's fields.
        version = int(data["format_version"])
        if version == FORMAT_VERSION:
            manifest = Manifest.from_json(data)
    except FileNotFoundError:
        raise IndexCorrupt(f"index file {path} is missing; {REBUILD_HINT}") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorrupt(f"index file {path} is corrupt ({exc}); {REBUILD_HINT}") from None
    if version != FORMAT_VERSION:
        raise IndexMismatch(
            f"index {directory} has format version {version} but this citebot "
            f"reads version {FORMAT_VERSION}; {REBUILD_HINT}"
        )
    return manifest


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` into ``directory`` (the caller fsyncs)."""
    path = directory / MANIFEST_NAME
    data = manifest.to_json()
    data[SELF_CHECKSUM_KEY] = _content_checksum(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    return path



def _content_checksum(data: dict[str, Any]) -> str:
    """Digest of a manifest's content (all but its own checksum), independent of formatting."""
    body = {k: v for k, v in data.items() if k != SELF_CHECKSUM_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.new(CHECKSUM_ALGORITHM, canonical.encode("ascii")).hexdigest()


def manifest_intact(directory: Path) -> bool | None:
    """Whether ``manifest.json`` matches its own checksum (None: written before it had one).

    Raises ``IndexCorrupt`` like ``read_manifest`` when it cannot be read or parsed.
    """
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"index file {path} is missing; {REBUILD_HINT}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexCorrupt(f"index file {path} is corrupt ({exc}); {REBUILD_HINT}") from None
    if not isinstance(data, dict):
        raise IndexCorrupt(f"index file {path} is corrupt; {REBUILD_HINT}")
    stored = data.get(SELF_CHECKSUM_KEY)
    if stored is None:
        return None
    return bool(stored == _content_checksum(data))


def file_checksum(
    path: Path, algorithm: str = CHECKSUM_ALGORITHM, progress: Callable[[int], None] | None = None
) -> str:
    """Hex digest of a file, read in 1 MiB chunks (``progress`` gets each chunk's size)."""
    digest = hashlib.new(algorithm)
    buffer = bytearray(_READ_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            size = handle.readinto(buffer)
            if not size:
                break
            digest.update(view[:size])
            if progress is not None:
                progress(size)
    return digest.hexdigest()


def stale_sentences(manifest: Manifest, where: Path) -> str | None:
    """A one-line notice when the index's sentences were split by an older splitter, else None."""
    if 0 < manifest.sentence_splitter < SPLITTER_VERSION:
        # Still served: old spans are verbatim slices of their paragraphs, only cut less well.
        return (
            f"index {where} split its sentences with splitter version {manifest.sentence_splitter} "
            f"but this citebot splits with version {SPLITTER_VERSION}; "
            "run `citebot index build` to re-split them (only changed sentences are embedded again)"
        )
    return None



def check_compatible(manifest: Manifest, embedder: Embedder, where: Path | str) -> None:
    """Raise ``IndexMismatch`` unless ``embedder`` embeds queries as the index was embedded."""
    built = f"model {manifest.model_id} ({manifest.dimensions} dims)"
    wanted = f"model {embedder.model_id} ({embedder.dimensions} dims)"
    if manifest.model_id != embedder.model_id or manifest.dimensions != embedder.dimensions:
        raise IndexMismatch(
            f"index {where} was built with {built} but the config asks for {wanted}; {REBUILD_HINT}"
        )
    embedder.use_index_backend(manifest.backend)  # "auto" embeds queries as the index was embedded
    if manifest.backend != embedder.backend:
        if embedder.requested_backend == "auto":  # settled earlier, e.g. on an older generation
            raise IndexMismatch(
                f"index {where} was embedded with backend {manifest.backend!r} but this process "
                f"already embeds with {embedder.backend!r}; restart it to serve the new index"
            )
        raise IndexMismatch(
            f"index {where} was embedded with backend {manifest.backend!r} but the config asks for "
            f"{embedder.backend!r}; {REBUILD_HINT} (or set [embedding] backend = \"auto\")"
        )
    if manifest.passage_input != embedder.passage_input_version:
        raise IndexMismatch(
            f"index {where} embedded paragraphs with input version {manifest.passage_input} but "
            f"this citebot uses version {embedder.passage_input_version}; {REBUILD_HINT}"
        )
    if manifest.passage_prefix != embedder.passage_prefix:
        raise IndexMismatch(
            f"index {where} was embedded with passage prefix {manifest.passage_prefix!r} but the "
            f"config asks for {embedder.passage_prefix!r}; {REBUILD_HINT}"
        )
