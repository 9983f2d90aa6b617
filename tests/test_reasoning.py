"""Weak-to-strong reasoning (progressive_refine): answer extraction on real-format strings, the Stage I selection and
Stage II pair rules on hand-built samples, the hub loaders on local files in the hub's format, the arithmetic
world, and the method end to end on the shipped arithmetic zoo.

    .venv/bin/python -m pytest -q tests/test_reasoning.py -p no:cacheprovider
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.methods.progressive_refine import build_pairs, pass_at_k, select_consistent
from engine.registry import TASKS
from engine.tasks._answers import gsm8k_answer, math_answer, normalize_number


# ----------------------------------------------------------------------------- answers
@pytest.mark.parametrize("text,expected", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
    ("He pays 1,200 + 600 = $1,800.\n#### 1,800", "1800"),
    ("The total is $18.00\n#### $18.00", "18"),
    ("so the answer is negative\n#### -4.", "-4"),
    ("#### 3.50", "3.5"),
    ("no marker here: 42", ""),
])
def test_gsm8k_answers(text, expected):
    assert gsm8k_answer(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("The slope is $\\frac{1}{2}$.\nThe answer is: \\frac{1}{2}", "\\frac{1}{2}"),
    ("Thus the area is $\\boxed{12\\pi}$.", "12\\pi"),
    ("We get $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$", "(3,\\frac{\\pi}{2})"),
    ("So $x = \\boxed{\\dfrac{3}{4}}$", "\\frac{3}{4}"),
    ("The answer is 1,000.", "1000"),
    ("nothing boxed", ""),
])
def test_math_answers(text, expected):
    assert math_answer(text) == expected


def test_normalize_number():
    assert [normalize_number(x) for x in ("1,234", "$5", "2.50", "7.", "x")] == ["1234", "5", "2.5", "7", "x"]


def test_arith_answers_and_solutions():
    import random

    from engine.worlds.arith import extract_answer, make_problem, question, solution, solve

    p = make_problem(random.Random(3))
    text = solution(p)
    assert extract_answer(text) == str(solve(p)) and question(p).startswith("Q: ") and question(p).endswith(" A:")
    assert extract_answer(" 3 + 4 = 7 . #### 7 . #### 9") == "9" and extract_answer(" 3 + 4 = 7 .") == ""


# ----------------------------------------------------------------------------- the two rules
def test_stage1_keeps_only_equal_non_empty_answers():
    assert select_consistent(["7", "", "3", "5"], ["7", "", "4", "5"]).tolist() == [True, False, False, True]


SAMPLES = [f"s{i}" for i in range(10)]


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


# ----------------------------------------------------------------------------- hub loaders on local copies
def test_gsm8k_loader_reads_the_hub_format(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "gsm8k" / "main"
    folder.mkdir(parents=True)
    rows = [{"question": f"Tom has {i} apples and buys 2 more. How many?", "answer": f"{i}+2={i + 2}\n#### {i + 2}"}
            for i in range(10)]
    pd.DataFrame(rows).to_parquet(folder / "train-00000-of-00001.parquet")
    pd.DataFrame(rows[:4]).to_parquet(folder / "test-00000-of-00001.parquet")
    task = TASKS.get("gsm8k")
    pools = task(task.Config(data_files=str(folder))).load()
    e = pools["train"][3]
    assert e.text == "Question: Tom has 3 apples and buys 2 more. How many?\nAnswer:" and e.meta["answer"] == "5"
    assert e.meta["completion"] == " 3+2=5\n#### 5" and len(pools["test"]) == 4
    assert task.extract_answer(e.meta["completion"]) == e.meta["answer"]


def test_hendrycks_math_loader_reads_the_hub_format(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "math" / "algebra"
    folder.mkdir(parents=True)
    rows = [{"problem": f"Solve $x + {i} = 2{i}$.", "solution": f"Subtract: $x = \\boxed{{{19 * i + i}}}$.",
             "level": "Level 2", "type": "Algebra"} for i in range(1, 9)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:3]))
    task = TASKS.get("hendrycks_math")
    pools = task(task.Config(data_files=str(folder))).load()
    e = pools["train"][0]
    assert e.text.startswith("Question: Solve $x + 1 = 21$.") and e.meta["answer"] == "20"
    assert e.meta["completion"].endswith("\nThe answer is: 20") and e.meta["level"] == "Level 2"
    assert task.extract_answer(e.meta["completion"]) == "20"
    with pytest.raises(Exception, match="subject"):
        task.Config(subject="astrology")


def test_arith_sums_problems_are_distinct_and_seeded():
    task = TASKS.get("arith_sums")
    a = task(task.Config(n=300)).load()["train"]
    b = task(task.Config(n=300)).load()["train"]
    assert [e.id for e in a] == [e.id for e in b] and len({e.text for e in a}) == 300
    assert all(task.extract_answer(e.meta["completion"]) == e.meta["answer"] for e in a)


# ----------------------------------------------------------------------------- the arithmetic zoo
def test_shipped_arith_zoo_matches_its_manifest_and_loads_offline():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.paths import arith_dir
    from engine.worlds.facts.build import sha256

    manifest = json.loads((arith_dir() / "manifest.json").read_text())
    assert set(manifest["models"]) == {"s", "l"}
    for size, entry in manifest["models"].items():
        for name, digest in entry["files"].items():
            assert sha256(arith_dir() / size / name) == digest, f"{size}/{name} differs from the manifest"
    assert manifest["models"]["l"]["solve_rate"] > manifest["models"]["s"]["solve_rate"]  # strong base is stronger
    tok = AutoTokenizer.from_pretrained(arith_dir() / "s")
    model = AutoModelForCausalLM.from_pretrained(arith_dir() / "s")
    assert model.config.n_positions == 128 and tok("Q: 3 + 4 A:")["input_ids"][0] == tok.convert_tokens_to_ids("Q:")


def test_reduced_arith_family_builds(tmp_path):
    from engine.worlds.arith.build import build_arith_zoo

    manifest = build_arith_zoo(tmp_path, scale=0.01, progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {"s", "l", "manifest.json"}
    assert all(0 <= m["solve_rate"] <= 1 and m["tokens"] > 0 for m in manifest["models"].values())


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
