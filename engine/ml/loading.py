"""Loading models for training and scoring: tokenizer, classifier, causal LM, reward model; precision and LoRA.

    model, tok = load_classifier(resolve_model("world-l"), TrainConfig(lora=True))
    policy, tok = load_policy(spec, train_cfg)
    model = lora(model, settings, "CAUSAL_LM")          # no-op unless settings.lora

Causal LMs are loaded through AutoModelForSequenceClassification (standard save format, peft's SEQ_CLS task
type) and pooled at the last real token (engine.ml.scoring.pooled_logits). torch and transformers are imported
inside functions.
"""

from __future__ import annotations

from typing import Any

from engine import paths
from engine.config import ModelSettings
from engine.models import ModelError, ModelSpec


def set_threads() -> None:
    """One intra-op thread per worker unless W2S_THREADS says otherwise: on small CPU boxes two threads
    oversubscribe and run 10x slower."""
    import torch

    torch.set_num_threads(paths.threads())


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def mixed_precision(settings: Any) -> dict[str, bool]:
    """TrainingArguments flags for the chosen dtype: bf16 autocast on capable GPUs, fp32 on CPU."""
    import torch

    if settings.dtype == "float32" or not torch.cuda.is_available():
        return {"bf16": False, "fp16": False}
    if settings.dtype == "float16":
        return {"bf16": False, "fp16": True}
    return {"bf16": torch.cuda.is_bf16_supported(), "fp16": not torch.cuda.is_bf16_supported()}


def load_tokenizer(spec: ModelSpec, settings: Any | None = None) -> Any:
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


def load_classifier(spec: ModelSpec, settings: Any | None = None, num_labels: int = 2) -> tuple[Any, Any]:
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
    return lora(model, settings, "SEQ_CLS"), tok


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


def load_policy(spec: ModelSpec, settings: Any) -> tuple[Any, Any]:
    """A causal LM and its tokenizer (padding token set, right padding)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tok = load_tokenizer(spec, settings)
    try:
        model = AutoModelForCausalLM.from_pretrained(spec.source, trust_remote_code=settings.trust_remote_code)
    except ValueError as exc:
        raise ModelError(f"model '{spec.name}' cannot be loaded as a causal language model: {exc}") from None
    if len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    return set_dropout(model, settings.train_with_dropout), tok


def load_reward_model(spec: ModelSpec, settings: Any) -> tuple[Any, Any]:
    """A sequence classifier with one output (the reward) on top of `spec` (LoRA-wrapped if asked), and its tokenizer."""
    return load_classifier(spec, settings, num_labels=1)


def lora(model: Any, settings: Any, task_type: str) -> Any:
    """`model` with LoRA adapters on every linear layer when settings.lora is on (peft), else unchanged."""
    if not settings.lora:
        return model
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(task_type=task_type, r=settings.lora_r, lora_alpha=settings.lora_alpha,
                                            lora_dropout=0.0, target_modules="all-linear"))


def merged(model: Any) -> Any:
    """LoRA adapters folded into the weights, so the next phase starts from a plain model."""
    from peft import PeftModel

    return model.merge_and_unload() if isinstance(model, PeftModel) else model
