"""delta (Geng et al. 2025) end to end on the offline world: pairs of two weak models' completions, DPO against SFT."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import SMALL_PREF, outputs, run_preference


def test_delta_pairs_two_weak_models_and_compares_dpo_with_sft(store):
    run_id, s = run_preference(store, "delta", task="world_gen", weak="world-s", strong="world-l",
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
        config_from_dict({**SMALL_PREF, "methods": ["delta"], "settings": {"delta": {"gold_scorer": "none"}}}).expand()
