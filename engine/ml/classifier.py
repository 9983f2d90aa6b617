"""Finetuning and labelling of classifiers: transformers' Trainer with the Burns et al. losses.

    probs, facts = fit_and_predict(spec, train_cfg, lr, texts, p1, LossSpec("aux_conf"), {"test": test_texts},
                                   seed=0, ctx=ctx, stage="student", stage_key=key)

Trainer does the optimisation (AdamW, schedule, accumulation, mixed precision, devices); this module adds the
soft-label losses on logits pooled at the last real token (engine.ml.scoring), live progress and curves through
the run context (engine.ml.callbacks) and labelling with engine.ml.scoring.predict_probs. torch is imported lazily.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np

from engine.ml.losses import LossSpec


def _trainer_class():
    from transformers import Trainer

    from engine.ml import losses
    from engine.ml.scoring import pooled_logits

    class SoftLabelTrainer(Trainer):
        """Trainer whose loss is a Burns et al. loss on soft targets p(class 1), pooled at the last real token."""

        loss_spec: LossSpec = LossSpec()

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logits = pooled_logits(model, inputs["input_ids"], inputs["attention_mask"])
            progress = self.state.global_step / max(1, self.state.max_steps)
            loss = losses.compute(self.loss_spec, logits, inputs["labels"].to(logits.device), progress)
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
                    predict: dict[str, list[str]], seed: int, ctx: Any, stage: str, stage_key: str
                    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Finetune `spec` on (texts, soft labels p1) and label each set in `predict`.
    Returns ({split: p(1)}, stage facts such as the number of truncated inputs)."""
    import torch
    from transformers import DataCollatorWithPadding, TrainingArguments, set_seed

    from engine.ml.callbacks import ResourceError, is_oom, oom_message, train_with_progress, training_args
    from engine.ml.loading import load_classifier
    from engine.ml.scoring import predict_probs, tokenize

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
                                  data_collator=DataCollatorWithPadding(tok), processing_class=tok)
            trainer.loss_spec = loss
            return trainer

        trainer = train_with_progress(factory, ctx, stage, stage_key, "train", "train", "training", spec.name,
                                      cfg.batch_size)
        result = trainer.train_output
        probs = {}
        for split, split_texts in predict.items():
            try:
                probs[split] = predict_probs(trainer.model, tok, split_texts, cfg.eval_batch_size, cfg.max_length, ctx,
                                             f"{stage}: label {split}")
            except Exception as exc:
                if is_oom(exc):
                    raise ResourceError(oom_message("labelling with", spec.name, cfg.eval_batch_size)) from None
                raise
    facts = {"truncated": float(truncated), "train_seconds": float(result.metrics.get("train_runtime", 0.0)),
             "train_samples_per_second": float(result.metrics.get("train_samples_per_second", 0.0))}
    del model, trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return probs, facts
