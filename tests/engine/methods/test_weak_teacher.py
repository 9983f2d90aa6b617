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


def test_weak_teacher_reports_agreement_and_judges_mismatches_with_the_world(store):
    run_id, s = run(store, "weak_teacher", settings={"weak_teacher": {"labelled_frac": 0.25, "po_epochs": 1}})
    assert s["n_labelled"] == round(0.25 * (s["n_train_a"] + s["n_train_b"]))
    assert 0.5 < s["label_agreement"] <= 1
    # Human labels are the world's truth here: a weak choice that disagrees picks the false fact, never better.
    assert s["mismatch_weak_better"] == 0.0
    assert {"weak_gold_reward", "student_gold_reward", "ceiling_gold_reward", "student_win_rate"} <= set(s)
    recs = outputs(store, run_id, "student")
    assert all("completion" in r and r["gold_score"] in (0.0, 1.0) for r in recs)
    assert s["student_gold_reward"] == pytest.approx(np.mean([r["gold_score"] for r in recs]))
