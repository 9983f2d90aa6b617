"""engine.comparison and the statistics under it (engine.metrics): setups grouped up to the seed, methods paired on
the same seeds, and every number checked against a hand computation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from engine.comparison import compare_table, seed_table
from engine.metrics import mean_ci, median_ci, paired_comparison, seed_summary, sign_test


def test_sign_test_and_intervals_by_hand():
    assert sign_test(5, 0) == pytest.approx(2 / 32)  # 2 * P(X <= 0), X ~ Binomial(5, 1/2)
    assert sign_test(4, 1) == pytest.approx(2 * 6 / 32)
    assert sign_test(0, 0) == 1.0
    lo, hi = mean_ci([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.3027
    assert (lo, hi) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)), rel=1e-5)
    assert mean_ci([1.0]) is None
    assert median_ci([1, 2, 3, 4, 5]) is None  # (min, max) covers 1 - 2/32 = 0.9375 < 0.95
    low, high, coverage = median_ci([5, 1, 4, 2, 3, 6])  # k = 1: coverage 1 - 2/64
    assert (low, high) == (1, 6) and coverage == pytest.approx(1 - 2 / 64)
    s = seed_summary([0.2, None, 0.4, float("nan"), 0.6])
    assert s["n"] == 3 and s["n_undefined"] == 2 and s["mean"] == pytest.approx(0.4) and s["median"] == 0.4


def test_paired_comparison_matches_a_hand_computation():
    a = {0: 0.10, 1: 0.20, 2: 0.30, 3: 0.40, 4: None}
    b = {0: 0.15, 1: 0.30, 2: 0.25, 3: 0.50, 5: 0.9}
    out = paired_comparison(a, b)  # pairs 0..3: differences 0.05, 0.10, -0.05, 0.10
    diffs = [0.05, 0.10, -0.05, 0.10]
    mean = sum(diffs) / 4
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 3)
    half = 3.182446 * sd / 2  # t(0.975, 3)
    assert out["n_pairs"] == 4 and out["n_unpaired"] == 2  # seed 4 undefined on a, seed 5 only on b
    assert out["mean_diff"] == pytest.approx(mean) and out["median_diff"] == pytest.approx(0.075)
    assert (out["diff_ci_low"], out["diff_ci_high"]) == pytest.approx((mean - half, mean + half), rel=1e-5)
    assert (out["wins"], out["losses"], out["ties"]) == (3, 1, 0)
    assert out["sign_p"] == pytest.approx(2 * 5 / 16)  # 2 * P(X <= 1), X ~ Binomial(4, 1/2)


def _runs(rows):
    out = []
    for k, (method, seed, value, extra) in enumerate(rows):
        config = {"task": "toy", "weak": "w", "strong": "s", "method": method, "seed": seed, "name": f"n{k}",
                  "train": {"epochs": 2}, **extra}
        out.append({"id": f"r{k}", "task": "toy", "weak": "w", "strong": "s", "method": method, "seed": seed,
                    "config": config, "value": value})
    return pd.DataFrame(out)


def test_seed_table_groups_by_setup_and_keeps_the_newest_run_of_a_seed():
    df = _runs([("naive", 0, 0.1, {}), ("naive", 1, 0.3, {}), ("naive", 0, 0.5, {}),  # seed 0 again: 0.5 counts
                ("naive", 0, 0.9, {"train": {"epochs": 3}})])                          # another setup
    table = seed_table(df)
    assert len(table) == 2
    first = table.iloc[0]
    assert first["runs"] == "r1,r2" and first["n"] == 2 and first["mean"] == pytest.approx(0.4)
    assert table.iloc[1]["n"] == 1 and pd.isna(table.iloc[1]["mean_ci_low"])  # one seed: no interval


def test_compare_table_pairs_only_setups_that_differ_in_the_method():
    df = _runs([("naive", s, v, {}) for s, v in enumerate([0.1, 0.2, 0.3])]
               + [("aux_conf", s, v, {}) for s, v in enumerate([0.2, 0.4, 0.3])]
               + [("aux_conf", 0, 0.9, {"train": {"epochs": 3}})])  # other training: never paired with naive
    table = compare_table(df, "naive", "aux_conf")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["seeds"] == "0,1,2" and row["n_pairs"] == 3
    assert row["mean_diff"] == pytest.approx(0.1) and (row["wins"], row["ties"]) == (2, 1)
    assert row["a_mean"] == pytest.approx(0.2) and row["b_mean"] == pytest.approx(0.3)
    assert len(compare_table(df, "naive")) == 1  # b empty: every other method
    assert compare_table(df.iloc[:0], "naive").empty
