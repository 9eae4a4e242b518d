"""What a sentence-transformers model folder on disk says about the model it holds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# Files of a sentence-transformers folder that define its architecture and pooling; their contents
# (not paths or mtimes) make up the model id, so two machines with the same model agree.
FINGERPRINT_FILES = (
    "modules.json",
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def local_folder(resolved: str) -> Path | None:
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


def folder_dimensions(folder: Path) -> int | None:
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


def folder_fingerprint(folder: Path) -> str:
    """A short hash of the files that define the model (weights by size)."""
    digest = hashlib.sha256()
    for name in FINGERPRINT_FILES:
        file = folder / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    for name in WEIGHT_FILES:
        file = folder / name
        if file.is_file():
            # The size stands in for the weights' contents: hashing hundreds of MB at every start
            # would cost more than the rest of opening an index.
            digest.update(f"{name}:{file.stat().st_size}".encode())
    return digest.hexdigest()[:12]



def transformer_dir(folder: Path) -> Path:
    """The folder of the first (Transformer) module, where its tokenizer files live."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        return folder / str(modules[0].get("path", ""))
    except (OSError, ValueError, IndexError, AttributeError, TypeError):
        return folder
