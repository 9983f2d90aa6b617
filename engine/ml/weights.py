"""Kept weights: a trained stage's model (or LoRA adapter) saved as a standard Hugging Face folder.

    keep(model, tok, ctx, key, role, base="assets/zoo/world-l")   # when train.keep_weights is on
    model = load_kept(folder)                                      # the same model back, ready to predict

The folder (<data home>/weights/<stage key>/) holds what `save_pretrained` writes for the model, the tokenizer,
and w2s.json (run, role, stage key, base model, kind and the class that loads it). A LoRA stage keeps its adapter
(kind adapter: adapter_config.json + adapter_model.safetensors; a classifier's head is saved with it as a module to
save), which peft loads onto the base model it names; every other stage keeps the whole model (kind model). The
folder is written beside its final place and renamed into it, so a stage's name never holds half a folder
(`w2s gc` removes leftovers). The run context then records it (event weights_saved: path, bytes, files).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from engine import paths

MANIFEST = "w2s.json"
LOADERS = {("model", "SEQ_CLS"): "AutoModelForSequenceClassification", ("model", "CAUSAL_LM"): "AutoModelForCausalLM",
           ("adapter", "SEQ_CLS"): "AutoPeftModelForSequenceClassification",
           ("adapter", "CAUSAL_LM"): "AutoPeftModelForCausalLM"}


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) under `folder`."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def keep(model: Any, tok: Any, ctx: Any, key: str, role: str, base: str) -> Path:
    """Save `model` (a transformers model or a peft PeftModel) and `tok` as <weights dir>/<key>; report it."""
    from peft import PeftModel

    kind = "adapter" if isinstance(model, PeftModel) else "model"
    task = "CAUSAL_LM" if "CausalLM" in type(model.base_model.model if kind == "adapter" else model).__name__ \
        else "SEQ_CLS"
    root = paths.weights_dir()
    root.mkdir(parents=True, exist_ok=True)
    final, scratch = root / key, root / f".partial-{key}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    model.save_pretrained(scratch)
    tok.save_pretrained(scratch)
    (scratch / MANIFEST).write_text(json.dumps({
        "run_id": getattr(ctx, "run_id", None), "role": role, "stage_key": key, "kind": kind, "base_model": base,
        "load_with": LOADERS[(kind, task)],
        "how": f"from {'peft' if kind == 'adapter' else 'transformers'} import {LOADERS[(kind, task)]}; "
               f"{LOADERS[(kind, task)]}.from_pretrained(folder)"}, indent=1))
    shutil.rmtree(final, ignore_errors=True)  # the same stage trained again (its earlier attempt never finished)
    os.replace(scratch, final)
    size, files = folder_size(final)
    ctx.weights_saved(key, role, str(final), size, kind, files)
    return final


def load_kept(folder: str | Path) -> tuple[Any, Any]:
    """The model and tokenizer of a kept folder, with the class its manifest names (eval mode)."""
    import peft
    import transformers

    folder = Path(folder)
    name = json.loads((folder / MANIFEST).read_text())["load_with"]
    cls = getattr(peft if name.startswith("AutoPeft") else transformers, name)
    model, tok = cls.from_pretrained(folder).eval(), transformers.AutoTokenizer.from_pretrained(folder)
    if model.config.pad_token_id is None:  # an adapter's base model comes from its own folder, without the run's pad
        model.config.pad_token_id = tok.pad_token_id
    return model, tok
