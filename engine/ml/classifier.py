"""Finetuning and labelling of classifiers: transformers' Trainer with the Burns et al. losses.

    probs, facts = fit_and_predict(spec, train_cfg, lr, texts, p1, LossSpec("aux_conf"), {"test": test_texts},
                                   seed=0, ctx=ctx, stage="student", stage_key=key)

Trainer does the optimisation (AdamW, schedule, accumulation, mixed precision, devices); this module adds the
soft-label losses on logits pooled at the last real token (engine.ml.scoring), live progress and curves through
the run context (engine.ml.callbacks) and labelling with engine.ml.scoring.predict_probs. torch is imported lazily.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np

from engine.ml.losses import LossSpec


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

    from engine.ml import losses

    class LogicalBatch(base):
        loss_spec: LossSpec = LossSpec()
        loss_is_scaled_for_ga = True
        _logical_rows: int | None = None
        _logical_cut: Any = None
        _flop_params: int | None = None

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

        def floating_point_ops(self, inputs):
            """Trainer's own estimate, 6 x input tokens x non-embedding parameters (its `total_flos`), with the
            parameters counted once: Trainer recounts all of them at every step (~0.3 ms, 8% of a small model's)."""
            main = getattr(self.model, "main_input_name", "input_ids")
            if main not in inputs or not hasattr(self.model, "num_parameters"):
                return 0
            if self._flop_params is None:
                self._flop_params = self.model.num_parameters(exclude_embeddings=True)
            return 6 * inputs[main].numel() * self._flop_params

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
    from transformers import Trainer

    from engine.ml.scoring import pooled_logits

    class SoftLabelTrainer(logical_batch_trainer(Trainer)):
        """Trainer whose loss is a Burns et al. loss on soft targets p(class 1), pooled at the last real token,
        averaged over the logical batch (see `logical_batch_trainer`)."""

        def student_logits(self, model, inputs):
            return pooled_logits(model, inputs["input_ids"], inputs["attention_mask"]), inputs["labels"]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logits, p1 = self.student_logits(model, inputs)
            loss = self.logical_loss(model, logits, p1)
            return (loss, {"logits": logits}) if return_outputs else loss

    return SoftLabelTrainer


class _Rows:
    """A list of feature dicts as a torch-style dataset (Trainer only needs len and getitem)."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def fit_and_predict(spec: Any, cfg: Any, lr: float, texts: list[str], p1: np.ndarray, loss: LossSpec,
                    predict: dict[str, list[str]], seed: int, ctx: Any, stage: str, stage_key: str,
                    track: dict[str, list[str]] | None = None, points: int = 0, on_checkpoint: Any = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Finetune `spec` on (texts, soft labels p1) and label each set in `predict`.

    With `points` > 0, every set of `predict` and `track` is also labelled at `points` evenly spaced steps and
    handed to `on_checkpoint(step, epoch, {split: p(1)})` (training dynamics); the last of them is taken at the
    final step and is the returned prediction, so a stage's last checkpoint is its prediction by construction.
    Returns ({split: p(1)}, stage facts such as the number of truncated inputs)."""
    import torch
    from transformers import TrainingArguments, set_seed

    from engine.ml.callbacks import (
        ResourceError,
        evaluation_callback,
        is_oom,
        oom_message,
        train_with_progress,
        training_args,
    )
    from engine.ml.loading import load_classifier
    from engine.ml.scoring import PadCollator, padded_batches, predict_batches, predict_probs, tokenize

    set_seed(seed)
    model, tok = load_classifier(spec, cfg)
    rows, truncated = tokenize(tok, texts, cfg.max_length)
    for row, label in zip(rows, p1):
        row["labels"] = float(label)
    trainer_cls = _trainer_class()
    with tempfile.TemporaryDirectory(prefix="w2s-trainer-") as out_dir:
        args = training_args(TrainingArguments, cfg, lr, cfg.epochs, seed, out_dir, len(rows),
                             remove_unused_columns=False, label_names=["labels"])

        def factory(model=model):
            trainer = trainer_cls(model=model, args=args, train_dataset=_Rows(rows),
                                  data_collator=PadCollator(tok), processing_class=tok)
            trainer.loss_spec = loss
            return trainer

        last: dict[str, np.ndarray] = {}
        spent = [0.0]

        batches: dict[str, list] = {}  # each tracked split tokenized and padded once, at the first point

        def evaluate(model, step, epoch, final):
            started = time.monotonic()
            probs = {}
            for split, split_texts in {**predict, **(track or {})}.items():
                if split not in batches:
                    batches[split] = padded_batches(tok, split_texts, cfg.eval_batch_size, cfg.max_length)
                probs[split] = predict_batches(model, batches[split], len(split_texts))
            on_checkpoint(step, epoch, probs)
            spent[0] += time.monotonic() - started
            if final:
                last.update(probs)

        hooks = (evaluation_callback(points, evaluate),) if points > 0 and on_checkpoint is not None else ()
        trainer = train_with_progress(factory, ctx, stage, stage_key, "train", "train", "training", spec.name,
                                      cfg.batch_size, callbacks=hooks)
        result = trainer.train_output
        probs = {s: last[s] for s in predict if s in last}
        for split, split_texts in predict.items():
            if split in probs:
                continue
            try:
                probs[split] = predict_probs(trainer.model, tok, split_texts, cfg.eval_batch_size, cfg.max_length, ctx,
                                             f"{stage}: label {split}")
            except Exception as exc:
                if is_oom(exc):
                    raise ResourceError(oom_message("labelling with", spec.name, cfg.eval_batch_size)) from None
                raise
        if getattr(cfg, "keep_weights", False):
            from engine.ml.weights import keep

            keep(trainer.model, tok, ctx, stage_key, stage, spec.source)  # the model that labelled the splits
    # train_samples_per_second and train_trainable_fp32 are reported by train_with_progress, as for every trainer
    facts = {"truncated": float(truncated), "train_seconds": float(result.metrics.get("train_runtime", 0.0)),
             "dynamics_seconds": spent[0]}  # Trainer's runtime includes the checkpoint evaluations
    del model, trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return probs, facts
