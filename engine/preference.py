"""Preference pairs and how a model scores them: tokenisation as trl cuts it, log-probs, rewards, generation.

    pairs = Pairs.of(exp.examples(ids))                          # prompt, chosen, rejected per example id
    logp = pair_margins(policy, tok, pairs, train_cfg)           # summed log-probs and token counts per side
    z = margin(logp, mean=False)                                 # chosen-minus-rejected (DPO); mean=True: SimPO
    r_chosen, r_rejected = reward_scores(rm, tok, pairs, train_cfg)        # one scalar reward per response
    texts = generate(policy, tok, prompts, max_new_tokens=16, cfg=train_cfg)          # greedy completions

Scoring mirrors the trainers' tokenisation (engine.trainers), so a margin measured here is the one the loss
saw: the prompt is tokenised alone and with the completion plus EOS, and the completion starts where the two
diverge (trl's DPO); SimPO's trainer puts a BOS before the prompt, so its policies are scored with `bos=True`.
Long prompts are cut from the left (`fit_prompts`) before any trainer or scorer sees them. torch is imported
inside functions: importing this module stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass
class Pairs:
    """Preference pairs, aligned by position: `chosen[i]` is preferred to `rejected[i]` after `prompts[i]`."""

    ids: list[str]
    prompts: list[str]
    chosen: list[str]
    rejected: list[str]

    @classmethod
    def of(cls, examples: list[Any]) -> Pairs:
        """From preference examples (text = prompt, meta chosen/rejected)."""
        return cls([e.id for e in examples], [e.text for e in examples], [e.meta["chosen"] for e in examples],
                   [e.meta["rejected"] for e in examples])

    def oriented(self, prefer_chosen: np.ndarray) -> Pairs:
        """The same pairs with chosen and rejected swapped where `prefer_chosen` is False (a labeller's choice)."""
        keep = np.asarray(prefer_chosen, dtype=bool)
        return Pairs(list(self.ids), list(self.prompts), [c if k else r for c, r, k in zip(self.chosen, self.rejected, keep)],
                     [r if k else c for c, r, k in zip(self.chosen, self.rejected, keep)])

    def subset(self, mask: np.ndarray) -> Pairs:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        return Pairs(*([getattr(self, f)[i] for i in idx] for f in ("ids", "prompts", "chosen", "rejected")))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class PolicyLoss:
    """A preference loss on a policy. dpo: -log s(beta * (Δ log-ratio)); dpo_norm: the same on per-token
    log-ratios (length-normalised DPO, Geng et al. 2025); simpo: -log s(beta * Δ mean log-prob - gamma),
    no reference model (Meng et al. 2024); orpo: NLL on the chosen side plus beta * the odds-ratio term, no
    reference model (Hong et al. 2024)."""

    kind: Literal["dpo", "dpo_norm", "simpo", "orpo"] = "dpo"
    beta: float = 0.1
    gamma: float = 1.0

    @property
    def mean(self) -> bool:
        """Whether the loss compares per-token (mean) rather than summed log-probs."""
        return self.kind in ("dpo_norm", "simpo", "orpo")

    @property
    def bos(self) -> bool:
        """Whether the trainer puts a BOS token before the prompt (trl's CPOTrainer and ORPOTrainer do)."""
        return self.kind in ("simpo", "orpo")


# ---------------------------------------------------------------------------------------------- tokenisation
def _ids(tok: Any, text: str, bos: bool) -> list[int]:
    if not bos:
        return tok(text)["input_ids"]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return ids if tok.bos_token_id is None or (ids and ids[0] == tok.bos_token_id) else [tok.bos_token_id, *ids]


def encode_completion(tok: Any, prompt: str, completion: str, bos: bool = False) -> tuple[list[int], int]:
    """Token ids of prompt + completion + EOS and the index where the completion starts (as trl's trainers cut)."""
    prompt_ids = _ids(tok, prompt, bos)
    full = _ids(tok, prompt + completion, bos)
    if tok.eos_token_id is not None and (not full or full[-1] != tok.eos_token_id):
        full = full + [tok.eos_token_id]
    start = 0
    while start < min(len(prompt_ids), len(full)) and prompt_ids[start] == full[start]:
        start += 1
    return full, start


def fit_prompts(tok: Any, prompts: list[str], responses: list[list[str]], max_length: int) -> tuple[list[str], int]:
    """Cut each prompt from the left so that prompt + its longest response + EOS fits in `max_length` tokens
    (the end of a conversation carries the turn being judged). Returns the prompts and how many were cut."""
    out, cut = [], 0
    for i, prompt in enumerate(prompts):
        longest = max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in responses[i]) if responses[i] else 0
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        room = max(1, max_length - longest - 2)  # EOS and a possible BOS
        if len(ids) > room:
            out.append(tok.decode(ids[-room:]))
            cut += 1
        else:
            out.append(prompt)
    return out, cut


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


