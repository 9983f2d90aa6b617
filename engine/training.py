"""Finetuning and labelling of classifiers: transformers' Trainer with the Burns et al. losses.

    probs = fit_and_predict(spec, train_cfg, lr, texts, p1, LossSpec("aux_conf"), {"test": test_texts},
                            seed=0, ctx=ctx, stage="student", stage_key=key)

Trainer does the optimisation (AdamW, schedule, accumulation, mixed precision, devices); this module
adds the soft-label losses, last-real-token pooling, live progress/curves through the run context, and
a plain batched labelling loop (sorted by length) with its own progress bar. torch is imported lazily.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numpy as np

from engine.losses import LossSpec


class ResourceError(RuntimeError):
    """Out of memory (or a similar resource limit); the message says what to lower."""


def set_threads() -> None:
    """One intra-op thread per worker unless W2S_THREADS says otherwise: on small CPU boxes two threads
    oversubscribe and run 10x slower."""
    import torch

    torch.set_num_threads(int(os.environ.get("W2S_THREADS", "1")))


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _oom_message(what: str, model: str, batch_size: int) -> str:
    return (f"out of memory while {what} {model} (batch size {batch_size}). Fix: lower train.batch_size or "
            "train.eval_batch_size, raise train.grad_accum, set train.lora: true, or pick a smaller model")


def tokenize(tok: Any, texts: list[str], max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenize, truncating from the left (the end of a prompt carries the answer being judged);
    returns the encodings and how many texts were truncated."""
    tok.truncation_side = "left"
    full = tok(texts, truncation=False, add_special_tokens=True)["input_ids"]
    truncated = sum(len(ids) > max_length for ids in full)
    enc = tok(texts, truncation=True, max_length=max_length, add_special_tokens=True)
    return [{"input_ids": i, "attention_mask": m} for i, m in zip(enc["input_ids"], enc["attention_mask"])], truncated


def logical_batch_trainer(base: Any) -> Any:
    """`base` (a transformers Trainer class) whose loss is the mean over the logical batch of one optimizer step.

    Trainer prefetches the `grad_accum` micro-batches of a step (`get_batch_samples`); this subclass counts their
    rows and, for a loss whose rows depend on each other (aux_conf's quantile threshold), computes the
    threshold once over all of them with a no-grad forward pass (only when there is more than one micro-batch:
    otherwise the training forward itself is the whole batch). Each micro-batch then returns the sum of its
    per-example losses divided by the logical batch size, and `loss_is_scaled_for_ga` tells Trainer not to
    divide again. The accumulated gradient, the logged loss and the effect of gradient clipping are those of
    one pass over the logical batch, whatever `grad_accum` is (transformers 5: a custom compute_loss must say
    whether it is scaled; its own `num_items_in_batch` is counted only for models that accept loss kwargs).
    Subclasses implement `student_logits(model, inputs) -> (2-class logits, soft targets p(class 1))`.
    """
    import torch

    from engine import losses

    class LogicalBatch(base):
        loss_spec: LossSpec = LossSpec()
        loss_is_scaled_for_ga = True
        _logical_rows: int | None = None
        _logical_cut: Any = None

        def student_logits(self, model, inputs):
            raise NotImplementedError

        def get_batch_samples(self, epoch_iterator, num_batches, device):
            batch, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
            self._logical_rows, self._logical_cut = self.batch_rows(batch), None
            if self.loss_spec.needs_batch and len(batch) > 1:
                with torch.no_grad():
                    parts = [self.student_logits(self.model, self._prepare_inputs(dict(b))) for b in batch]
                self._logical_cut = losses.batch_threshold(torch.cat([z for z, _ in parts]),
                                                           torch.cat([y.float() for _, y in parts]))
            return batch, num_items

        def batch_rows(self, batch: list[dict[str, Any]]) -> int:
            return sum(len(b["labels"]) for b in batch)

        def logical_loss(self, model, logits, p1):
            """This micro-batch's share of the logical batch's mean loss."""
            progress = self.state.global_step / max(1, self.state.max_steps)
            per = losses.per_example(self.loss_spec, logits, p1.to(logits.device), progress, self._logical_cut)
            rows = self._logical_rows if model.training and self._logical_rows else len(per)
            return per.sum() / rows

    return LogicalBatch


def _trainer_class():
    import torch
    from transformers import Trainer, TrainerCallback

    from engine.models import pooled_logits

    class SoftLabelTrainer(logical_batch_trainer(Trainer)):
        """Trainer whose loss is a Burns et al. loss on soft targets p(class 1), pooled at the last real token,
        averaged over the logical batch (see `logical_batch_trainer`)."""

        def student_logits(self, model, inputs):
            return pooled_logits(model, inputs["input_ids"], inputs["attention_mask"]), inputs["labels"]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logits, p1 = self.student_logits(model, inputs)
            loss = self.logical_loss(model, logits, p1)
            return (loss, {"logits": logits}) if return_outputs else loss

    class ContextCallback(TrainerCallback):
        """Streams progress (with ETA) and the loss curve to the run context; stops on cancellation."""

        def __init__(self, ctx, stage: str, stage_key: str):
            self.ctx, self.stage, self.stage_key = ctx, stage, stage_key

        def on_step_end(self, args, state, control, **kwargs):
            self.ctx.progress(f"{self.stage}: train", state.global_step, state.max_steps)
            self.ctx.check_cancelled()

        def on_log(self, args, state, control, logs=None, **kwargs):
            rows = [{"stage_key": self.stage_key, "name": f"train_{k}", "step": state.global_step, "value": float(v)}
                    for k, v in (logs or {}).items() if k in ("loss", "learning_rate", "grad_norm")]
            if rows:
                self.ctx.metrics(rows)

    return SoftLabelTrainer, ContextCallback, torch


