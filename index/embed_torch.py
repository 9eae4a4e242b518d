"""The torch backend: a sentence-transformers model, imported and loaded on first use."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import CitebotIndexError, first_line
from index.span_pool import Span, lowercased, sentence_bias, span_vectors

if TYPE_CHECKING:  # torch and sentence-transformers take seconds to import: only when embedding
    from sentence_transformers import SentenceTransformer


class TorchLoadError(CitebotIndexError):
    """The sentence-transformers model cannot be imported or loaded (one line, for the user)."""


class TorchEncoder:
    """Embeds texts with ``SentenceTransformer.encode`` (normalized float32 rows)."""

    def __init__(
        self, resolved: str, *, device: str = "cpu", batch_size: int = 32, threads: int = 0,
        offline: bool = True,
    ) -> None:
        self.resolved = resolved
        self.device = device
        self.batch_size = max(1, batch_size)
        self.model = self._load(offline, threads)
        self._shared: Any = None
        # Hugging Face fast tokenizers are not safe to call from several threads at once.
        self.lock = threading.Lock()

    def _load(self, offline: bool, threads: int) -> SentenceTransformer:
        if offline:
            # Everything is on disk: never let a load wait on (or fail for) the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise TorchLoadError(f"cannot import sentence-transformers: {exc}") from None
        if threads > 0:
            torch.set_num_threads(threads)
        transformers_logging.disable_progress_bar()
        try:
            return SentenceTransformer(self.resolved, device=self.device, backend="torch")
        except Exception as exc:  # the library raises many types; the user needs one line
            first = first_line(exc)
            raise TorchLoadError(first) from None

    @property
    def max_tokens(self) -> int:
        """Most tokens of text the model reads (max sequence length minus special tokens)."""
        special = len(self.model.tokenizer("", add_special_tokens=True)["input_ids"])
        length = self.model.max_seq_length
        if length is None:  # sentence-transformers types it optional; a loaded model has one
            raise TorchLoadError("the embedding model declares no maximum sequence length")
        return int(length) - special

    def count_tokens(self, text: str) -> int:
        """Number of model tokens of ``text`` (without special tokens)."""
        with self.lock:
            encoded = self.model.tokenizer(text, add_special_tokens=False, truncation=False)
        ids = encoded["input_ids"]
        return len(ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; rows are L2-normalized float32 in input order."""
        with self.lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], mode: str = "paragraph"
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's vector and its spans' vectors (NaN rows: spans the window cut).

        ``mode`` is "paragraph" or "shared" (see ``index.span_pool``).
        """
        if not texts:
            return []
        if getattr(self.model[0], "do_lower_case", False):  # the model reads lower-cased text
            texts, spans = lowercased(texts, spans)
        if mode == "shared":
            with self.lock:
                return [self._shared_pass(t, s) for t, s in zip(texts, spans, strict=True)]
        with self.lock:
            tokens = self.model.encode(
                list(texts), batch_size=self.batch_size, show_progress_bar=False,
                output_value="token_embeddings", convert_to_numpy=False,
            )
            encoded = self.model.tokenizer(
                list(texts), return_offsets_mapping=True, return_special_tokens_mask=True,
                truncation=True, max_length=self.model.max_seq_length,
            )
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for i, token_rows in enumerate(tokens):
            hidden = np.asarray(token_rows.float().cpu().numpy(), dtype=np.float32)
            out.append((_mean_unit(hidden), span_vectors(
                hidden, encoded["offset_mapping"][i][: len(hidden)],
                encoded["special_tokens_mask"][i][: len(hidden)], spans[i],
            )))
        return out

    def _shared_pass(self, text: str, spans: Sequence[Span]) -> tuple[np.ndarray, np.ndarray]:
        """One text through ``index.shared_layers`` (the caller holds the lock)."""
        import torch

        if self._shared is None:
            from index.shared_layers import shared_module

            self._shared = shared_module(self.model[0].auto_model)
        encoded = self.model.tokenizer(
            text, return_offsets_mapping=True, return_special_tokens_mask=True,
            truncation=True, max_length=self.model.max_seq_length, return_tensors="pt",
        )
        offsets = encoded["offset_mapping"][0].tolist()
        special = encoded["special_tokens_mask"][0].tolist()
        ids = encoded["input_ids"].to(self.device)
        bias = torch.from_numpy(sentence_bias(offsets, special, spans))[None, None]
        with torch.inference_mode():
            whole, apart = self._shared(
                ids, torch.zeros_like(ids), bias.to(self.device)
            )
        hidden = whole[0].float().cpu().numpy()
        return _mean_unit(hidden), span_vectors(
            apart[0].float().cpu().numpy(), offsets, special, spans
        )


def _mean_unit(hidden: np.ndarray) -> np.ndarray:
    pooled = hidden.mean(axis=0)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)
