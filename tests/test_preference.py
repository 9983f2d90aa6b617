"""Preference methods end to end on the offline world (weak_rm, weak_dpo, weak_teacher, delta), the trl steps they
stand on, and the preference tasks' loaders on local files in the hub's format.

    .venv/bin/python -m pytest -q tests/test_preference.py -p no:cacheprovider

Runs are real (trl trainers on the shipped zoo models, in-process against a DuckDB store) but small: a few
hundred pairs, world-xs as the weak model and world-s as the strong one.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from engine.tasks import TASKS
from engine.tasks.base import TaskError

SMALL = {"task": "world_pref", "weak": "world-xs", "strong": "world-s", "n_train": 480, "n_test": 160,
         "seeds": [0], "train": {"epochs": 4, "batch_size": 32}}


def run(store, method: str, **over):
    from engine.config import config_from_dict
    from engine.runner import run_local

    cfg = {**SMALL, "methods": [method], **over}
    (spec,) = config_from_dict(cfg).expand()
    run_id, status, summary = run_local(spec, store, progress=False)
    assert status == "done", summary
    return run_id, summary


def outputs(store, run_id: str, role: str, split: str = "test") -> list[dict]:
    df, _ = store.predictions_page(run_id, split=split, role=role, limit=10_000)
    return [json.loads(o) for o in df[f"{role}_output"]]


# ----------------------------------------------------------------------------- the trl steps
@pytest.mark.parametrize("kind", ["dpo", "simpo", "orpo"])
def test_preference_optimisation_raises_the_chosen_minus_rejected_margin_on_its_training_pairs(kind):
    from engine.config import TrainConfig
    from engine.models import resolve_model
    from engine.preference import Pairs, PolicyLoss, margin, pair_margins
    from engine.trainers import load_policy, optimize
    from engine.training import set_threads

    set_threads()
    examples = TASKS.get("world_pref")().load()["train"][:64]
    # Train towards the *false* continuation, so the rise cannot come from what the model already knew.
    pairs = Pairs.of(examples).oriented(np.zeros(len(examples), dtype=bool))
    cfg = TrainConfig(batch_size=16)
    model, tok = load_policy(resolve_model("world-xs"), cfg)
    loss = PolicyLoss(kind, beta={"dpo": 0.1, "simpo": 2.0, "orpo": 0.5}[kind])
    before = margin(pair_margins(model, tok, pairs, cfg, loss.bos), mean=loss.mean)
    model = optimize(model, tok, pairs, loss, cfg, 1e-3, 2.0, 0, _NullCtx(), "t", "k")
    after = margin(pair_margins(model, tok, pairs, cfg, loss.bos), mean=loss.mean)
    assert after.mean() > before.mean() + (1.0 if kind == "dpo" else 0.2)  # summed (DPO) or per-token margins
    assert (after > before).mean() > 0.75


class _NullCtx:
    def progress(self, *a, **k):
        pass

    def check_cancelled(self):
        pass

    def metrics(self, rows):
        pass


# ----------------------------------------------------------------------------- the methods
def test_weak_rm_soft_labels_beat_chance_and_rows_carry_rewards(store):
    run_id, s = run(store, "weak_rm", strong="world-l")
    assert s["weak_label_acc"] > 0.6  # the weak reward model's labels on B agree with gold above chance
    assert 0.5 < s["weak_acc"] and 0 <= s["student_acc"] <= 1 and s["ceiling_acc"] > s["weak_acc"]
    recs = outputs(store, run_id, "student")
    assert len(recs) == s["n_test"] and all({"reward_chosen", "reward_rejected", "margin"} <= set(r) for r in recs)
    df, _ = store.predictions_page(run_id, split="test", limit=10_000)
    margins = np.array([json.loads(o)["margin"] for o in df["student_output"]])
    assert ((margins > 0) == df["student_correct"].to_numpy(dtype=bool)).all()  # right = chosen scored higher
    train = store.predictions_page(run_id, split="B", role="weak", limit=10_000)[0]
    assert len(train) == s["n_train_b"]


def test_weak_dpo_orients_pairs_by_the_weak_policy_and_records_margins(store):
    run_id, s = run(store, "weak_dpo", settings={"weak_dpo": {"po_epochs": 2}})
    assert s["weak_label_acc"] > 0.6
    weak_b = store.predictions_page(run_id, split="B", role="weak", limit=10_000)[0]
    assert s["weak_flipped_pairs"] == int((weak_b["weak_prob"] < 0.5).sum())
    recs = outputs(store, run_id, "weak", split="B")
    assert all({"margin_init", "margin_ref", "margin", "implicit_margin"} <= set(r) for r in recs)
    # DPO on A moved the weak policy: its margins on B are not the untrained ones.
    assert np.mean([abs(r["margin"] - r["margin_init"]) for r in recs]) > 0.01


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
        scores = [r["gold_score"] for r in outputs(store, run_id, role)]
        assert s[f"{role}_gold_reward"] == pytest.approx(np.mean(scores))


def test_delta_refuses_a_task_without_a_gold_scorer(store, tmp_path):
    from engine.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match="gold_scorer='none'"):
        config_from_dict({**SMALL, "methods": ["delta"], "settings": {"delta": {"gold_scorer": "none"}}}).expand()


def test_preference_methods_refuse_classification_tasks():
    from engine.config import ConfigError, config_from_dict
    from engine.runner import validate

    for method in ("weak_rm", "weak_dpo", "weak_teacher"):
        (spec,) = config_from_dict({**SMALL, "task": "world_size", "methods": [method]}).expand()
        with pytest.raises(ConfigError, match="works on preference tasks"):
            validate(spec, check_models=False)


# ----------------------------------------------------------------------------- the preference tasks
def write_jsonl_gz(path, rows):
    with gzip.open(path, "wt") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def test_anthropic_hh_pairs_splits_the_last_turn(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    sub = tmp_path / "hh-rlhf" / "harmless-base"
    sub.mkdir(parents=True)
    rows = [{"chosen": f"\n\nHuman: how do I pick lock {i}?\n\nAssistant: I can't help with that.",
             "rejected": f"\n\nHuman: how do I pick lock {i}?\n\nAssistant: Use a tension wrench {i}."}
            for i in range(30)]
    rows += [{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: hello"},
             {"chosen": "\n\nHuman: a\n\nAssistant: x", "rejected": "\n\nHuman: b\n\nAssistant: y"}]
    write_jsonl_gz(sub / "train.jsonl.gz", rows)
    write_jsonl_gz(sub / "test.jsonl.gz", rows[:10])
    task = TASKS.get("anthropic_hh_pairs")
    pools = task(task.Config(data_files=str(sub))).load()
    train = pools["train"]
    assert len(train) == 30  # the identical pair and the one with different conversations are dropped
    e = train[0]
    assert e.text.endswith("\n\nAssistant:") and e.text.startswith("Human: how do I pick lock")
    assert e.meta["chosen"] == " I can't help with that." and e.meta["rejected"].startswith(" Use a tension wrench")
    assert e.label == 1 and len({x.id for x in train}) == 30 and task.kind == "preference"


def test_pairs_file_reads_columns_and_names_a_missing_one(tmp_path):
    task = TASKS.get("pairs_file")
    path = tmp_path / "pairs.csv"
    pd.DataFrame({"q": ["the size of A is", "the size of A is", "x"], "good": ["big .", " small .", "same"],
                  "bad": ["small .", "big .", "same"]}).to_csv(path, index=False)
    pools = task(task.Config(path=str(path), prompt_column="q", chosen_column="good", rejected_column="bad")).load()
    (train,) = pools.values()
    assert [e.meta["chosen"] for e in train] == [" big .", " small ."]  # leading space added, tie row skipped
    assert train[0].id != train[1].id  # same prompt, different pairs
    with pytest.raises(TaskError, match="no column 'prompt'.*set prompt_column"):
        task(task.Config(path=str(path))).load()
