"""The "shared" sentence-vector pass as a torch module (see ``index.span_pool``).

The torch backend runs it directly and the ONNX export traces it, so both backends compute the
same thing. Only encoder models built as embeddings + a list of self-attention layers (BERT and
its RoBERTa family, as Hugging Face writes them) can be split this way; ``can_share`` tells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from index.embed_onnx import read_json

# Model types whose Hugging Face modules are ``embeddings`` + ``encoder.layer[i](hidden, mask)``.
SPLITTABLE_TYPES = ("bert", "roberta", "xlm-roberta")


def can_share(transformer_dir: Path) -> bool:
    """Whether the model in ``transformer_dir`` can run the "shared" pass (from its config)."""
    config = read_json(transformer_dir / "config.json")
    layers = config.get("num_hidden_layers")
    return config.get("model_type") in SPLITTABLE_TYPES and isinstance(layers, int) and layers >= 2


def shared_count(layers: int) -> int:
    """How many lower layers the paragraph and its sentences share: half, rounded down.

    Measured on MiniLM-L6 with the torch backend (SQuAD v1.1 dev hybrid R@1, sentences alone
    0.8656): sharing 2, 3 or 4 of 6 layers gave 0.8658, 0.8664, 0.8655; all 6 ("paragraph")
    0.8613. Changing this changes every "shared" vector: it needs a new cache key in
    ``index.embed.sentence_cache_text`` and a new ``EXPORT_FORMAT_VERSION``.
    """
    return max(1, layers // 2)


def shared_module(network: Any) -> Any:
    """A module: (input_ids, token_type_ids, sentence_bias) -> (paragraph, sentence) tokens.

    One text, no padding. ``sentence_bias`` is ``span_pool.sentence_bias`` shaped (1, 1, T, T).
    """
    import torch

    layers = list(network.encoder.layer)
    lower = shared_count(len(layers))

    def run(layer: Any, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        out = layer(hidden, attention_mask=mask)
        return out[0] if isinstance(out, tuple) else out  # transformers 4 returns a tuple

    class SharedLayers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(
            self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, bias: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.network.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            for layer in layers[:lower]:
                hidden = run(layer, hidden, None)
            whole, apart = hidden, hidden
            for layer in layers[lower:]:
                whole = run(layer, whole, None)
                apart = run(layer, apart, bias)
            return whole, apart

    return SharedLayers().eval()
