"""weak_rm end to end on the offline world: soft labels from a weak reward model, rows carrying rewards; kinds
enforced."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import SMALL_PREF, outputs, run_preference


# ----------------------------------------------------------------------------- the methods
def test_weak_rm_soft_labels_beat_chance_and_rows_carry_rewards(store):
    run_id, s = run_preference(store, "weak_rm", strong="world-l")
    assert s["weak_label_acc"] > 0.6  # the weak reward model's labels on B agree with gold above chance
    assert 0.5 < s["weak_acc"] and 0 <= s["student_acc"] <= 1 and s["ceiling_acc"] > s["weak_acc"]
    recs = outputs(store, run_id, "student")
    assert len(recs) == s["n_test"] and all({"reward_chosen", "reward_rejected", "margin"} <= set(r) for r in recs)
    df, _ = store.predictions_page(run_id, split="test", limit=10_000)
    margins = np.array([json.loads(o)["margin"] for o in df["student_output"]])
    assert ((margins > 0) == df["student_correct"].to_numpy(dtype=bool)).all()  # right = chosen scored higher
    train = store.predictions_page(run_id, split="B", role="weak", limit=10_000)[0]
    assert len(train) == s["n_train_b"]


def test_preference_methods_refuse_classification_tasks():
    from engine.config import ConfigError, config_from_dict
    from engine.plan import validate

    for method in ("weak_rm", "weak_dpo", "weak_teacher"):
        (spec,) = config_from_dict({**SMALL_PREF, "task": "world_size", "methods": [method]}).expand()
        with pytest.raises(ConfigError, match="works on preference tasks"):
            validate(spec, check_models=False)
