"""Optional second stage: a cross-encoder reads the question with each top paragraph."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.settings import RerankSettings
from index import CitebotError, Hit

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


class RerankError(CitebotError):
    """The configured cross-encoder cannot be loaded; the message is one actionable line."""


class Reranker:
    """Re-scores the top hits: fused score + ``weight`` × cross-encoder score."""

    def __init__(self, settings: RerankSettings, device: str = "cpu") -> None:
        self.settings = settings
        self.device = device
        self._model: CrossEncoder | None = None
        self._load_lock = threading.Lock()
        # Fast tokenizers are not safe to call from several threads at once.
        self._predict_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: RerankSettings, device: str = "cpu") -> Reranker | None:
        """A reranker for ``settings``, or None when reranking is off (no model configured)."""
        return cls(settings, device) if settings.model.strip() else None

    @property
    def loaded(self) -> bool:
        """Whether the cross-encoder has been loaded (it loads on the first rerank)."""
        return self._model is not None

    def model(self) -> CrossEncoder:
        """The cross-encoder, loaded on first use (sentence-transformers is imported lazily)."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    from sentence_transformers import CrossEncoder

                    try:
                        self._model = CrossEncoder(self.settings.model, device=self.device)
                    except Exception as exc:  # the library raises many kinds for a bad name
                        raise RerankError(
                            f"cannot load the rerank model {self.settings.model!r} ({exc}); "
                            "set [rerank] model to a cross-encoder folder or name, or leave it "
                            "empty"
                        ) from None
        return self._model

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """The cross-encoder's score of each (query, text) pair."""
        if not texts:
            return []
        model = self.model()
        with self._predict_lock:
            raw: Any = model.predict([(query, t) for t in texts], show_progress_bar=False)
        return [float(s) for s in (raw.tolist() if hasattr(raw, "tolist") else raw)]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits with the top ``top_k`` re-scored and re-sorted; the rest follow unchanged."""
        top = list(hits[: max(0, self.settings.top_k)])
        rest = list(hits[len(top) :])
        if not top:
            return list(hits)
        scores = self.scores(query, [h.ref.text for h in top])
        rescored = [
            dataclasses.replace(
                h,
                score=h.score + self.settings.weight * s,
                signals=(*h.signals, ("rerank", s)),
            )
            for h, s in zip(top, scores, strict=True)
        ]
        rescored.sort(key=lambda h: -h.score)
        return rescored + rest
