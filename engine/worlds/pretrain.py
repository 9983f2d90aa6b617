"""Pretraining of the world's GPT-2 family with transformers' Trainer, and the fact-recall probe.

    spec = FAMILY["xs"]                                   # 32d x 1L x 2h, lr 6e-3, 1,000 steps, 4k sentences
    model, stats = pretrain(spec, world, tokenizer, seed=0)
    fact_recall(model, tokenizer, world)                  # {"color": .., "job": .., "size": .., "all": ..}

The family differs the way real model families do, in size *and* data: the weak models (xs, s)
see only a prefix of one fixed corpus, repeated for their step budget, so they cannot know the
long-tail facts that prefix never states; the strong model (l) reads an unlimited fresh stream.
That data budget is what makes the weak supervisor's errors scattered knowledge gaps, which a
strong student can see past (see assets/zoo/manifest.json for each model's recall).
Call with torch.set_num_threads(1): on a busy 2-core machine, 2 threads run these tiny models ~10x slower.
Trainer costs about 15% more per step than a bare loop at this size (measured on xs and l); it is
kept for its tested schedule, clipping, logging and progress bar.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from engine.worlds.facts.generator import ATTRIBUTES, PROMPT, World, fixed_corpus, sentence_stream

BATCH_SIZE = 32
CONTEXT = 64  # tokens per packed block; one step reads 32 x 64 = 2,048 tokens


@dataclass(frozen=True)
class ModelSize:
    """One member of the family: architecture, optimiser budget and data budget."""

    name: str
    d_model: int
    n_layer: int
    n_head: int
    lr: float
    steps: int
    corpus_sentences: int | None  # prefix of the fixed corpus; None = unlimited fresh stream

    def scaled(self, scale: float) -> ModelSize:
        """The same model with `scale` times the steps and (for scale < 1) data budget: for fast test builds."""
        data = None if self.corpus_sentences is None else max(50, round(self.corpus_sentences * min(1.0, scale)))
        return dataclasses.replace(self, steps=max(1, round(self.steps * scale)), corpus_sentences=data)


FAMILY: dict[str, ModelSize] = {
    "xs": ModelSize("xs", 32, 1, 2, 6e-3, 1000, 4000),
    "s": ModelSize("s", 64, 2, 4, 4e-3, 800, 8000),
    "l": ModelSize("l", 128, 2, 4, 3e-3, 700, None),
}


def model_config(spec: ModelSize, tokenizer: PreTrainedTokenizerFast, context: int = CONTEXT) -> GPT2Config:
    """GPT-2 without dropout (the corpus is far too small for overfitting to be the problem)."""
    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=context, n_embd=spec.d_model, n_layer=spec.n_layer,
        n_head=spec.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


class PackedBlocks(torch.utils.data.IterableDataset):
    """Endless `context`-token blocks of sentences joined by <|endoftext|>, as causal-LM examples.

    With a fixed corpus it is cycled, reshuffled every pass; otherwise sentences come fresh from
    `stream(seed)`. Blocks cut across sentences, as in GPT-2 pretraining.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, seed: int, corpus: list[str] | None,
                 stream: Callable[[int], Iterator[str]], context: int = CONTEXT):
        self.tokenizer, self.seed, self.stream, self.context = tokenizer, seed, stream, context
        self.corpus = self._encode(corpus) if corpus else None

    def _encode(self, sentences: list[str]) -> list[list[int]]:
        ids = self.tokenizer(sentences, add_special_tokens=False)["input_ids"]
        return [row + [self.tokenizer.eos_token_id] for row in ids]

    def _encoded_sentences(self) -> Iterator[list[int]]:
        if self.corpus is not None:
            rng = random.Random(f"passes:{self.seed}")
            order = list(range(len(self.corpus)))
            while True:
                rng.shuffle(order)
                yield from (self.corpus[i] for i in order)
        stream = self.stream(self.seed)
        while True:
            yield from self._encode([next(stream) for _ in range(1024)])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        buffer: list[int] = []
        for ids in self._encoded_sentences():
            buffer += ids
            while len(buffer) >= self.context:
                block = torch.tensor(buffer[:self.context])
                buffer = buffer[self.context:]
                yield {"input_ids": block, "labels": block}