def _pad(rows: list[list[int]], pad_id: int, left: bool = False) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        sl = slice(width - len(r), width) if left else slice(0, len(r))
        ids[k, sl] = torch.tensor(r, dtype=torch.long)
        mask[k, sl] = 1
    return ids, mask


# ---------------------------------------------------------------------------------------------- scoring
def completion_logps(model: Any, tok: Any, prompts: list[str], completions: list[str], cfg: Any, bos: bool = False,
                     ctx: Any = None, stage: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """Summed log-probability of each completion (with its EOS) after its prompt, and its number of tokens.
    A sequence longer than cfg.max_length loses its first tokens (`fit_prompts` makes that rare)."""
    import torch

    rows = []
    for prompt, completion in zip(prompts, completions):
        full, start = encode_completion(tok, prompt, completion, bos)
        drop = max(0, len(full) - cfg.max_length)
        rows.append((full[drop:], max(1, start - drop)))  # the first token has no context: never scored
    total, count = np.zeros(len(rows)), np.zeros(len(rows))
    device = next(model.parameters()).device
    model.eval()
    batches = _batches([len(r[0]) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.no_grad():
        for b, idx in enumerate(batches):
            ids, mask = _pad([rows[i][0] for i in idx], pad_id)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device))[..., 0]
            positions = torch.arange(1, ids.shape[1])[None, :]
            starts = torch.tensor([rows[i][1] for i in idx])[:, None]
            scored = ((positions >= starts) & (mask[:, 1:] == 1)).to(device)
            total[idx] = (logp * scored).sum(-1).cpu().numpy()
            count[idx] = scored.sum(-1).cpu().numpy()
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return total, count


def pair_margins(model: Any, tok: Any, pairs: Pairs, cfg: Any, bos: bool = False, ctx: Any = None,
                 stage: str = "score") -> dict[str, np.ndarray]:
    """Log-probs of both sides of every pair: logp_/n_ chosen and rejected (summed log-prob, token count)."""
    both_c, n_c = completion_logps(model, tok, pairs.prompts + pairs.prompts, pairs.chosen + pairs.rejected, cfg,
                                   bos, ctx, stage)
    k = len(pairs)
    return {"logp_chosen": both_c[:k], "logp_rejected": both_c[k:], "n_chosen": n_c[:k], "n_rejected": n_c[k:]}


def margin(logps: dict[str, np.ndarray], mean: bool) -> np.ndarray:
    """Chosen-minus-rejected log-prob: summed (DPO) or per token (SimPO, length-normalised DPO)."""
    if mean:
        return logps["logp_chosen"] / np.maximum(logps["n_chosen"], 1) - logps["logp_rejected"] / np.maximum(
            logps["n_rejected"], 1)
    return logps["logp_chosen"] - logps["logp_rejected"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -60, 60)))


def reward_scores(model: Any, tok: Any, pairs: Pairs, cfg: Any, ctx: Any = None, stage: str = "score"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A reward model's scalar reward of prompt + chosen and prompt + rejected (with EOS, as RewardTrainer
    formats them), pooled at the last real token."""
    texts = pairs.prompts + pairs.prompts
    rewards = score_texts(model, tok, texts, pairs.chosen + pairs.rejected, cfg, ctx, stage)
    return rewards[: len(pairs)], rewards[len(pairs):]


def score_texts(model: Any, tok: Any, prompts: list[str], responses: list[str], cfg: Any, ctx: Any = None,
                stage: str = "score") -> np.ndarray:
    import torch

    from engine.models import pooled_logits

    rows = [_reward_ids(tok, p, r, cfg.max_length) for p, r in zip(prompts, responses)]
    out = np.zeros(len(rows))
    device = next(model.parameters()).device
    model.eval()
    batches = _batches([len(r) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.no_grad():
        for b, idx in enumerate(batches):
            ids, mask = _pad([rows[i] for i in idx], pad_id)
            logits = pooled_logits(model, ids.to(device), mask.to(device)).float()
            # A one-output head is the reward; a two-class head (a classifier used as a judge) scores logit 1 - logit 0.
            reward = logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]
            out[idx] = reward.cpu().numpy()
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return out


def _reward_ids(tok: Any, prompt: str, response: str, max_length: int) -> list[int]:
    ids = tok(prompt + response)["input_ids"]
    if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
        ids = ids + [tok.eos_token_id]
    return ids[-max_length:]


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
    batches = _batches([len(r) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        for b, idx in enumerate(batches):
            expanded = [i for i in idx for _ in range(n)]  # the n samples of a prompt sit next to each other
            ids, mask = _pad([rows[i] for i in expanded], pad_id, left=True)
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
