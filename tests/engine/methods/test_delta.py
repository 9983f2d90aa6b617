"""delta (Geng et al. 2025) end to end on the offline world: pairs of two weak models' completions, DPO against SFT."""

from __future__ import annotations

import json

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


def _released_pairs(path, n: int = 60) -> list[dict]:
    """A released-style pair file on world prompts: the true completion chosen, another entity's rejected."""
    from engine.registry import TASKS

    examples = TASKS.get("world_gen")().load()["train"][:n + 1]
    rows = [{"prompt": e.text, "chosen": e.meta["completion"], "rejected": o.meta["completion"]}
            for e, o in zip(examples, examples[1:]) if e.meta["completion"].strip() != o.meta["completion"].strip()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


@pytest.mark.slow
def test_delta_trains_on_a_released_pair_file_instead_of_generating(store, tmp_path):
    rows = _released_pairs(tmp_path / "pairs.jsonl")
    run_id, s = run_preference(store, "delta", task="world_gen", weak="world-s", strong="world-s", n_train=64, n_test=48,
                    settings={"delta": {"rejected_model": "world-xs", "pairs": str(tmp_path / "pairs.jsonl"),
                                        "sft_baseline": False}})
    assert s["n_pairs"] == len(rows) and s["n_tied_dropped"] == 0
    assert s["pairs_source"] == str(tmp_path / "pairs.jsonl")
    roles = {st["role"]: st for st in store.run(run_id)["stages"]}
    assert {"weak", "rejected", "base", "student", "ceiling"} == set(roles)
    trained = store.stage_lookup(roles["student"]["stage_key"])  # the pairs are the stage's rows, not examples
    recs = [json.loads(o) for o in trained["pairs"]["output"]]
    assert sorted(r["chosen"] for r in recs) == sorted(" " + r["chosen"].lstrip() for r in rows)
    assert s["pair_chosen_better"] > 0.9  # the world's fact checker rates the true side better
    # the two weak models only answered the test prompts
    assert set(store.stage_lookup(roles["weak"]["stage_key"])) == {"test"}


@pytest.mark.slow
def test_delta_takes_a_preference_tasks_own_pairs(store, tmp_path):
    _released_pairs(tmp_path / "pairs.jsonl", n=80)
    run_id, s = run_preference(store, "delta", task={"name": "pairs_file", "path": str(tmp_path / "pairs.jsonl")},
                    weak="world-s", strong="world-s", n_train=None, n_test=None,
                    settings={"delta": {"rejected_model": "world-xs", "pairs": "task", "gold_scorer": "world_facts",
                                        "sft_baseline": False}})
    assert s["n_pairs"] == s["n_train_b"] and s["pairs_source"] == "task" and s["pair_chosen_better"] > 0.9