def pretrain(
    spec: ModelSize, world: World, tokenizer: PreTrainedTokenizerFast, seed: int = 0, progress: bool = True
) -> tuple[GPT2LMHeadModel, dict[str, Any]]:
    """Train `spec` from scratch on its data budget of the world's corpus; returns the model (eval mode) and stats."""
    corpus = fixed_corpus(world, spec.corpus_sentences) if spec.corpus_sentences else None
    return pretrain_lm(spec, tokenizer, corpus, lambda s: sentence_stream(world, s), seed, progress)


def pretrain_lm(spec: ModelSize, tokenizer: PreTrainedTokenizerFast, corpus: list[str] | None,
                stream: Callable[[int], Iterator[str]], seed: int = 0, progress: bool = True,
                context: int = CONTEXT) -> tuple[GPT2LMHeadModel, dict[str, Any]]:
    """Train `spec` from scratch on a fixed `corpus` (cycled) or, when None, on the fresh `stream(seed)`."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(model_config(spec, tokenizer, context))
    data = PackedBlocks(tokenizer, seed, corpus, stream, context)
    # Trainer wants an output_dir; nothing is saved there (save_strategy "no"), so no checkpoints stay behind.
    with tempfile.TemporaryDirectory(prefix="w2s-pretrain-") as scratch:
        args = TrainingArguments(
            output_dir=scratch, max_steps=spec.steps, per_device_train_batch_size=BATCH_SIZE,
            learning_rate=spec.lr, weight_decay=0.01, adam_beta1=0.9, adam_beta2=0.98, max_grad_norm=1.0,
            lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr_rate": 0.1},
            warmup_steps=max(1, math.ceil(0.05 * spec.steps)), logging_steps=max(1, spec.steps // 20),
            save_strategy="no", report_to="none", use_cpu=True, seed=seed, disable_tqdm=not progress,
        )
        trainer = Trainer(model=model, args=args, train_dataset=data)
        # Swap the default step bar (or, without a bar, the printer of every logged dict) for ours.
        trainer.remove_callback(ProgressCallback if progress else PrinterCallback)
        if progress:
            trainer.add_callback(_StepBar(f"pretrain {spec.name}"))
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    model.eval()
    tokens = spec.steps * BATCH_SIZE * context
    corpus_tokens = sum(map(len, data.corpus)) if data.corpus is not None else None
    return model, {
        "steps": spec.steps, "tokens": tokens, "tokens_per_s": round(tokens / wall), "wall_s": round(wall, 1),
        "corpus_sentences": spec.corpus_sentences, "corpus_tokens": corpus_tokens,
        "final_loss": round(losses[-1], 4) if losses else None,
    }


class _StepBar(ProgressCallback):
    """The standard step bar (elapsed, ETA), named after the model and showing the latest loss
    instead of printing every logged dict under it."""

    def __init__(self, description: str):
        super().__init__()
        self.description = description

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.training_bar = tqdm(total=state.max_steps, desc=self.description, dynamic_ncols=True)
        self.current_step = 0

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self.training_bar is not None and logs and "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.3f}")


@torch.no_grad()
def fact_recall(model: Any, tokenizer: PreTrainedTokenizerFast, world: World) -> dict[str, float]:
    """What the LM knows: per attribute, the share of entities whose true value is the argmax of the
    next-token distribution over that attribute's values after `the {attribute} of {entity} is`."""
    model.eval()
    result, correct = {}, 0
    for a in ATTRIBUTES.values():
        prompts = [PROMPT.format(attribute=a.name, entity=e.name) for e in world.entities]
        ids = torch.tensor(tokenizer(prompts, add_special_tokens=False)["input_ids"])
        value_ids = tokenizer.convert_tokens_to_ids(list(a.values))
        logits = torch.cat([model(input_ids=chunk).logits[:, -1, value_ids] for chunk in ids.split(512)])
        truth = torch.tensor([a.values.index(e.facts[a.name]) for e in world.entities])
        hits = int((logits.argmax(-1) == truth).sum())
        result[a.name] = round(hits / len(world.entities), 4)
        correct += hits
    result["all"] = round(correct / (len(world.entities) * len(ATTRIBUTES)), 4)
    return result


# ---------------------------------------------------------------------------------- shared by the zoo builds
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


@contextlib.contextmanager
def quiet_library_bars():
    """transformers draws a bar even for writing one small weight file; keep the output to the step bars."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
