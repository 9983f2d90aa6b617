"""Models: resolve a name (catalogue entry, local folder or hub id) and load it as a classifier.

    spec = resolve_model("world-l")              # or "gpt2", "Qwen/Qwen2.5-0.5B", "/path/to/folder"
    model, tok = load_classifier(spec, ModelSettings(lora=True))
    logits = pooled_logits(model, batch["input_ids"], batch["attention_mask"])

Causal LMs are loaded through AutoModelForSequenceClassification (standard save format, peft's
SEQ_CLS task type) but pooled here at the last *real* token found from the attention mask: the
library's own pooling looks for the pad token id, which breaks when pad == eos or text holds it.
torch and transformers are imported inside functions so the catalogue stays importable without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.registry import Registry

MODELS: Registry = Registry("model", package="engine.zoo")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: str  # hub id or folder
    default_lr: float = 1e-5
    description: str = ""
    kind: Literal["hub", "local", "zoo"] = "hub"


class ModelError(ValueError):
    """A model cannot be resolved or loaded; the message names the problem and the fix."""


@dataclass
class ModelSettings:
    lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = field(
        default="auto", metadata={"help": "auto: bf16 mixed precision on capable GPUs, fp32 on CPU."}
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory."})
    train_with_dropout: bool = field(default=False, metadata={
        "help": "Train with the model's own dropout. Off by default, as in Burns et al. and openai/weak-to-strong "
                "(dropout off for determinism): every dropout probability of the loaded model is set to 0."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run model code from the hub (off: safer)."})
    max_length: int = field(default=512, metadata={"help": "Truncate inputs to this many tokens (truncations are counted)."})

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype={self.dtype!r} is not one of auto, float32, bfloat16, float16")
        if self.max_length < 2:
            raise ValueError(f"max_length={self.max_length} is too small; use at least 2")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.sep in name and Path(name).exists()


def resolve_model(name: str) -> ModelSpec:
    """Map a user-given model name to a spec, without loading weights. Raises ModelError early."""
    if not name or not isinstance(name, str):
        raise ModelError("model name is empty; give a zoo name (e.g. world-l), a hub id or a local folder")
    if name in MODELS:
        spec = MODELS.get(name)
        if spec.kind == "zoo" and not (Path(spec.source) / "config.json").exists():
            raise ModelError(f"zoo model '{name}' has no weights at {spec.source}; run `w2s zoo build` to build them")
        return spec
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"folder {path} has no config.json; save a model there with save_pretrained()")
        return ModelSpec(name=name, source=str(path.resolve()), kind="local")
    if _looks_like_path(name):
        raise ModelError(f"model folder {name} does not exist; check the path")
    return ModelSpec(name=name, source=name, kind="hub")


def check_model(name: str, trust_remote_code: bool = False) -> ModelSpec:
    """Resolve and fetch the model's config (hub ids hit the network or the local cache), so a typo fails
    before any training starts."""
    spec = resolve_model(name)
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(spec.source, trust_remote_code=trust_remote_code)
    except Exception as exc:  # hub errors come in many classes; the message is what the user needs
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        known = ", ".join(n for n in MODELS.names())
        raise ModelError(
            f"unknown model '{name}': not a catalogue model ({known}), not a local folder, and the hub lookup "
            f"failed ({reason}). Fix: check the spelling, log in for gated models, or pass a local folder"
        ) from None
    return spec


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def mixed_precision(settings: ModelSettings) -> dict[str, bool]:
    """TrainingArguments flags for the chosen dtype: bf16 autocast on capable GPUs, fp32 on CPU."""
    import torch

    if settings.dtype == "float32" or not torch.cuda.is_available():
        return {"bf16": False, "fp16": False}
    if settings.dtype == "float16":
        return {"bf16": False, "fp16": True}
    return {"bf16": torch.cuda.is_bf16_supported(), "fp16": not torch.cuda.is_bf16_supported()}


def load_tokenizer(spec: ModelSpec, settings: ModelSettings | None = None) -> Any:
    from transformers import AutoTokenizer

    settings = settings or ModelSettings()
    tok = AutoTokenizer.from_pretrained(spec.source, trust_remote_code=settings.trust_remote_code)
    if tok.pad_token is None:
        # Pooling uses the attention mask, so reusing eos as padding is safe here.
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if tok.pad_token is None:
        tok.add_special_tokens({"pad_token": "<pad>"})
    tok.padding_side = "right"
    return tok


def load_classifier(spec: ModelSpec, settings: ModelSettings | None = None, num_labels: int = 2) -> tuple[Any, Any]:
    """Load `spec` as a sequence classifier with a fresh head; wrap in LoRA if asked."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    settings = settings or ModelSettings()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # stage progress is reported through the run context
    tok = load_tokenizer(spec, settings)
    kwargs: dict[str, Any] = {"num_labels": num_labels, "trust_remote_code": settings.trust_remote_code}
    if torch.cuda.is_available() and settings.lora and settings.dtype in ("auto", "bfloat16"):
        kwargs["dtype"] = torch.bfloat16  # frozen base in bf16 halves memory; adapters stay fp32
    try:
        model = AutoModelForSequenceClassification.from_pretrained(spec.source, **kwargs)
    except ValueError as exc:
        raise ModelError(f"model '{spec.name}' cannot be loaded as a classifier: {exc}") from None
    if len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    set_dropout(model, settings.train_with_dropout)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if settings.lora:
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(task_type=TaskType.SEQ_CLS, r=settings.lora_r, lora_alpha=settings.lora_alpha,
                       lora_dropout=0.0, target_modules="all-linear"),
        )
    return model, tok


