"""Preference pairs and their tokenisation, cut the way trl's trainers cut them.

    pairs = Pairs.of(exp.examples(ids))                  # prompt, chosen, rejected per example id
    full, start = encode_completion(tok, prompt, completion)
    prompts, n_cut = fit_prompts(tok, pairs.prompts, [[c, r] for c, r in zip(pairs.chosen, pairs.rejected)], 512)

The prompt is tokenised alone and with the completion plus EOS, and the completion starts where the two
diverge (trl's DPO); SimPO's and ORPO's trainers put a BOS before the prompt (`bos=True`); with a chat template
the tokenisation is engine.ml.chat.Format's. Long prompts are cut
from the left (`fit_prompts`) before any trainer or scorer sees them. torch is imported inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.ml.chat import Format


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


def encode_completion(tok: Any, prompt: str, completion: str, bos: bool = False, fmt: Any = None
                      ) -> tuple[list[int], int]:
    """Token ids of prompt + completion (+ EOS) and the index where the completion starts, as trl's trainers cut;
    through the chat template when `fmt` (engine.ml.chat.Format) has one, as plain text otherwise."""
    return (fmt or Format(tok, False)).completion_ids(prompt, completion, bos)


def fit_prompts(tok: Any, prompts: list[str], responses: list[list[str]], max_length: int, fmt: Any = None
                ) -> tuple[list[str], int]:
    """Cut each prompt from the left so that prompt + its longest response + EOS (and the chat template's own
    tokens, with `fmt`) fits in `max_length` tokens (the end of a conversation carries the turn being judged).
    Returns the prompts and how many were cut."""
    extra = 2 if fmt is None or not fmt.chat else fmt.overhead()  # EOS and a possible BOS, or the template's tokens
    out, cut = [], 0
    for i, prompt in enumerate(prompts):
        longest = max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in responses[i]) if responses[i] else 0
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        room = max(1, max_length - longest - extra)
        if len(ids) > room:
            out.append(tok.decode(ids[-room:]))
            cut += 1
        else:
            out.append(prompt)
    return out, cut


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


def pad_rows(rows: list[list[int]], pad_id: int, left: bool = False) -> tuple[Any, Any]:
    """Token id rows padded to the longest with `pad_id` (on the left with `left`), and their attention mask:
    what tokenizer.pad returns for such rows, built as two tensors in one call each."""
    import torch

    width = max(len(r) for r in rows)
    if left:
        ids = [[pad_id] * (width - len(r)) + list(r) for r in rows]
        mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
    else:
        ids = [list(r) + [pad_id] * (width - len(r)) for r in rows]
        mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
    return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)
