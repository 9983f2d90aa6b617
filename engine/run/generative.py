"""Generative finetuning of the strong model before its classifier stages (Burns et al. 2023, reward modelling).

    generative_finetune(exp)      # with train.generative_epochs > 0: exp.spec.strong becomes the finetuned folder

Burns et al. found that finetuning the strong model as a language model on the task's text, without labels, before
the weak-to-strong step improves both the student and the ceiling (so PGR is measured against a ceiling that had it
too). This stage does it for any run: the strong model learns the unlabelled text of halves A and B (never the
test set) with trl's SFTTrainer on plain text; the weights are saved under the stage's key
(`ctx.models_dir()/<key>`), and every later stage of the run (ceiling, student, probes) starts from them. The stage
is content-addressed like the rest; downstream keys name it by its key, not by the saved files, so a stage trained
again on another machine keeps the keys that depend on it. When a cached stage's folder is gone, the weights are
trained again (the same config gives the same weights).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from engine.run.stages import digest

LM_VERSION = 1


def generative_finetune(exp: Any) -> str | None:
    """Run (or reuse) the generative-finetuning stage and point the run's strong model at its weights; the stage
    key, or None when `train.generative_epochs` is 0."""
    epochs = exp.spec.train.generative_epochs
    if epochs <= 0:
        return None
    strong = exp.spec.strong
    ids = exp.ids("A") + exp.ids("B")
    lr = exp.lr_for(strong, "generative")
    payload = {"texts": digest(ids), "epochs": epochs, "lr": lr,
               "train": exp.train_identity("generative", epochs=False)}

    def compute(key: str) -> tuple[dict[str, dict[str, list]], dict[str, float]]:
        return {}, train_and_save(exp, strong, ids, lr, epochs, key)

    result = exp.cached("generative", "lm", strong, payload, compute, version=LM_VERSION)
    folder = Path(exp.ctx.models_dir()) / result.key
    if not (folder / "config.json").is_file():
        exp.ctx.log(f"generative: the weights of cached stage {result.key} are gone; training them again")
        train_and_save(exp, strong, ids, lr, epochs, result.key)
    exp.derive_strong(str(folder), result.key)
    return result.key


def train_and_save(exp: Any, strong: str, ids: list[str], lr: float, epochs: float, key: str) -> dict[str, float]:
    """Finetune `strong` on the texts of `ids` and save model and tokenizer to models_dir()/key, atomically (a
    folder with its config.json is complete)."""
    from engine.ml.loading import load_policy
    from engine.ml.trl_trainers import lm_finetune
    from engine.models import resolve_model

    train = exp.train_for("generative")
    model, tok = load_policy(resolve_model(strong), train)  # LoRA adapters are merged before saving
    model = lm_finetune(model, tok, exp.texts(ids), train, lr, epochs, exp.spec.seed, exp.ctx, "generative", key)
    root = Path(exp.ctx.models_dir())
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{key}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    final = root / key
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return {"lm_texts": float(len(ids)), "lm_epochs": float(epochs)}
