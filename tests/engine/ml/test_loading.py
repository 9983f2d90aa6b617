"""engine.ml.loading and scoring: a local folder loads as a classifier pooled at the last real token; LoRA trains a
fraction."""

from __future__ import annotations

import torch

from engine.config import ModelSettings
from engine.ml.loading import load_classifier
from engine.ml.scoring import pooled_logits
from engine.models import resolve_model


def test_local_folder_loads_and_pools_last_real_token(tiny_models):
    model, tok = load_classifier(resolve_model(tiny_models["strong"]))
    model.eval()
    short, long = "good day", "the film was very bad and dull and grim"
    alone = tok([short], return_tensors="pt")
    batch = tok([short, long], return_tensors="pt", padding=True)
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # the short row is padded
    with torch.no_grad():
        a = pooled_logits(model, alone["input_ids"], alone["attention_mask"])
        b = pooled_logits(model, batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(a[0], b[0], atol=1e-5)


def test_lora_trains_a_fraction_of_weights(tiny_models):
    model, _ = load_classifier(resolve_model(tiny_models["strong"]), ModelSettings(lora=True, lora_r=4))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < trainable < 0.5 * total


def test_trained_weights_load_in_fp32_and_frozen_ones_keep_their_dtype_only_on_a_gpu():
    from engine.config import TrainConfig
    from engine.ml.loading import weights_dtype

    for settings in (TrainConfig(), TrainConfig(lora=True), TrainConfig(dtype="bfloat16")):
        assert weights_dtype(settings, trainable=True) == torch.float32
        assert weights_dtype(settings, trainable=False) == torch.float32  # no CUDA here: fp32 everywhere


def test_qlora_and_multi_gpu_loading_are_refused_without_a_gpu_with_the_fix(store, tiny_models):
    import pytest

    from engine.config import ConfigError, TrainConfig, config_from_dict
    from engine.ml.loading import load_kwargs
    from engine.run.execute import run_local

    with pytest.raises(ConfigError, match="quantization=4bit .*needs a CUDA GPU.* Fix: set quantization: none"):
        load_kwargs(TrainConfig(lora=True, quantization="4bit"), trainable=True)
    with pytest.raises(ConfigError, match="device_map=auto .* Fix: set device_map: none"):
        load_kwargs(TrainConfig(device_map="auto"), trainable=True)
    cfg = {"task": {"name": "toy_sentiment", "n": 64}, "weak": tiny_models["weak"], "strong": tiny_models["strong"],
           "methods": ["naive"], "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3,
                                           "roles": {"student": {"lora": True, "quantization": "4bit"}}}}
    (spec,) = config_from_dict(cfg).expand()
    run_id, status, message = run_local(spec, store, progress=False)
    assert status == "failed" and message.startswith("train.quantization=4bit (QLoRA) needs a CUDA GPU")
    assert {s["role"] for s in store.run(run_id)["stages"] if s["status"] == "done"} == {"weak", "ceiling"}


def test_the_training_collator_pads_exactly_as_the_tokenizers_own_collator_on_either_side(tiny_models):
    from transformers import DataCollatorWithPadding

    from engine.ml.scoring import PadCollator, pad_batch, tokenize

    _, tok = load_classifier(resolve_model(tiny_models["strong"]))
    rows, _ = tokenize(tok, ["good day", "the film was very bad and dull and grim", "bad"], 64)
    for row, label in zip(rows, (0.25, 1.0, 0.0)):
        row["labels"] = label
    for side in ("right", "left"):
        tok.padding_side = side
        ours, theirs = PadCollator(tok)(rows), DataCollatorWithPadding(tok)(rows)
        assert set(ours) == set(theirs) == {"input_ids", "attention_mask", "labels"}
        for key in ours:
            assert ours[key].dtype == theirs[key].dtype and torch.equal(ours[key], theirs[key]), (side, key)
        ids, mask = pad_batch(tok, rows)
        assert torch.equal(ids, theirs["input_ids"]) and torch.equal(mask, theirs["attention_mask"])
        assert mask[2].sum() == len(rows[2]["input_ids"]) and (mask[2][0] == 0) == (side == "left")