def set_dropout(model: Any, on: bool) -> Any:
    """Leave the model's dropout as its config has it (`on`), or set every dropout probability to 0: the
    torch Dropout modules and the float `*dropout*` attributes attention layers read at call time (Llama,
    Qwen). Trainer puts the model in train mode, so this, not eval mode, is what turns dropout off."""
    import torch

    if on:
        return model
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for name, value in list(vars(module).items()):
            if "dropout" in name and isinstance(value, float):
                setattr(module, name, 0.0)
    return model


def hub_revision(source: str, cache_dir: str | None = None) -> str | None:
    """The commit of a hub model that loading it uses now: the snapshot its `main` ref points to in the local
    cache (where `check_model` fetched the config), else None (not cached: loading would fetch it first)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(source, "config.json", cache_dir=cache_dir)
    except Exception:  # a malformed id or cache: the key then names the model without a revision
        return None
    return Path(path).parent.name if isinstance(path, str) else None


def _hf_model(model: Any) -> Any:
    """The transformers *ForSequenceClassification module, under a peft wrapper if there is one."""
    from peft import PeftModel

    return model.base_model.model if isinstance(model, PeftModel) else model


def last_token_index(attention_mask: Any) -> Any:
    """Index of the last real token per row, from the attention mask (right or left padding)."""
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(dim=1)


def pooled_logits(model: Any, input_ids: Any, attention_mask: Any, hidden_layer: int | None = None) -> Any:
    """Class logits pooled at the last real token (decoder models with a `score` head); encoder models
    use their own pooling. With `hidden_layer`, return that layer's pooled hidden state instead."""
    import torch

    hf = _hf_model(model)
    head = getattr(hf, "score", None)
    if head is None and hidden_layer is None:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits
    backbone = getattr(hf, hf.base_model_prefix)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=hidden_layer is not None)
    idx = last_token_index(attention_mask)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    if hidden_layer is not None:
        return out.hidden_states[hidden_layer][rows, idx]
    hidden = out[0][rows, idx]
    return head(hidden.to(head.weight.dtype if hasattr(head, "weight") else hidden.dtype)).float()
