"""progressive_refine (Yang, Ma, Liu 2024): Stage I selection and Stage II pair rules by hand, then end to end on the
arithmetic zoo."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.methods.progressive_refine import build_pairs, pass_at_k, select_consistent

SAMPLES = [f"s{i}" for i in range(10)]


# ----------------------------------------------------------------------------- the two rules
def test_stage1_keeps_only_equal_non_empty_answers():
    assert select_consistent(["7", "", "3", "5"], ["7", "", "4", "5"]).tolist() == [True, False, False, True]


@pytest.mark.parametrize("answers,weak,outcome,pairs", [
    (["1"] * 5 + ["2"] * 5, "1", "low_conf", []),                      # c = 0.5 < 0.6: skip
    ([""] * 7 + ["2"] * 3, "2", "empty_majority", []),                 # the majority gave no answer
    (["7"] * 8 + ["3", "4"], "7", "weak_chosen", [("W", "s8", "weak_chosen")]),  # weak = majority
    (["7"] * 10, "7", "too_easy", []),                                 # weak = majority, no other sample
    (["7"] * 9 + ["3"], "3", "weak_rejected", [("s0", "W", "weak_rejected")]),  # c = 0.9 >= tau
    (["7"] * 7 + ["3"] * 3, "3", "weak_disagrees", []),                # c = 0.7 < tau: skip
])
def test_stage2_pair_rules_on_every_branch(answers, weak, outcome, pairs):
    made, info = build_pairs("W", weak, SAMPLES, answers, min_conf=0.6, tau=0.8, max_pairs=1)
    assert info["outcome"] == outcome and made == pairs
    assert info["confidence"] == pytest.approx(max(answers.count(a) for a in set(answers)) / 10)


def test_stage2_makes_up_to_max_pairs_with_distinct_samples():
    made, _ = build_pairs("W", "7", ["a", "b", "b", "c", "d"], ["7", "7", "7", "3", "4"], 0.6, 0.8, max_pairs=3)
    assert made == [("W", "c", "weak_chosen"), ("W", "d", "weak_chosen")]
    made, _ = build_pairs("W", "1", ["a", "a", "b", "c", "d"], ["7", "7", "7", "7", "1"], 0.6, 0.8, max_pairs=3)
    assert [m[0] for m in made] == ["a", "b", "c"]  # duplicates of a sample count once


def test_pass_at_k():
    assert pass_at_k([["1", "2"], ["3", "3"], ["", "5"]], ["2", "4", "5"]) == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- the method end to end
def test_progressive_refine_end_to_end_on_the_arithmetic_zoo(store):
    from engine.config import config_from_dict
    from engine.run.execute import run_local

    cfg = {"task": {"name": "arith_sums", "n": 400}, "weak": "arith-s", "strong": "arith-l", "seeds": [0],
           "methods": ["progressive_refine"], "train": {"batch_size": 32, "max_length": 128},
           "settings": {"progressive_refine": {"n_samples": 6, "temperature": 0.5, "pass_k": 4, "sft_epochs": 2,
                                               "po_epochs": 1}}}
    (spec,) = config_from_dict(cfg).expand()
    run_id, status, s = run_local(spec, store, progress=False)
    assert status == "done", s
    roles = {st["role"] for st in store.run(run_id)["stages"]}
    assert roles == {"weak", "stage1", "student", "ceiling"}
    n_b = s["n_train_b"]
    outcomes = [k for k in s if k.startswith("stage2_") and k.removeprefix("stage2_") in
                ("low_conf", "empty_majority", "too_easy", "weak_chosen", "weak_rejected", "weak_disagrees")]
    assert sum(s[k] for k in outcomes) == n_b  # every B question got exactly one Stage II outcome
    df, _ = store.predictions_page(run_id, split="B", role="stage1", limit=1000)
    sel = [json.loads(o) for o in df["stage1_output"]]
    assert sum(r["selected"] for r in sel) == s["stage1_selected"] > 0
    assert all(r["weak_answer"] == r["icl_answer"] != "" for r in sel if r["selected"])
    assert all(len(r["samples"]) == 6 == len(r["sample_answers"]) for r in sel)
    df, _ = store.predictions_page(run_id, split="B", role="student", limit=1000)
    rows = [json.loads(o) for o in df["student_output"]]
    weak_b = {i: json.loads(o)["solution"] for i, o in zip(*store.predictions_page(
        run_id, split="B", role="weak", limit=1000)[0][["example_id", "weak_output"]].T.values)}
    pairs = [(i, p) for i, r in zip(df["example_id"], rows) for p in r["pairs"]]
    assert len(pairs) == s["stage2_pairs"] > 0
    for example_id, p in pairs:  # the weak solution is always one side: chosen or rejected by the rules
        side = p["chosen"] if p["role"] == "weak_chosen" else p["rejected"]
        assert side == weak_b[example_id] and "margin_before" in p and "margin_after" in p
    assert 0 <= s["stage1_selected_label_acc"] <= 1 and 0 <= s["stage2_chosen_label_acc"] <= 1
    test = store.predictions_page(run_id, role="ceiling", limit=1000)[0]
    recs = [json.loads(o) for o in test["ceiling_output"]]
    gold = {e: a for e, a in zip(test["example_id"], test["meta"].map(lambda m: json.loads(m)["answer"]))}
    assert s["ceiling_pass_k"] == pytest.approx(np.mean([gold[e] in r["pass_k_answers"]
                                                         for e, r in zip(test["example_id"], recs)]))
    assert s["stage1_pgr"] is not None or "undefined" in s["stage1_pgr_reason"]


def test_votes_and_selection_count_equivalent_answers_together():
    from engine.tasks._answers import math_equal

    assert select_consistent(["\\frac{1}{2}", "3"], ["0.5", "4"], math_equal).tolist() == [True, False]
    answers = ["0.5", "\\frac{1}{2}", "\\frac12", "1", "2"]  # three votes for one half: c = 0.6
    made, info = build_pairs("W", "1/2", SAMPLES[:5], answers, 0.6, 0.8, 1, math_equal)
    assert info["confidence"] == pytest.approx(0.6) and info["outcome"] == "weak_chosen"
    assert pass_at_k([["0.50", "x"]], ["\\frac{1}{2}"], math_equal) == 1.0
