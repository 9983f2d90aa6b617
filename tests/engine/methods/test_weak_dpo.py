"""Preference methods end to end on the offline world (weak_rm, weak_dpo, weak_teacher, delta), the trl steps they"""

from __future__ import annotations

import json

import numpy as np

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


def test_weak_dpo_orients_pairs_by_the_weak_policy_and_records_margins(store):
    run_id, s = run(store, "weak_dpo", settings={"weak_dpo": {"po_epochs": 2}})
    assert s["weak_label_acc"] > 0.6
    weak_b = store.predictions_page(run_id, split="B", role="weak", limit=10_000)[0]
    assert s["weak_flipped_pairs"] == int((weak_b["weak_prob"] < 0.5).sum())
    recs = outputs(store, run_id, "weak", split="B")
    assert all({"margin_init", "margin_ref", "margin", "implicit_margin"} <= set(r) for r in recs)
    # DPO on A moved the weak policy: its margins on B are not the untrained ones.
    assert np.mean([abs(r["margin"] - r["margin_init"]) for r in recs]) > 0.01