class _Rows:
    """A list of feature dicts as a torch-style dataset (Trainer only needs len and getitem)."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def predict_probs(model: Any, tok: Any, texts: list[str], batch_size: int, max_length: int, ctx: Any = None,
                  stage: str = "predict") -> np.ndarray:
    """p(class 1) for each text, batched by similar length."""
    import torch

    from engine.models import pooled_logits

    rows, _ = tokenize(tok, texts, max_length)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    out = np.zeros(len(rows), dtype=np.float64)
    device = next(model.parameters()).device
    model.eval()
    n_batches = math.ceil(len(rows) / batch_size)
    with torch.no_grad():
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            batch = tok.pad([rows[i] for i in idx], return_tensors="pt")
            logits = pooled_logits(model, batch["input_ids"].to(device), batch["attention_mask"].to(device))
            out[idx] = logits.float().softmax(-1)[:, 1].cpu().numpy()
            if ctx is not None:
                ctx.progress(stage, b + 1, n_batches, unit="batch")
                ctx.check_cancelled()
    return out


def fit_and_predict(spec: Any, cfg: Any, lr: float, texts: list[str], p1: np.ndarray, loss: LossSpec,
                    predict: dict[str, list[str]], seed: int, ctx: Any, stage: str, stage_key: str
                    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Finetune `spec` on (texts, soft labels p1) and label each set in `predict`.
    Returns ({split: p(1)}, stage facts such as the number of truncated inputs)."""
    from transformers import DataCollatorWithPadding, PrinterCallback, TrainingArguments, set_seed

    from engine.models import load_classifier, mixed_precision

    SoftLabelTrainer, ContextCallback, torch = _trainer_class()
    set_seed(seed)
    model, tok = load_classifier(spec, cfg)
    rows, truncated = tokenize(tok, texts, cfg.max_length)
    for row, label in zip(rows, p1):
        row["labels"] = float(label)
    micro = cfg.batch_size // cfg.grad_accum
    steps = max(1, math.ceil(len(rows) / cfg.batch_size) * cfg.epochs)
    with tempfile.TemporaryDirectory(prefix="w2s-trainer-") as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, per_device_train_batch_size=micro, gradient_accumulation_steps=cfg.grad_accum,
            num_train_epochs=cfg.epochs, learning_rate=lr, lr_scheduler_type=cfg.lr_schedule,
            warmup_steps=cfg.warmup_frac, weight_decay=cfg.weight_decay, logging_steps=max(1, int(steps) // 50),
            save_strategy="no", report_to="none", disable_tqdm=True, seed=seed, data_seed=seed,
            use_cpu=not torch.cuda.is_available(), dataloader_pin_memory=False, remove_unused_columns=False,
            label_names=["labels"], **mixed_precision(cfg),
        )
        trainer = SoftLabelTrainer(model=model, args=args, train_dataset=_Rows(rows),
                                   data_collator=DataCollatorWithPadding(tok), processing_class=tok,
                                   callbacks=[ContextCallback(ctx, stage, stage_key)])
        trainer.loss_spec = loss
        trainer.remove_callback(PrinterCallback)  # progress and curves go through the run context instead
        try:
            result = trainer.train()
        except Exception as exc:
            if _is_oom(exc):
                raise ResourceError(_oom_message("training", spec.name, cfg.batch_size)) from None
            raise
        model = trainer.model
        probs = {}
        for split, split_texts in predict.items():
            try:
                probs[split] = predict_probs(model, tok, split_texts, cfg.eval_batch_size, cfg.max_length, ctx,
                                             f"{stage}: label {split}")
            except Exception as exc:
                if _is_oom(exc):
                    raise ResourceError(_oom_message("labelling with", spec.name, cfg.eval_batch_size)) from None
                raise
    facts = {"truncated": float(truncated), "train_seconds": float(result.metrics.get("train_runtime", 0.0)),
             "train_samples_per_second": float(result.metrics.get("train_samples_per_second", 0.0))}
    del model, trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return probs, facts


def hidden_states(spec: Any, cfg: Any, texts: list[str], layer: int | None, ctx: Any = None,
                  stage: str = "activations") -> np.ndarray:
    """Frozen pretrained activations at `layer` (None = the middle layer), pooled at the last real token."""
    import torch

    from engine.models import load_classifier, pooled_logits

    model, tok = load_classifier(spec, cfg)
    model.eval()
    n_layers = model.config.num_hidden_layers
    layer = n_layers // 2 if layer is None else layer
    rows, _ = tokenize(tok, texts, cfg.max_length)
    feats = []
    n_batches = math.ceil(len(rows) / cfg.eval_batch_size)
    device = next(model.parameters()).device
    with torch.no_grad():
        for b in range(n_batches):
            batch = tok.pad(rows[b * cfg.eval_batch_size : (b + 1) * cfg.eval_batch_size], return_tensors="pt")
            h = pooled_logits(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), hidden_layer=layer)
            feats.append(h.float().cpu().numpy())
            if ctx is not None:
                ctx.progress(stage, b + 1, n_batches, unit="batch")
    return np.concatenate(feats) if feats else np.zeros((0, 1))
