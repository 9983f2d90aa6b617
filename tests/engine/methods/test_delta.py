"""Preference methods end to end on the offline world (weak_rm, weak_dpo, weak_teacher, delta), the trl steps they"""

from __future__ import annotations

import json

import numpy as np
import pytest

SMALL = {"task": "world_pref", "weak": "world-xs", "strong": "world-s", "n_train": 480, "n_test": 160,
         "seeds": [0], "train": {"epochs": 4, "batch_size": 32}}

def run(store, method: str, **over):
    from engine.config import config_from_dict
    from engine.run.execute import run_local

    cfg = {**SMALL, "methods": [method], **over}
    (spec,) = config_from_dict(cfg).expand()
    run_id, status, summary = run_local(spec, store, progress=False)
    assert status == "done", summary
    return run_id, summary

def outputs(store, run_id: str, role: str, split: str = "test") -> list[dict]:
    df, _ = store.predictions_page(run_id, split=split, role=role, limit=10_000)
    return [json.loads(o) for o in df[f"{role}_output"]]


def test_delta_pairs_two_weak_models_and_compares_dpo_with_sft(store):
    run_id, s = run(store, "delta", task="world_gen", weak="world-s", strong="world-l",
                    settings={"delta": {"rejected_model": "world-xs"}})
    assert s["n_pairs"] + s["n_tied_dropped"] == s["n_train_b"]
    assert {"base_acc", "sft_acc", "rejected_acc", "pair_chosen_better"} <= set(s)
    recs = outputs(store, run_id, "student", split="B")
    assert len(recs) == s["n_pairs"] and all(r["chosen"].strip() != r["rejected"].strip() for r in recs)
    assert s["student_margin_up"] == pytest.approx(np.mean([r["margin_after"] > r["margin_before"] for r in recs]))
    assert s["student_margin_up"] > 0.5  # DPO raised the implicit margin on most of its training pairs
    gens = outputs(store, run_id, "base")
    assert s["base_acc"] == pytest.approx(np.mean([r["gold_score"] for r in gens]))
    for role in ("weak", "rejected", "base", "student", "sft", "ceiling"):  # the raw gold score beside the accuracy
        assert s[f"{role}_gold_reward"] == pytest.approx(np.mean([r["gold_score"] for r in outputs(store, run_id, role)]))


def test_delta_refuses_a_task_without_a_gold_scorer(store, tmp_path):
    from engine.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match="gold_scorer='none'"):
        config_from_dict({**SMALL, "methods": ["delta"], "settings": {"delta": {"gold_scorer": "none"}}}).expand()
