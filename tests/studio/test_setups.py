"""studio.setups: runs grouped by setup (config_key), repeats counted once, the settings that differ, a config diff."""

from __future__ import annotations

import pandas as pd

from studio import setups


def _config(method="naive", seed=0, epochs=10.0, **method_config):
    return {"name": "x", "task": "world_size", "task_config": {}, "weak": "world-xs", "strong": "world-l",
            "method": method, "method_config": method_config, "seed": seed, "train": {"epochs": epochs, "lr": None}}


def test_flatten_and_differing_settings():
    a, b = setups.flatten(_config(epochs=10.0)), setups.flatten(_config(epochs=60.0, seed=1))
    assert a["train.epochs"] == 10 and "seed" in a
    assert setups.differing([a, b]) == ["train.epochs"]  # the seed and the name are not settings of a setup
    aux = setups.flatten(_config("aux_conf", aux_coef=0.75))
    assert setups.differing([a, aux]) == []  # another method lacking aux_conf's settings is no difference
    aux2 = setups.flatten(_config("aux_conf", aux_coef=0.5))
    assert setups.differing([a, aux, aux2]) == ["aux_conf.aux_coef"]


def test_medians_count_each_setup_and_seed_once():
    runs = pd.DataFrame({
        "id": ["r1", "r2", "r3", "r4"], "config_key": ["k", "k", "k", "long"], "seed": [0, 0, 1, 0],
        "created": pd.to_datetime(["2026-01-01", "2026-01-03", "2026-01-02", "2026-01-04"]), "status": ["done"] * 4,
        "pgr": [0.2, 0.4, 0.8, 0.9], "method": ["naive"] * 4, "task": ["t"] * 4, "weak": ["w"] * 4,
        "strong": ["s"] * 4, "student_acc": [0.7] * 4,
        "config": [_config(), _config(), _config(seed=1), _config(epochs=60.0)]})
    kept, repeats = setups.one_per_seed(runs)
    assert repeats == 1 and kept["id"].tolist() == ["r2", "r3", "r4"]  # the newest of the two seed-0 runs of k
    grouped = setups.grouped(runs).set_index("setup")
    assert grouped.loc["k", "runs"] == 3 and grouped.loc["k", "repeats"] == 1 and grouped.loc["k", "seeds"] == "0, 1"
    assert grouped.loc["k", "median PGR"] == 0.6  # median of 0.4 and 0.8, never of 0.2, 0.4 and 0.8
    labels = setups.setup_labels(runs)
    assert labels["k"] == "naive · train.epochs=10.0" and labels["long"] == "naive · train.epochs=60.0"


def test_diff_lists_only_what_differs():
    d = setups.diff(_config(epochs=10), _config(epochs=60, seed=3))
    assert d.to_dict("records") == [{"setting": "seed", "this run": 0, "other run": 3},
                                    {"setting": "train.epochs", "this run": 10, "other run": 60}]
