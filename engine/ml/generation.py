"""Completions: greedy or sampled continuations of prompts, as text that continues each prompt.

    texts = generate(policy, tok, prompts, max_new_tokens=16, cfg=train_cfg)                    # greedy
    samples = generate(policy, tok, prompts, 64, cfg, sampling=Sampling(n=10, temperature=1.0))  # 10 per prompt

torch is imported inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.ml.pairs import length_batches, pad_rows


@dataclass(frozen=True)
class Sampling:
    """How completions are drawn: `n` per prompt; greedy when temperature is 0 (then n must be 1)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0

    def kwargs(self) -> dict[str, Any]:
        if self.temperature <= 0:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "num_return_sequences": self.n}


def generate(model: Any, tok: Any, prompts: list[str], max_new_tokens: int, cfg: Any, ctx: Any = None,
             stage: str = "generate", sampling: Sampling | None = None) -> list[str] | list[list[str]]:
    """Completion of each prompt as text that continues it (leading space kept): greedy by default; with
    `sampling`, a list of `sampling.n` completions per prompt (seeded, so a rerun draws the same ones)."""
    import torch

    if sampling is not None:
        if sampling.temperature <= 0 and sampling.n != 1:
            raise ValueError(f"{sampling.n} samples per prompt need a temperature > 0")
        torch.manual_seed(sampling.seed)
    n = 1 if sampling is None else sampling.n
    flags = {"do_sample": False} if sampling is None else sampling.kwargs()

    rows = [tok(p)["input_ids"][-max(1, cfg.max_length - max_new_tokens):] for p in prompts]
    out: list[Any] = [[] for _ in rows]
    device = next(model.parameters()).device
    model.eval()
    batches = length_batches([len(r) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        for b, idx in enumerate(batches):
            ids, mask = pad_rows([rows[i] for i in idx], pad_id, left=True)
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **flags,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id, eos_token_id=tok.eos_token_id)
            for k, i in enumerate(idx):
                head = tok.decode(rows[i], skip_special_tokens=True)
                for j in range(n):  # generate returns the n samples of a prompt next to each other
                    new = gen[k * n + j, ids.shape[1]:].tolist()
                    whole = tok.decode(rows[i] + new, skip_special_tokens=True)
                    # Decoding prompt + completion together keeps the space between them (word-level tokenizers).
                    out[i].append(whole[len(head):] if whole.startswith(head) else
                                  tok.decode(new, skip_special_tokens=True))
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return [o[0] for o in out] if sampling is None else out
