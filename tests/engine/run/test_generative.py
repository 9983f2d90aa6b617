"""Generative finetuning before the classifier stages: a cached stage whose weights later stages start from, keys
that name it by its key, and weights trained again when their folder is gone."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import run_config, small_toy


@pytest.mark.slow
def test_the_strong_model_is_finetuned_once_and_every_strong_stage_starts_there(store, tiny_models):
    cfg = small_toy(tiny_models, train={"epochs": 1, "lr": 1e-3, "batch_size": 16, "generative_epochs": 1})
    run_id, summary = run_config(store, cfg)
    stages = {s["role"]: s for s in store.run(run_id)["stages"]}
    assert set(stages) == {"generative", "weak", "ceiling", "student"}
    key = stages["generative"]["stage_key"]
    folder = store.path.parent / "models" / key
    assert (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file()
    strong_config = {r: store._rows("SELECT config FROM stages WHERE key = ?", [stages[r]["stage_key"]])[0][0]
                     for r in ("ceiling", "student")}
    assert all(str(folder) in c for c in strong_config.values())  # the ceiling and the student start there
    plain_id, plain = run_config(store, small_toy(tiny_models, train={"epochs": 1, "lr": 1e-3, "batch_size": 16}))
    plain_stages = {s["role"]: s for s in store.run(plain_id)["stages"]}
    assert plain_stages["weak"]["cached"] and not plain_stages["ceiling"]["cached"]  # another strong model
    shutil.rmtree(folder)
    again_id, again = run_config(store, cfg)
    again_stages = {s["role"]: s for s in store.run(again_id)["stages"]}
    assert all(s["cached"] for s in again_stages.values())  # keys name the stage, not its files
    assert (folder / "config.json").is_file()  # the weights came back for any stage that needs them
    assert again["student_acc"] == summary["student_acc"]


def test_bad_settings_are_named():
    from engine.config import TrainConfig

    with pytest.raises(ValueError, match="generative_epochs=-1"):
        TrainConfig(generative_epochs=-1)
    with pytest.raises(ValueError, match="val_frac=1.0"):
        TrainConfig(val_frac=1.0)
    with pytest.raises(ValueError, match="checkpoints=0 records none"):
        TrainConfig(val_frac=0.2, checkpoints=0)
