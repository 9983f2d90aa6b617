"""Completions: greedy or sampled continuations of prompts, as text that continues each prompt.

    texts = generate(policy, tok, prompts, max_new_tokens=16, cfg=train_cfg)                    # greedy
    samples = generate(policy, tok, prompts, 64, cfg, sampling=Sampling(n=10, temperature=1.0))  # 10 per prompt

Sampled completions are batch-invariant: each (prompt, sample) draws from its own seeded generator. Prompts go
through the chat template when there is one; completions end before a stop string; prompts cut to fit are counted.

torch is imported inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.ml.chat import Format, cut_at_stop
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
             stage: str = "generate", sampling: Sampling | None = None, keys: list[str] | None = None,
             stop: tuple[str, ...] = ()) -> list[str] | list[list[str]]:
    """Completion of each prompt as text that continues it (leading space kept): greedy by default; with
    `sampling`, a list of `sampling.n` completions per prompt. Sample j of a prompt is drawn from its own
    generator, seeded by (sampling.seed, the prompt's key, j), with the key = `keys[i]` or the prompt's text:
    the samples do not change with `cfg.eval_batch_size` or with the other prompts of the call.

    Prompts go through the chat template when the tokenizer has one (engine.ml.chat.Format, `chat_template: off`
    turns it off) and are cut from the left to leave `max_new_tokens` of room in `cfg.max_length`; the number cut
    is counted (`ctx.count("gen_prompts_truncated")`, a fact of the stage). Each completion ends at EOS, the
    template's end of turn, or before the first of the `stop` strings (the string itself is not kept). On a CUDA
    machine with vLLM (`generation_backend`, engine.ml.backends) the same prompt ids, stop strings and per-row
    seeds go to vLLM instead of transformers' generate."""
    import time

    from engine.ml.backends import resolve_backend

    if sampling is not None and sampling.temperature <= 0 and sampling.n != 1:
        raise ValueError(f"{sampling.n} samples per prompt need a temperature > 0")
    sampled = sampling is not None and sampling.temperature > 0
    n = 1 if sampling is None else sampling.n
    keys = list(prompts) if keys is None else list(keys)
    fmt = Format.of(tok, cfg)
    room = max(1, cfg.max_length - max_new_tokens)
    full = [fmt.prompt_ids(p) for p in prompts]
    rows = [ids[-room:] for ids in full]
    seeds = [[_row_seed(sampling.seed, keys[i], j) if sampled else 0 for j in range(n)] for i in range(len(rows))]
    started = time.monotonic()
    quantized = getattr(cfg, "quantization", "none") == "4bit"
    if resolve_backend(getattr(cfg, "generation_backend", "hf"), quantized) == "vllm":
        import torch

        from engine.ml.backends import vllm_generate

        spread = torch.cuda.device_count() if getattr(cfg, "device_map", "none") == "auto" else 1
        out, n_tokens = vllm_generate(model, tok, rows, max_new_tokens, sampling if sampled else None, seeds, stop,
                                      fmt.stop_token_ids(model), cfg.max_length, ctx, stage, spread)
    else:
        out, n_tokens = _hf_generate(model, tok, fmt, rows, max_new_tokens, sampling if sampled else None, seeds,
                                     stop, cfg.eval_batch_size, ctx, stage)
    out = [[cut_at_stop(t, stop) for t in group] for group in out]
    if ctx is not None and hasattr(ctx, "count"):
        ctx.count("gen_prompts_truncated", sum(len(a) > len(b) for a, b in zip(full, rows)))
        ctx.count("gen_completions", len(rows) * n)
        ctx.count("gen_new_tokens", n_tokens)
        ctx.count("gen_seconds", time.monotonic() - started)
    return [o[0] for o in out] if sampling is None else out


def _hf_generate(model: Any, tok: Any, fmt: Format, rows: list[list[int]], max_new_tokens: int,
                 sampling: Sampling | None, seeds: list[list[int]], stop: tuple[str, ...], batch_size: int, ctx: Any,
                 stage: str) -> tuple[list[list[str]], int]:
    """transformers' generate over batches of similar length, left-padded; greedy decoding of the per-row draws."""
    import torch
    from transformers import LogitsProcessorList

    n = len(seeds[0]) if seeds else 1
    out: list[list[str]] = [[] for _ in rows]
    device = next(model.parameters()).device
    model.eval()
    batches = length_batches([len(r) for r in rows], batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    eos = fmt.stop_token_ids(model)
    ends = set(eos)
    extra_stop = {"stop_strings": list(stop), "tokenizer": tok} if stop else {}
    n_tokens = 0
    with torch.no_grad():
        for b, idx in enumerate(batches):
            expanded = [i for i in idx for _ in range(n)]  # the n samples of a prompt sit next to each other
            ids, mask = pad_rows([rows[i] for i in expanded], pad_id, left=True)
            extra = dict(extra_stop)
            if sampling is not None:
                row_seeds = [s for i in idx for s in seeds[i]]
                extra["logits_processor"] = LogitsProcessorList([_row_sampler(sampling, row_seeds, device)])
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id, eos_token_id=eos, **extra)
            for k, i in enumerate(expanded):
                new = gen[k, ids.shape[1]:].tolist()
                new = new[:next((j + 1 for j, t in enumerate(new) if t in ends), len(new))]  # through its EOS
                while new and new[-1] == pad_id and pad_id not in ends:  # a row a stop string ended is padded
                    new.pop()
                n_tokens += len(new)
                out[i].append(_continuation(tok, fmt, rows[i], new))
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return out, n_tokens


def _continuation(tok: Any, fmt: Format, prompt: list[int], new: list[int]) -> str:
    """The generated text. Plain prompts: decoding prompt + completion together keeps the space between them
    (word-level tokenizers), so the completion is the whole minus the prompt; a chat turn is decoded alone."""
    if fmt.chat:
        return tok.decode(new, skip_special_tokens=True)
    head = tok.decode(prompt, skip_special_tokens=True)
    whole = tok.decode(prompt + new, skip_special_tokens=True)
    return whole[len(head):] if whole.startswith(head) else tok.decode(new, skip_special_tokens=True)
