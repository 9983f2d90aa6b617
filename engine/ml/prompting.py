"""Classification by prompting a causal LM: the log-probability of each label word after a (few-shot) prompt.

    prompts = few_shot_prompts(texts, demos, "{text} {label}", "\\n")    # demos: per query [(text, label word), ...]
    logp = label_logprobs(model, tok, prompts, [" small", " big"], cfg)  # queries x label words, summed log-probs
    p1 = label_probs(logp)                                               # p(class 1): softmax over the two words

A label word's score is the summed log-probability of its tokens right after the prompt (no EOS), as Burns et al.
score few-shot prompting (§5); p(class 1) is the softmax of the two scores. A prompt longer than `max_length` loses
its first tokens (the query and its label sit at the end). torch is imported inside functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.ml.scoring import row_logps


def few_shot_prompts(texts: list[str], demos: list[list[tuple[str, str]]], template: str, separator: str) -> list[str]:
    """Each query's prompt: its demonstrations as `template` (fields {text} and {label}) joined by `separator`, then
    the query itself (the template's part before {label}, with trailing spaces cut: the label word brings its own)."""
    head = template.split("{label}")[0]
    out = []
    for text, shots in zip(texts, demos):
        parts = [template.format(text=t, label=w.strip()) for t, w in shots]
        parts.append(head.format(text=text).rstrip())
        out.append(separator.join(parts))
    return out


def _encode(tok: Any, prompt: str, word: str, max_length: int) -> tuple[list[int], int]:
    """Ids of prompt + word and where the word starts (the tokens the two tokenisations share end the prompt)."""
    prompt_ids = tok(prompt)["input_ids"]
    full = tok(prompt + word)["input_ids"]
    start = 0
    while start < min(len(prompt_ids), len(full) - 1) and prompt_ids[start] == full[start]:
        start += 1
    drop = max(0, len(full) - max_length)
    return full[drop:], max(1, start - drop)


def label_logprobs(model: Any, tok: Any, prompts: list[str], words: list[str], cfg: Any, ctx: Any = None,
                   stage: str = "prompting") -> np.ndarray:
    """Summed log-probability of each label word's tokens after each prompt: an array prompts x words."""
    rows = [_encode(tok, p, w, cfg.max_length) for p in prompts for w in words]
    scores, _ = row_logps(model, tok, rows, cfg, ctx, stage)
    return scores.reshape(len(prompts), len(words))


def label_probs(logp: np.ndarray) -> np.ndarray:
    """p(class 1) from the two label words' scores (columns 0 and 1): a softmax over the two."""
    logp = np.asarray(logp, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(np.clip(logp[:, 0] - logp[:, 1], -60, 60)))
