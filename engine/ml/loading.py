"""Loading models for training and scoring: tokenizer, classifier, causal LM, reward model; precision and LoRA.

    model, tok = load_classifier(resolve_model("world-l"), TrainConfig(lora=True))
    policy, tok = load_policy(spec, train_cfg)
    model = lora(model, settings, "CAUSAL_LM")          # no-op unless settings.lora

Classifiers load through AutoModelForSequenceClassification (standard save format, peft's SEQ_CLS task type): a
decoder is pooled at its last real token (engine.ml.scoring.pooled_logits), an encoder (BERT-like) by its own head.
Precision: trained weights, LoRA adapters and classification heads are fp32 whatever the checkpoint's dtype (bf16
autocast on capable GPUs); frozen models may keep half precision on a GPU (`weights_dtype`). `device_map: auto`
spreads a model over GPUs, `quantization: 4bit` loads a QLoRA base (CUDA + bitsandbytes; refused with a message
elsewhere). torch and transformers are imported inside functions.
"""

from __future__ import annotations

from typing import Any

from engine import paths
from engine.config import ConfigError, ModelSettings
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


def weights_dtype(settings: Any, trainable: bool) -> Any:
    """The dtype to load weights in. Trained weights are fp32 master weights whatever the checkpoint says
    (transformers 5 loads a bf16 checkpoint as bf16, and AdamW steps in bf16 lose small updates), with bf16 autocast
    on capable GPUs (mixed_precision). Under LoRA on a GPU the frozen base may stay in half precision (the adapters
    and the head are fp32: `lora`); a frozen model that only scores or generates keeps the checkpoint's dtype there
    ("auto"). On CPU everything is fp32 (no fast half-precision kernels)."""
    import torch

    if not torch.cuda.is_available() or settings.dtype == "float32" or (trainable and not settings.lora):
        return torch.float32
    if settings.dtype == "float16":
        return torch.float16
    if settings.dtype == "bfloat16" or trainable:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "auto"


def load_kwargs(settings: Any, trainable: bool) -> dict[str, Any]:
    """from_pretrained arguments for precision, placement over GPUs (device_map) and 4-bit QLoRA."""
    import torch

    kwargs: dict[str, Any] = {"dtype": weights_dtype(settings, trainable),
                              "trust_remote_code": settings.trust_remote_code}
    if getattr(settings, "device_map", "none") == "auto":
        if not torch.cuda.is_available():
            raise ConfigError("train.device_map=auto spreads a model over GPUs, and this machine has none. Fix: set "
                              "device_map: none")
        kwargs["device_map"] = "auto"
    if getattr(settings, "quantization", "none") == "4bit":
        if not torch.cuda.is_available():
            raise ConfigError("train.quantization=4bit (QLoRA) needs a CUDA GPU, and this machine has none. Fix: set "
                              "quantization: none (plain LoRA) or run on a GPU machine")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError("train.quantization=4bit (QLoRA) needs bitsandbytes. Fix: pip install -r "
                              "requirements-gpu.txt (bitsandbytes==0.50.2) or set quantization: none") from None
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=compute,
                                                           bnb_4bit_use_double_quant=True)
        kwargs["dtype"] = compute
        kwargs.setdefault("device_map", {"": torch.cuda.current_device()})
    return kwargs


def _prepared(model: Any, settings: Any) -> Any:
    """A 4-bit model made trainable under adapters (peft's k-bit preparation: norms in fp32, input grads on)."""
    if getattr(model, "is_loaded_in_4bit", False):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=settings.gradient_checkpointing)
    return model


def load_classifier(spec: ModelSpec, settings: Any | None = None, num_labels: int = 2, trainable: bool = True
                    ) -> tuple[Any, Any]:
    """Load `spec` as a sequence classifier with a fresh head (fp32 when trained); wrap in LoRA if asked."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    settings = settings or ModelSettings()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # stage progress is reported through the run context
    tok = load_tokenizer(spec, settings)
    kwargs = load_kwargs(settings, trainable)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(spec.source, num_labels=num_labels, **kwargs)
    except ValueError as exc:
        raise ModelError(f"model '{spec.name}' cannot be loaded as a classifier: {exc}") from None
    if len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    set_dropout(model, settings.train_with_dropout)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return lora(_prepared(model, settings), settings, "SEQ_CLS") if trainable else model, tok


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


def load_policy(spec: ModelSpec, settings: Any, trainable: bool = True) -> tuple[Any, Any]:
    """A causal LM and its tokenizer (padding token set, right padding): fp32 weights when it will be trained (its
    LoRA adapters are added by the trainers), the checkpoint's dtype on a GPU when it only generates or scores."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    fix = ("Fix: pick a decoder model (GPT-2, Llama, Qwen, Gemma, OPT, Mistral, Pythia) for this method; encoders "
           "such as BERT work as classifiers only")
    config = AutoConfig.from_pretrained(spec.source, trust_remote_code=settings.trust_remote_code)
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        # transformers would load BERT-likes as a causal LM head (BertLMHeadModel) and warn; it cannot write text.
        raise ModelError(f"model '{spec.name}' ({config.model_type}) cannot be loaded as a causal language model: it "
                         f"is an encoder. {fix}")
    tok = load_tokenizer(spec, settings)
    kwargs = load_kwargs(settings, trainable)
    try:
        model = AutoModelForCausalLM.from_pretrained(spec.source, **kwargs)
    except ValueError as exc:
        raise ModelError(f"model '{spec.name}' cannot be loaded as a causal language model ({exc}). {fix}") from None
    if len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    return set_dropout(_prepared(model, settings) if trainable else model, settings.train_with_dropout), tok


def load_reward_model(spec: ModelSpec, settings: Any) -> tuple[Any, Any]:
    """A sequence classifier with one output (the reward) on top of `spec` (LoRA-wrapped if asked), and its tokenizer."""
    return load_classifier(spec, settings, num_labels=1)


def lora(model: Any, settings: Any, task_type: str) -> Any:
    """`model` with LoRA adapters on every linear layer when settings.lora is on (peft), else unchanged. Every
    trainable parameter is fp32: peft keeps the adapters fp32 over a half-precision base, but a classifier's new
    head (peft's modules_to_save) would stay in the base's dtype."""
    if not settings.lora:
        return model
    import torch
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(task_type=task_type, r=settings.lora_r, lora_alpha=settings.lora_alpha,
                                             lora_dropout=0.0, target_modules="all-linear"))
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
    return model


def merged(model: Any) -> Any:
    """LoRA adapters folded into the weights, so the next phase starts from a plain model."""
    from peft import PeftModel

    return model.merge_and_unload() if isinstance(model, PeftModel) else model
