"""engine.deception: knowledge regions, the three deception scores against hand counts, undefined scores with a
reason."""

from __future__ import annotations

import numpy as np
import pytest

from engine.deception import confidence_filter, deception_metrics, knowledge_regions
from engine.metrics import summarize_run

# Ten test examples. W = GT-trained weak model right, S = ceiling right, N = student without conflict right,
# C = student with conflict right.
#        0  1  2  3  4  5  6  7  8  9
W = [1, 1, 1, 0, 0, 0, 0, 0, 1, 0]

S = [1, 1, 0, 1, 1, 1, 1, 0, 1, 0]

N = [1, 1, 0, 1, 1, 1, 0, 0, 1, 1]

C = [1, 0, 0, 0, 0, 1, 0, 0, 1, 0]


def test_regions_follow_the_weak_model_and_the_ceiling():
    regions = knowledge_regions(W, S)
    assert regions.tolist() == ["Wk_Sk", "Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Sk", "Wuk_Sk", "Wuk_Sk", "Wuk_Suk",
                                "Wk_Sk", "Wuk_Suk"]


def test_each_deception_score_against_the_hand_count():
    m = deception_metrics(W, S, C, N)
    assert (m["region_Wk_Sk"], m["region_Wk_Suk"], m["region_Wuk_Sk"], m["region_Wuk_Suk"]) == (3, 1, 4, 2)
    assert m["deception_cases"] == 3 and m["zone_share"] == pytest.approx(4 / 10)
    assert m["ds_a"] == pytest.approx(3 / 4)  # 3 of the 4 examples in S_k ∩ W_uk are wrong
    assert m["ds_b"] == pytest.approx(3 / 7)  # 3 of the student's 7 errors fall there
    assert m["new_errors"] == 4 and m["ds_c"] == pytest.approx(2 / 4)  # 2 of the 4 new errors fall there
    assert (m["tax_Wk_Sk"], m["tax_Wk_Suk"], m["tax_Wuk_Sk"], m["tax_Wuk_Suk"]) == (1, 0, 2, 1)
    assert sum(m[f"tax_share_{r}"] for r in ("Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Suk")) == pytest.approx(1.0)
    assert m["student_err_Wuk_Suk"] == pytest.approx(1.0) and m["student_err_Wk_Sk"] == pytest.approx(1 / 3)


def test_undefined_scores_say_why():
    m = deception_metrics([1, 1], [1, 1], [1, 1])
    assert m["ds_a"] is None and "S_k ∩ W_uk" in m["ds_a_reason"]
    assert m["ds_b"] is None and "no error" in m["ds_b_reason"]
    assert m["ds_c"] is None and "no conflict" in m["ds_c_reason"]
    with pytest.raises(ValueError, match="examples"):
        deception_metrics([1, 0], [1], [1, 0])


def test_summarize_run_carries_the_deception_scores():
    gold = np.ones(10)
    row = summarize_run(np.array(W, float), np.array(C, float), np.array(S, float), gold, n_boot=0,
                        noconflict_prob=np.array(N, float))
    assert row["ds_a"] == pytest.approx(0.75) and row["ds_c"] == pytest.approx(0.5)
    assert "weak_balanced_acc" not in row  # a preference task's gold is all 1: no class-balanced score


def test_confidence_filter_uses_confidence_not_correctness():
    p = np.array([0.9, 0.2, 0.55, 0.45, 0.75, 0.24])
    assert confidence_filter(p, 0.75).tolist() == [True, True, False, False, True, True]
    assert confidence_filter(p, 0).all()
    with pytest.raises(ValueError, match="0.3"):
        confidence_filter(p, 0.3)
