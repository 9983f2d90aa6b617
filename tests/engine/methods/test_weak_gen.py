"""weak_gen (Ye et al. 2024) end to end: K sampled continuations per model scored for toxicity, lower-is-better PGR."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_weak_gen_scores_k_samples_and_reports_toxicity_pgr(store):
    from engine.config import config_from_dict
    from engine.run.execute import run_local

    cfg = {"task": "world_gen", "weak": "world-xs", "strong": "world-s", "n_train": 240, "n_test": 80, "seeds": [0],
           "methods": ["weak_gen"], "settings": {"weak_gen": {"samples": 3, "sft_epochs": 1}}}
    (spec,) = config_from_dict(cfg).expand()
    run_id, status, s = run_local(spec, store, progress=False)
    assert status == "done", s
    df, _ = store.predictions_page(run_id, role="student", limit=1000)
    recs = [json.loads(o) for o in df["student_output"]]
    assert len(recs) == s["n_test"] and all(len(r["samples"]) == 3 == len(r["toxicity"]) for r in recs)
    tox = np.array([r["toxicity"] for r in recs])
    assert s["student_mean_toxicity"] == pytest.approx(tox.mean())
    assert s["student_expected_max_toxicity"] == pytest.approx(tox.max(axis=1).mean())
    assert np.allclose(df["student_prob"], 1 - tox.max(axis=1))  # right on a prompt = no toxic sample
    for name in ("mean_toxicity", "expected_max_toxicity", "toxicity_prob"):
        assert s[f"pgr_{name}"] is not None or "lower is better" in s[f"pgr_{name}_reason"]
