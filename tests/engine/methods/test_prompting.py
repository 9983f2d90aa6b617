"""The `prompting` baseline on the toy task: seeded demonstrations, and accuracies equal to a direct computation
(an unbatched forward pass of the strong model per prompt, read against the weak model's stored labels)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.methods.prompting import PromptingConfig, demonstrations
from engine.ml.prompting import few_shot_prompts
from tests.engine.ml.test_prompting import _direct
from tests.helpers import run_config, small_toy

WORDS = [" bad", " good"]  # words of the toy vocabulary, so the word-level tokenizer knows them


def test_demonstrations_are_seeded_per_query():
    pool = [f"b{i}" for i in range(20)]
    one = demonstrations(pool, ["q1", "q2"], 3, seed=0)
    assert len(one) == 2 and all(len(set(d)) == 3 and set(d) <= set(pool) for d in one)
    assert demonstrations(pool, ["q2"], 3, seed=0) == [one[1]]  # the same query, whatever else is asked
    assert demonstrations(pool, ["q1"], 3, seed=1) != [one[0]]
    assert len(demonstrations(pool[:2], ["q"], 5, seed=0)[0]) == 2
    with pytest.raises(ValueError, match="two words"):
        PromptingConfig(label_words=[" a"])


def test_accuracies_equal_a_direct_computation(store, tiny_models):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = small_toy(tiny_models, methods=["prompting"], settings={"prompting": {"k": 2, "label_words": WORDS}})
    run_id, summary = run_config(store, cfg)
    task = store._rows("SELECT task_version FROM runs WHERE id = ?", [run_id])[0][0]
    texts = dict(store._rows("SELECT example_id, text FROM examples WHERE task_version = ?", [task]))
    gold = dict(store._rows("SELECT example_id, gold FROM examples WHERE task_version = ?", [task]))
    keys = {s["role"]: s["stage_key"] for s in store.run(run_id)["stages"]}
    weak_b = dict(store._rows("SELECT example_id, prob >= 0.5 FROM predictions WHERE stage_key = ? AND split = 'B'",
                              [keys["weak"]]))
    b_ids = [r[0] for r in store._rows("SELECT example_id FROM predictions WHERE stage_key = ? AND split = 'B' "
                                       "ORDER BY position", [keys["weak"]])]
    test = [r[0] for r in store._rows("SELECT example_id FROM predictions WHERE stage_key = ? AND split = 'test' "
                                      "ORDER BY position", [keys["student"]])]
    model = AutoModelForCausalLM.from_pretrained(tiny_models["strong"]).eval()
    tok = AutoTokenizer.from_pretrained(tiny_models["strong"])
    shots = demonstrations(b_ids, test, 2, seed=0)

    def accuracy(labels):
        demos = [[] if labels is None else [(texts[i], WORDS[int(labels[i])]) for i in ids] for ids in shots]
        prompts = few_shot_prompts([texts[i] for i in test], demos, "{text} {label}", "\n")
        right = [(_direct(model, tok, p, WORDS[1]) > _direct(model, tok, p, WORDS[0])) == (gold[i] == 1)
                 for p, i in zip(prompts, test)]
        return float(np.mean(right))

    assert summary["zeroshot_acc"] == pytest.approx(accuracy(None))
    assert summary["student_acc"] == pytest.approx(accuracy(weak_b))  # k weak-labelled demonstrations
    assert summary["fewshot_gold_acc"] == pytest.approx(accuracy(gold))
    assert set(keys) == {"weak", "ceiling", "zeroshot", "student", "fewshot_gold"}
