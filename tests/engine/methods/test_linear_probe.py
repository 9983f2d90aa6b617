"""The `linear_probe` baseline: soft labels learned exactly (the two weighted copies), and a run on the toy task
whose numbers read back from its stages."""

from __future__ import annotations

import numpy as np
import pytest

from engine.methods.linear_probe import LinearProbeConfig, fit_probe
from tests.helpers import run_config, small_toy


def test_soft_labels_of_zero_and_one_are_hard_labels():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    got = fit_probe(x, y.astype(float), x[:5], l2=1.0, seed=0)
    scaler = StandardScaler().fit(x)
    want = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y).predict_proba(scaler.transform(x[:5]))
    assert np.allclose(got, want[:, 1], atol=1e-4)
    soft = fit_probe(x, np.full(60, 0.5), x[:5], l2=1.0, seed=0)  # no signal in the labels: p = 1/2 everywhere
    assert np.allclose(soft, 0.5, atol=1e-3)
    with pytest.raises(ValueError, match="l2=0"):
        LinearProbeConfig(l2=0)


def test_a_probe_run_reports_the_probes_against_their_stages(store, tiny_models):
    run_id, summary = run_config(store, small_toy(tiny_models, methods=["linear_probe"]))
    keys = {s["role"]: s["stage_key"] for s in store.run(run_id)["stages"]}
    assert set(keys) == {"weak", "ceiling", "student", "probe_gold"}
    acc = {role: store._rows("SELECT avg(correct::INTEGER) FROM predictions WHERE stage_key = ? AND split = 'test'",
                             [keys[role]])[0][0] for role in ("student", "probe_gold")}
    assert summary["student_acc"] == pytest.approx(acc["student"])
    assert summary["probe_gold_acc"] == pytest.approx(acc["probe_gold"])
    again_id, again = run_config(store, small_toy(tiny_models, methods=["linear_probe"]))
    assert all(s["cached"] for s in store.run(again_id)["stages"]) and again["student_acc"] == summary["student_acc"]
