"""Sentence vectors pooled from their paragraph's forward pass.

A build needs a vector for every paragraph and for each of its sentences. Embedding each
sentence on its own ("alone") runs the model a second time over the same words, which doubles
a build's work. Two ways share that work, both pooling a sentence's vector as the mean of its
own tokens' embeddings (the pooling the model uses for whole texts, applied to a span):

- "paragraph": the paragraph is run once and its sentences are pooled from that pass. About
  three times as fast as "alone" but it ranks a little worse: a sentence read in its whole
  paragraph's context shares too much with the paragraph's own vector, so the two signals add
  less to each other (SQuAD v1.1 dev R@1 0.8658 -> 0.8619).
- "shared": the lower half of the model's layers runs once over the paragraph;
  the upper half runs twice, once as usual (the paragraph's vector, unchanged) and once with an
  attention mask that lets each sentence's tokens see only their own sentence and the special
  tokens (``sentence_bias``). Measured: paragraphs rank as with "alone" (R@1 0.8658 both
  ways with int8) for about 1.5 paragraph passes instead of two; the loss of "paragraph"
  comes from its top layers mixing sentences. But a pooled sentence vector is not the vector
  of the sentence alone (cosine 0.92 on average; 0.95 even when the mask starts at the first
  layer, as positions and pooling without [CLS]/[SEP] differ too), so sentence cosines shift,
  and the answer selection and abstention, fitted on sentences embedded alone, answer a few
  natural questions differently (README, "Performance"); hence not the default.

A sentence the model's window cut (a paragraph longer than the max sequence length) has no
contextual tokens, or only some: it is embedded alone instead, so every vector reads the whole
sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# "shared" and "paragraph" pool spans of the paragraph's pass (see above); "alone" embeds each
# sentence as a text of its own (the only way for models that do not mean-pool their tokens).
SENTENCE_VECTOR_MODES = ("shared", "paragraph", "alone")
# The attention score of a masked pair (what Hugging Face models add for padding).
MASKED = float(np.finfo(np.float32).min)

Span = tuple[int, int]


def _text_tokens(
    offsets: Sequence[tuple[int, int]], special: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each token's first and end character, and whether it is text (not special, not empty)."""
    bounds = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = bounds[:, 0], bounds[:, 1]
    return starts, ends, ~np.asarray(special, dtype=bool).reshape(-1) & (ends > starts)


def span_vectors(
    hidden: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    spans: Sequence[Span],
) -> np.ndarray:
    """Normalized mean of each span's token embeddings; a NaN row where the window cut the span.

    ``hidden`` holds one row per token (special tokens included), ``offsets`` the characters of
    the input each token came from, ``special`` 1 for special tokens; ``spans`` are character
    ranges of the input.
    """
    out = np.full((len(spans), hidden.shape[1]), np.nan, dtype=np.float32)
    if not len(spans):
        return out
    starts, ends, text_tokens = _text_tokens(offsets, special)
    if not text_tokens.any():
        return out
    # The window read up to here; a span ending later lost some words to truncation.
    window_end = int(ends[text_tokens].max())
    for row, (start, end) in enumerate(spans):
        if end > window_end:
            continue
        inside = text_tokens & (starts < end) & (ends > start)
        if not inside.any():
            continue
        pooled = hidden[inside].astype(np.float32).mean(axis=0)
        out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
    return out


def sentence_groups(
    offsets: Sequence[tuple[int, int]], special: Sequence[int], spans: Sequence[Span]
) -> np.ndarray:
    """Which span each token belongs to (as ``span_vectors`` pools them); -1: no span."""
    starts, ends, text_tokens = _text_tokens(offsets, special)
    groups = np.full(len(starts), -1, dtype=np.int64)
    for row, (start, end) in enumerate(spans):
        inside = text_tokens & (starts < end) & (ends > start) & (groups < 0)
        groups[inside] = row
    return groups


def sentence_bias(
    offsets: Sequence[tuple[int, int]], special: Sequence[int], spans: Sequence[Span]
) -> np.ndarray:
    """The additive attention mask (tokens x tokens) that keeps each sentence to itself.

    A sentence's tokens attend to their own sentence and the special tokens; the special tokens
    attend to everything (they carry the paragraph's gist), and tokens outside every span
    (text the splitter left between sentences) to each other and the special tokens.
    """
    groups = sentence_groups(offsets, special, spans)
    marks = np.asarray(special, dtype=bool).reshape(-1)
    allowed = groups[:, None] == groups[None, :]
    allowed |= marks[None, :] | marks[:, None]
    return np.where(allowed, np.float32(0.0), np.float32(MASKED)).astype(np.float32)


def lowercased(
    texts: Sequence[str], spans: Sequence[Sequence[Span]]
) -> tuple[list[str], list[Sequence[Span]]]:
    """The texts lower-cased for a model that reads them so, and spans that still fit them."""
    lowered = [t.lower() for t in texts]
    # Lower-casing can change a text's length (e.g. "İ") and so every offset after it: those
    # texts' spans become empty (cut), so their sentences are embedded alone.
    fitted = [s if len(low) == len(t) else [(0, 0)] * len(s)
              for s, low, t in zip(spans, lowered, texts, strict=True)]
    return lowered, fitted


def cut_rows(vectors: np.ndarray) -> list[int]:
    """Rows of ``span_vectors``' result that the window cut (to embed alone)."""
    return [int(i) for i in np.flatnonzero(np.isnan(vectors[:, 0]))] if len(vectors) else []
