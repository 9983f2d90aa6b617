"""The training loop against a bare torch loop: what Trainer and the project's loss plumbing cost per step.

    .venv/bin/python benchmarks/bench_loop.py                 # world-xs, world-l and a ~100M-parameter GPT-2
    .venv/bin/python benchmarks/bench_loop.py --models world-l --pairs 4

For each model, in pairs (bare then project, project then bare, ...) on the same data, batch, optimizer and schedule:
- bare: a hand-written loop (this file only): padded batches in a fixed shuffled order, forward, the soft-label
  cross-entropy on logits pooled at the last real token, backward, gradient clipping at 1.0, AdamW, the same
  lr schedule;
- project: `engine.ml.classifier.fit_and_predict` with nothing to label (Trainer, the logical-batch loss,
  the run-context callback), timed by Trainer's own `train_runtime`, so model loading and tokenization are
  outside both figures.
Prints steps/s for each (the best loop of each side, as timeit reports: another process on the machine only ever
adds time), the ratio of the two (project / bare time per step), the framework's cost per step in ms, and the
spread: the per-pair ratios (a pair runs back to back) and their median. The world models' loops take well under a
second, and on a shared machine one such loop can run 30% slow, so they run 10 pairs; the 124M model runs 4.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def gpt2_100m(folder: Path, vocab_from: str) -> str:
    """A GPT-2-config model of ~100M parameters (12 x 768, the world tokenizer's vocabulary), randomly initialised."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(vocab_from)
    cfg = GPT2Config(vocab_size=max(len(tok), 50257), n_positions=128, n_embd=768, n_layer=12, n_head=12)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def bare_loop(spec, cfg, lr: float, texts: list[str], p1, seed: int, max_steps: int | None) -> tuple[float, int]:
    """Seconds and steps of a hand-written loop doing what the project's trainer does."""
    import torch
    import torch.nn.functional as F
    from transformers import get_scheduler, set_seed

    from engine.ml.loading import load_classifier
    from engine.ml.scoring import pooled_logits, tokenize

    set_seed(seed)
    model, tok = load_classifier(spec, cfg)
    rows, _ = tokenize(tok, texts, cfg.max_length)
    labels = torch.tensor(p1, dtype=torch.float32)
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs if max_steps is None else max_steps
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    other = [p for n, p in model.named_parameters() if p.ndim < 2]
    # fused, as Trainer's default optimizer (adamw_torch_fused): on a 124M model the unfused step alone is ~2x slower
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}],
                            lr=lr, fused=True)
    sched = get_scheduler(cfg.lr_schedule, opt, int(cfg.warmup_frac * total), total)
    pad = tok.pad_token_id
    gen = torch.Generator().manual_seed(seed)
    model.train()
    step, started = 0, time.perf_counter()
    while step < total:
        for b in torch.randperm(len(rows), generator=gen).split(cfg.batch_size):
            if step >= total:
                break
            width = max(len(rows[i]["input_ids"]) for i in b.tolist())
            ids = torch.full((len(b), width), pad, dtype=torch.long)
            mask = torch.zeros((len(b), width), dtype=torch.long)
            for j, i in enumerate(b.tolist()):
                n = len(rows[i]["input_ids"])
                ids[j, :n] = torch.tensor(rows[i]["input_ids"])
                mask[j, :n] = 1
            logits = pooled_logits(model, ids, mask)
            y = labels[b]
            loss = F.cross_entropy(logits, torch.stack([1 - y, y], dim=1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
    return time.perf_counter() - started, step


def project_loop(spec, cfg, lr: float, texts: list[str], p1, seed: int) -> tuple[float, int]:
    from engine.ml.classifier import fit_and_predict
    from engine.ml.losses import LossSpec
    from tests.helpers import NullContext

    _, facts = fit_and_predict(spec, cfg, lr, texts, p1, LossSpec(), {}, seed, NullContext(), "bench", "bench")
    return facts["train_seconds"], math.ceil(len(texts) / cfg.batch_size) * cfg.epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="world-xs,world-l,gpt2-100m")
    ap.add_argument("--pairs", type=int, default=None, help="pairs per model (default: 10, 4 for the 124M model; even, so each order runs as often)")
    ap.add_argument("--n", type=int, default=480, help="training rows (world models)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from engine.config import TrainConfig
    from engine.models import resolve_model
    from engine.registry import TASKS

    torch.set_num_threads(int(os.environ.get("W2S_THREADS", "1")))
    train = TASKS.get("world_size")().load()["train"]
    tmp = Path(tempfile.mkdtemp(prefix="w2s-bench-loop-"))
    print(f"bench_loop: bare torch loop vs the project's trainer, {torch.get_num_threads()} torch thread(s)")
    print(f"{'model':<11} {'params':>7} {'rows x epochs':>13} {'bare steps/s':>13} {'project steps/s':>16} "
          f"{'ratio':>6} {'cost/step':>10}   spread")
    for name in args.models.split(","):
        big = name == "gpt2-100m"
        source = gpt2_100m(tmp / name, resolve_model("world-l").source) if big else name
        spec = resolve_model(source)
        n, epochs, bs = (128, 1, 8) if big else (args.n, 4, 32)  # 16 and 60 steps per loop
        cfg = TrainConfig(epochs=epochs, batch_size=bs, max_length=64)
        texts = [e.text for e in train[:n]]
        p1 = np.array([float(e.label) for e in train[:n]])
        bare, ours = [], []
        for pair in range(args.pairs or (4 if big else 10)):
            # Which side runs first alternates: the second loop of a pair finds the first one's freed memory
            # (on the 124M model, ~2 GB of gradients and optimizer state it need not fault in again).
            for side in (("bare", "project") if pair % 2 == 0 else ("project", "bare")):
                if side == "bare":
                    seconds, steps = bare_loop(spec, cfg, 1e-4, texts, p1, 0, None)
                    bare.append(seconds / steps)
                else:
                    seconds, steps = project_loop(spec, cfg, 1e-4, texts, p1, 0)
                    ours.append(seconds / steps)
        from transformers import AutoConfig

        params = AutoConfig.from_pretrained(spec.source)
        count = sum(p.numel() for p in __import__("transformers").AutoModelForSequenceClassification.from_config(
            params).parameters())
        b, o = min(bare), min(ours)
        ratios = sorted(mine / theirs for mine, theirs in zip(ours, bare))
        print(f"{name:<11} {count / 1e6:>6.1f}M {f'{n} x {epochs}':>13} {1 / b:>13.1f} {1 / o:>16.1f} {o / b:>6.2f} "
              f"{(o - b) * 1000:>8.1f}ms   pairs {ratios[0]:.2f}-{ratios[-1]:.2f}, median "
              f"{statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
