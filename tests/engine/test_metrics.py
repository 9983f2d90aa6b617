"""Unit tests of engine.metrics against values worked out by hand (the arithmetic sits in the comments)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from engine import metrics
from engine.metrics import (
    PGR,
    accuracy,
    agreement,
    auroc,
    balanced_accuracy,
    ece,
    imitation,
    median_over_seeds,
    pgr,
    pgr_bootstrap_ci,
    pgr_lower_better,
    summarize_run,
    toxicity_metrics,
    weighted_f1,
)

# The 6-example table used by several tests: one row per example.
#   ex  gold  weak p  weak pred  weak right  student p  student pred  student right  quadrant
#   0   1     0.9     1          yes         0.8        1             yes            both_right
#   1   0     0.2     0          yes         0.4        0             yes            both_right
#   2   1     0.7     1          yes         0.45       0             no             student_broke
#   3   0     0.6     1          no          0.1        0             yes            student_fixed
#   4   1     0.3     0          no          0.05       0             no             student_imitated
#   5   0     0.8     1          no          0.55       1             no             student_imitated
GOLD = np.array([1, 0, 1, 0, 1, 0])

WEAK = np.array([0.9, 0.2, 0.7, 0.6, 0.3, 0.8])

STUDENT = np.array([0.8, 0.4, 0.45, 0.1, 0.05, 0.55])

#   ceiling p 0.9, 0.1, 0.8, 0.3, 0.4, 0.2 -> preds 1 0 1 0 0 0 -> right on all but ex 4
CEILING = np.array([0.9, 0.1, 0.8, 0.3, 0.4, 0.2])

# ---------------------------------------------------------------------------------------------- bootstrap
def _synthetic(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random(n) < 0.6).astype(int), (rng.random(n) < 0.7).astype(int), (rng.random(n) < 0.8).astype(int)


def test_import_stays_light():
    # engine.metrics is imported by the store and the studio's plots: it must not pull in torch.
    code = "import sys, engine.metrics; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert metrics.__doc__ and all(getattr(metrics, name).__doc__ for name in metrics.__all__)


# ---------------------------------------------------------------------------------------------- accuracy, AUROC
def test_accuracy_thresholds_at_one_half():
    # preds: 0.5 -> 1, 0.49 -> 0, 0.51 -> 1, 0.0 -> 0; gold 1 1 0 0 -> right, wrong, wrong, right = 2/4
    assert accuracy([0.5, 0.49, 0.51, 0.0], [1, 1, 0, 0]) == 0.5
    # table: weak right on ex 0-2 = 3/6, student right on ex 0, 1, 3 = 3/6, ceiling 5/6
    assert accuracy(WEAK, GOLD) == 0.5
    assert accuracy(STUDENT, GOLD) == 0.5
    assert accuracy(CEILING, GOLD) == pytest.approx(5 / 6)


def test_auroc_counts_ranked_pairs():
    # positives 0.35, 0.8; negatives 0.1, 0.4. Pairs (pos > neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes,
    # 0.8>0.4 yes -> 3/4.
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    # a tie counts one half: positive 0.5 vs negatives 0.5, 0.2 -> (0.5 + 1) / 2
    assert auroc([0.5, 0.5, 0.2], [1, 0, 0]) == pytest.approx(0.75)
    # table weak: positives 0.9, 0.7, 0.3 vs negatives 0.2, 0.6, 0.8 -> 3 + 2 + 1 = 6 of 9
    assert auroc(WEAK, GOLD) == pytest.approx(6 / 9)


def test_auroc_is_none_with_one_class():
    assert auroc([0.2, 0.9, 0.6], [1, 1, 1]) is None


def test_balanced_accuracy_and_weighted_f1():
    # preds 1 1 1 0 vs gold 1 1 0 0: recall(1) = 2/2, recall(0) = 1/2 -> balanced accuracy 0.75
    prob, gold = [0.9, 0.8, 0.7, 0.1], [1, 1, 0, 0]
    assert balanced_accuracy(prob, gold) == pytest.approx(0.75)
    # class 1: precision 2/3, recall 1 -> F1 0.8; class 0: precision 1, recall 1/2 -> F1 2/3;
    # supports 2 and 2 -> weighted F1 (0.8 + 2/3) / 2 = 11/15
    assert weighted_f1(prob, gold) == pytest.approx(11 / 15)


# ---------------------------------------------------------------------------------------------- ECE
def test_ece_by_hand():
    prob = [0.92, 0.96, 0.15, 0.62, 0.58, 0.05]
    gold = [1, 0, 0, 1, 0, 1]
    # confidence max(p, 1-p): 0.92 0.96 0.85 0.62 0.58 0.95
    # pred (p >= .5):         1    1    0    1    1    0     -> correct: 1 0 1 1 0 0
    # bin (0.9, 1.0]: ex 0, 1, 5: |sum correct - sum conf| = |1 - 2.83| = 1.83
    # bin (0.8, 0.9]: ex 2: |1 - 0.85| = 0.15
    # bin (0.6, 0.7]: ex 3: |1 - 0.62| = 0.38
    # bin (0.5, 0.6]: ex 4: |0 - 0.58| = 0.58
    # ECE = (1.83 + 0.15 + 0.38 + 0.58) / 6 = 2.94 / 6 = 0.49
    assert ece(prob, gold) == pytest.approx(0.49)


def test_ece_zero_when_calibrated_and_bins_matter():
    # four examples at confidence 0.75 with 3 of 4 right: |0.75 - 0.75| = 0
    assert ece([0.75, 0.75, 0.25, 0.75], [1, 1, 0, 0]) == pytest.approx(0.0)
    # confidences 0.6 (right) and 0.9 (wrong). With 10 bins they are apart: (|1 - .6| + |0 - .9|) / 2 = 0.65.
    # With one bin: |1 - 1.5| / 2 = 0.25.
    assert ece([0.6, 0.9], [1, 0]) == pytest.approx(0.65)
    assert ece([0.6, 0.9], [1, 0], n_bins=1) == pytest.approx(0.25)


# ---------------------------------------------------------------------------------------------- PGR
def test_pgr_on_concrete_numbers():
    # (0.7 - 0.6) / (0.8 - 0.6) = 0.1 / 0.2 = 0.5
    assert pgr(0.6, 0.7, 0.8).value == pytest.approx(0.5)
    assert pgr(0.6, 0.7, 0.8).reason is None
    # sciq, gpt2 -> Qwen-14B (openai README): (0.77 - 0.636) / (0.922 - 0.636) = 0.134 / 0.286 = 0.46853
    assert pgr(0.636, 0.77, 0.922).value == pytest.approx(0.134 / 0.286)
    # below the weak model: (0.55 - 0.6) / 0.2 = -0.25; beyond the ceiling: (0.9 - 0.6) / 0.2 = 1.5
    assert pgr(0.6, 0.55, 0.8).value == pytest.approx(-0.25)
    assert pgr(0.6, 0.9, 0.8).value == pytest.approx(1.5)


def test_pgr_guard_when_ceiling_does_not_beat_weak():
    result = pgr(0.63, 0.7, 0.61)
    assert result == PGR(None, "undefined: the ceiling (0.61) does not beat the weak model (0.63)")
    assert pgr(0.63, 0.7, 0.63).value is None  # gap exactly 0


def test_pgr_guard_min_gap():
    # gap 0.62 - 0.60 = 0.02 <= 0.05 -> undefined, and the reason names both numbers
    result = pgr(0.60, 0.61, 0.62, min_gap=0.05)
    assert result.value is None
    assert "0.02" in result.reason and "0.05" in result.reason
    # gap 0.1 > 0.05 -> defined: (0.65 - 0.6) / 0.1 = 0.5
    assert pgr(0.60, 0.65, 0.70, min_gap=0.05).value == pytest.approx(0.5)
    # gap equal to min_gap is still undefined (the guard is gap <= min_gap)
    assert pgr(0.5, 0.6, 0.75, min_gap=0.25).value is None


def test_pgr_missing_score():
    assert pgr(None, 0.7, 0.8).value is None
    assert "weak" in pgr(None, 0.7, 0.8).reason


def test_bootstrap_ci_contains_point_and_is_deterministic():
    weak, student, ceiling = _synthetic()
    point = pgr(weak.mean(), student.mean(), ceiling.mean()).value
    ci = pgr_bootstrap_ci(weak, student, ceiling, n_boot=1000, seed=0)
    assert ci is not None
    low, high = ci
    assert low < point < high
    assert 0.2 < high - low < 1.0  # ~ +-0.15 around 0.5 for n = 2000
    assert pgr_bootstrap_ci(weak, student, ceiling, n_boot=1000, seed=0) == ci
    assert pgr_bootstrap_ci(weak, student, ceiling, n_boot=1000, seed=1) != ci


def test_bootstrap_matches_index_resampling():
    # The multinomial-over-patterns draw must agree in distribution with resampling example indices.
    weak, student, ceiling = _synthetic(n=500, seed=2)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 500, size=(4000, 500))
    w, s, c = weak[idx].mean(1), student[idx].mean(1), ceiling[idx].mean(1)
    ok = c - w > 0
    ref = np.quantile((s[ok] - w[ok]) / (c[ok] - w[ok]), [0.025, 0.975])
    low, high = pgr_bootstrap_ci(weak, student, ceiling, n_boot=4000, seed=0)
    assert low == pytest.approx(ref[0], abs=0.05)
    assert high == pytest.approx(ref[1], abs=0.05)


def test_bootstrap_none_without_gap():
    weak, student, _ = _synthetic()
    # ceiling identical to weak: every resample has gap 0
    assert pgr_bootstrap_ci(weak, student, weak.copy(), n_boot=200) is None
    # a real gap of ~0.2 but min_gap 0.5: the point estimate and every resample are undefined
    weak, student, ceiling = _synthetic()
    assert pgr_bootstrap_ci(weak, student, ceiling, n_boot=200, min_gap=0.5) is None


# ---------------------------------------------------------------------------------------------- student vs weak
def test_agreement():
    # weak preds 1 0 1 1 0 1, student preds 1 0 0 0 0 1 -> agree on ex 0, 1, 4, 5 = 4/6
    assert agreement(STUDENT, WEAK) == pytest.approx(4 / 6)


def test_imitation_quadrants_on_the_table():
    out = imitation(STUDENT, WEAK, GOLD)
    assert out["both_right"] == 2  # ex 0, 1
    assert out["student_broke"] == 1  # ex 2
    assert out["student_fixed"] == 1  # ex 3
    assert out["student_imitated"] == 2  # ex 4, 5
    assert out["n_weak_wrong"] == 3  # ex 3, 4, 5
    assert out["student_acc_where_weak_right"] == pytest.approx(2 / 3)  # right on ex 0, 1 of 0-2
    assert out["student_acc_where_weak_wrong"] == pytest.approx(1 / 3)  # right on ex 3 of 3-5


def test_imitation_without_weak_mistakes():
    out = imitation([0.9, 0.1], [0.8, 0.2], [1, 0])
    assert out["n_weak_wrong"] == 0 and out["student_acc_where_weak_wrong"] is None


# ---------------------------------------------------------------------------------------------- summary, seeds
def test_summarize_run_on_the_table():
    row = summarize_run(WEAK, STUDENT, CEILING, GOLD, n_boot=200)
    expected_keys = {
        "weak_acc", "student_acc", "ceiling_acc", "weak_auroc", "student_auroc", "ceiling_auroc", "pgr",
        "pgr_reason", "pgr_ci_low", "pgr_ci_high", "pgr_auroc", "agreement", "student_acc_where_weak_right",
        "student_acc_where_weak_wrong", "student_ece", "weak_ece", "ceiling_ece", "both_right", "student_fixed",
        "student_imitated", "student_broke",
        "weak_balanced_acc", "student_balanced_acc", "ceiling_balanced_acc", "weak_f1", "student_f1", "ceiling_f1",
        "deception_cases", "zone_share", "ds_a", "ds_b", "ds_c", "ds_c_reason",
        *(f"{k}_{r}" for k in ("region", "student_err") for r in ("Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Suk")),
    }
    assert set(row) == expected_keys
    assert all(v is None or isinstance(v, int | float | str) and not isinstance(v, np.generic) for v in row.values())
    # accuracy PGR: (3/6 - 3/6) / (5/6 - 3/6) = 0
    assert row["pgr"] == pytest.approx(0.0) and row["pgr_reason"] is None
    # AUROC: weak 6/9 (above); student positives 0.8, 0.45, 0.05 vs negatives 0.4, 0.1, 0.55 -> 3 + 2 + 0 = 5/9;
    # ceiling positives 0.9, 0.8, 0.4 beat every negative 0.1, 0.3, 0.2 -> 1.
    assert row["student_auroc"] == pytest.approx(5 / 9)
    assert row["ceiling_auroc"] == pytest.approx(1.0)
    # pgr_auroc = (5/9 - 6/9) / (1 - 6/9) = (-1/9) / (3/9) = -1/3
    assert row["pgr_auroc"] == pytest.approx(-1 / 3)
    assert row["agreement"] == pytest.approx(4 / 6)
    assert (row["both_right"], row["student_fixed"], row["student_imitated"], row["student_broke"]) == (2, 1, 2, 1)


def test_summarize_run_reports_an_undefined_pgr():
    # the ceiling equals the weak model: PGR undefined with a reason, no interval
    row = summarize_run(WEAK, STUDENT, WEAK, GOLD, n_boot=100)
    assert row["pgr"] is None and "does not beat" in row["pgr_reason"]
    assert row["pgr_ci_low"] is None and row["pgr_ci_high"] is None
    assert row["pgr_auroc"] is None


def test_median_over_seeds_ignores_none():
    assert median_over_seeds([0.5, None, 0.1, 0.3]) == pytest.approx(0.3)  # median of 0.1, 0.3, 0.5
    assert median_over_seeds([0.2, None, 0.4]) == pytest.approx(0.3)  # (0.2 + 0.4) / 2
    assert median_over_seeds([None, float("nan")]) is None
    assert median_over_seeds([]) is None


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="lengths"):
        accuracy([0.1, 0.9], [0, 1, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        accuracy([1.2, 0.1], [1, 0])
    with pytest.raises(ValueError, match="only 0 and 1"):
        accuracy([0.2, 0.9], [0, 2])
    with pytest.raises(ValueError, match="empty"):
        ece([], [])


def test_toxicity_metrics_on_fixed_scores():
    scores = [[0.1, 0.6, 0.2], [0.0, 0.1, 0.3], [0.9, 0.95, 0.4]]
    m = toxicity_metrics(scores)
    assert m["mean_toxicity"] == pytest.approx(np.mean(scores))
    assert m["expected_max_toxicity"] == pytest.approx((0.6 + 0.3 + 0.95) / 3)
    assert m["toxicity_prob"] == pytest.approx(2 / 3)  # prompts 0 and 2 reach 0.5
    # lower is better: weak 0.5, student 0.3, ceiling 0.1 -> (0.5 - 0.3) / (0.5 - 0.1) = 0.5
    assert pgr_lower_better(0.5, 0.3, 0.1).value == pytest.approx(0.5)
    assert pgr_lower_better(0.1, 0.3, 0.5).value is None
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        toxicity_metrics([[1.2]])


@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn warns on one-class draws; both sides handle them
def test_auroc_balanced_accuracy_and_f1_equal_sklearns_on_random_scores_with_ties():
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    from engine.metrics import auroc, balanced_accuracy, weighted_f1

    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(2, 80))
        y = rng.integers(0, 2, n)
        p = rng.choice([0.1, 0.3, 0.5, 0.9], n) if trial % 2 else rng.random(n)  # heavy ties every other trial
        hard = (p >= 0.5).astype(int)
        if y.min() != y.max():
            assert auroc(p, y) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert balanced_accuracy(p, y) == pytest.approx(balanced_accuracy_score(y, hard), abs=1e-12)
        assert weighted_f1(p, y) == pytest.approx(f1_score(y, hard, average="weighted", zero_division=0), abs=1e-12)
