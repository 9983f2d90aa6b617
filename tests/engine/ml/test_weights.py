"""Kept weights: with train.keep_weights a stage's model (or LoRA adapter) is saved as a Hugging Face folder that
reloads and predicts exactly the probabilities the store holds; the stage keys stay those of a run without it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import config_from_dict
from engine.ml.scoring import predict_probs
from engine.ml.weights import load_kept
from engine.run.execute import run_local
from engine.server.store import Store


def config(tiny_models, **train):
    return {"name": "keep", "task": "toy_sentiment", "weak": tiny_models["weak"], "strong": tiny_models["strong"],
            "methods": ["naive"], "seeds": [0], "n_train": 64, "n_test": 32,
            "train": {"epochs": 1, "lr": 1e-3, "batch_size": 16, "keep_weights": True, **train}}


def stored_test(store, key):
    return store._df("SELECT e.text, p.prob FROM predictions p JOIN stages s ON s.key = p.stage_key "
                     "JOIN examples e ON e.example_id = p.example_id WHERE p.stage_key = ? AND p.split = 'test' "
                     "ORDER BY p.position", [key])


@pytest.mark.parametrize("lora", [False, True], ids=["model", "lora-adapter"])
def test_kept_weights_reload_and_predict_the_stored_probabilities(tmp_path, monkeypatch, tiny_models, lora):
    monkeypatch.setenv("W2S_HOME", str(tmp_path))
    store = Store(tmp_path / "runs.duckdb")
    (spec,) = config_from_dict(config(tiny_models, lora=lora, lora_r=4)).expand()
    run_id, status, out = run_local(spec, store, progress=False)
    assert status == "done", out
    kept = store._df("SELECT * FROM weights ORDER BY role")
    assert sorted(kept.role) == ["ceiling", "student", "weak"] and set(kept.kind) == {"adapter" if lora else "model"}
    for row in kept.itertuples():
        folder = tmp_path / "weights" / row.stage_key
        assert row.path == str(folder) and row.bytes == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        manifest = json.loads((folder / "w2s.json").read_text())
        assert manifest["run_id"] == run_id and manifest["role"] == row.role
        assert (folder / ("adapter_config.json" if lora else "config.json")).is_file()
        assert (folder / "tokenizer.json").is_file()
        model, tok = load_kept(folder)
        test = stored_test(store, row.stage_key)
        probs = predict_probs(model, tok, list(test.text), 7, 512)
        assert len(test) == 32 and np.abs(probs - test.prob.to_numpy()).max() < 1e-6, row.role
    assert not list((tmp_path / "weights").glob(".partial-*"))
    store.close()


def test_keeping_weights_changes_no_stage_key_and_a_cached_stage_says_why_it_has_none(tmp_path, monkeypatch,
                                                                                      tiny_models, capsys):
    monkeypatch.setenv("W2S_HOME", str(tmp_path))
    store = Store(tmp_path / "runs.duckdb")
    (plain,) = config_from_dict(config(tiny_models, keep_weights=False)).expand()
    first, _, _ = run_local(plain, store, progress=False)
    (keep,) = config_from_dict(config(tiny_models)).expand()
    second, status, _ = run_local(keep, store, progress=False)
    assert status == "done"
    a, b = store.run(first)["stages"], store.run(second)["stages"]
    assert {s["role"]: s["stage_key"] for s in a} == {s["role"]: s["stage_key"] for s in b}
    assert all(s["cached"] for s in b) and store._rows("SELECT count(*) FROM weights")[0][0] == 0
    assert "came from the cache, so it was not trained now" in capsys.readouterr().err
    store.close()
