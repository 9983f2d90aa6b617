"""Completions: greedy or sampled continuations of prompts, as text that continues each prompt.

    texts = generate(policy, tok, prompts, max_new_tokens=16, cfg=train_cfg)                    # greedy
    samples = generate(policy, tok, prompts, 64, cfg, sampling=Sampling(n=10, temperature=1.0))  # 10 per prompt

Sampled completions are batch-invariant: each (prompt, sample) draws from its own seeded generator.

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


def _row_seed(seed: int, key: str, j: int) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}\x1f{key}\x1f{j}".encode()).digest()[:8], "little") >> 1


def _row_sampler(sampling: Sampling, seeds: list[int], device: Any) -> Any:
    """A logits processor that draws each row's next token with that row's own generator (temperature, then
    top-k and top-p as transformers applies them) and leaves only the drawn token possible, so greedy decoding
    returns the draw. A row's samples depend on its seed, never on which other rows share its batch."""
    import torch
    from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    warpers = [TemperatureLogitsWarper(sampling.temperature)]
    if sampling.top_k > 0:
        warpers.append(TopKLogitsWarper(sampling.top_k))
    if sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(sampling.top_p))
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    class RowSampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for warp in warpers:
                scores = warp(input_ids, scores)
            probs = scores.float().softmax(-1)
            picks = torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(generators)])
            return torch.full_like(scores, float("-inf")).scatter_(1, picks[:, None], 0.0)

    return RowSampler()


def generate(model: Any, tok: Any, prompts: list[str], max_new_tokens: int, cfg: Any, ctx: Any = None,
             stage: str = "generate", sampling: Sampling | None = None, keys: list[str] | None = None
             ) -> list[str] | list[list[str]]:
    """Completion of each prompt as text that continues it (leading space kept): greedy by default; with
    `sampling`, a list of `sampling.n` completions per prompt. Sample j of a prompt is drawn from its own
    generator, seeded by (sampling.seed, the prompt's key, j), with the key = `keys[i]` or the prompt's text:
    the samples do not change with `cfg.eval_batch_size` or with the other prompts of the call."""
    import torch
    from transformers import LogitsProcessorList

    if sampling is not None and sampling.temperature <= 0 and sampling.n != 1:
        raise ValueError(f"{sampling.n} samples per prompt need a temperature > 0")
    sampled = sampling is not None and sampling.temperature > 0
    n = 1 if sampling is None else sampling.n
    keys = list(prompts) if keys is None else list(keys)

    rows = [tok(p)["input_ids"][-max(1, cfg.max_length - max_new_tokens):] for p in prompts]
    out: list[Any] = [[] for _ in rows]
    device = next(model.parameters()).device
    model.eval()
    batches = length_batches([len(r) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        for b, idx in enumerate(batches):
            expanded = [i for i in idx for _ in range(n)]  # the n samples of a prompt sit next to each other
            ids, mask = pad_rows([rows[i] for i in expanded], pad_id, left=True)
            extra = {}
            if sampled:
                seeds = [_row_seed(sampling.seed, keys[i], j) for i in idx for j in range(n)]
                extra["logits_processor"] = LogitsProcessorList([_row_sampler(sampling, seeds, device)])
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id, eos_token_id=tok.eos_token_id,
                                 **extra)
            for k, i in enumerate(expanded):
                head = tok.decode(rows[i], skip_special_tokens=True)
                new = gen[k, ids.shape[1]:].tolist()
                whole = tok.decode(rows[i] + new, skip_special_tokens=True)
                # Decoding prompt + completion together keeps the space between them (word-level tokenizers).
                out[i].append(whole[len(head):] if whole.startswith(head) else
                              tok.decode(new, skip_special_tokens=True))
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return [o[0] for o in out] if sampling is None else out
