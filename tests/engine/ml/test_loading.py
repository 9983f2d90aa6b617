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
