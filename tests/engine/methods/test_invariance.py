"""Every registered method gives the same predictions and metrics whether its stages ran now or came from the cache.

    .venv/bin/python -m pytest -q tests/test_invariance.py

For each method (the registry's, so a new method must add its recipe here): a cold run in an empty database,
then a warm run of the same config whose shared stages were produced by a *different* method's run (the
classification methods share the weak model and the ceiling; probe_relabel's plain student is naive's student).
Methods that share no stage with another method are rerun after their final student stage is dropped, so every
upstream stage comes from the cache and the student is trained again from cached outputs. Both runs must agree
on every role, split, example id, probability and output record, and on every run metric. Runs are small (the
world zoo, a few hundred examples, one or two epochs), in-process against a DuckDB store.
"""

from __future__ import annotations

import json

import pytest

from engine.config import config_from_dict
from engine.registry import METHODS
from engine.run.execute import run_local
from engine.server.store import Store

WORLD = {"task": "world_size", "weak": "world-xs", "strong": "world-s", "seeds": [0], "n_train": 160, "n_test": 64,
         "train": {"epochs": 6, "batch_size": 32}}
PREF = {"task": "world_pref", "weak": "world-xs", "strong": "world-s", "seeds": [0], "n_train": 64, "n_test": 24,
        "train": {"epochs": 1, "batch_size": 32}}
RECIPES = {  # method: (config, the method whose earlier run produces its shared stages, or None)
    "naive": ({**WORLD}, "probe_relabel"),
    "aux_conf": ({**WORLD, "settings": {"aux_conf": {"warmup_frac": 0.1}}}, "naive"),
    "bootstrap": ({**WORLD, "settings": {"bootstrap": {"via": ["world-xs"], "loss": "aux_conf"}}}, "aux_conf"),
    "probe_relabel": ({**WORLD, "settings": {"probe_relabel": {"k": 10}}}, "bootstrap"),
    "prompting": ({**WORLD, "settings": {"prompting": {"k": 2}}}, "linear_probe"),
    "linear_probe": ({**WORLD}, "prompting"),
    "weak_rm": ({**PREF, "settings": {"weak_rm": {"loss": "aux_conf"}}}, None),
    "weak_dpo": ({**PREF, "settings": {"weak_dpo": {"sft_epochs": 1, "po_epochs": 1}}}, None),
    "weak_teacher": ({**PREF, "settings": {"weak_teacher": {"sft_epochs": 1, "po_epochs": 1}}}, None),
    "delta": ({**PREF, "task": "world_gen", "weak": "world-s", "strong": "world-s",
               "settings": {"delta": {"rejected_model": "world-xs"}}}, None),
    "weak_gen": ({**PREF, "task": "world_gen", "settings": {"weak_gen": {"samples": 2, "sft_epochs": 1}}}, None),
    "progressive_refine": ({"task": {"name": "arith_sums", "n": 200}, "weak": "arith-s", "strong": "arith-l",
                            "seeds": [0], "train": {"batch_size": 32, "max_length": 128},
                            "settings": {"progressive_refine": {"n_samples": 4, "temperature": 0.5, "pass_k": 2,
                                                                "sft_epochs": 1, "po_epochs": 1,
                                                                "max_new_tokens": 24}}}, None),
}
_COLD: dict[str, tuple[Store, str, dict]] = {}


def execute(store: Store, method: str) -> str:
    config, _ = RECIPES[method]
    (spec,) = config_from_dict({**config, "methods": [method]}).expand()
    run_id, status, summary = run_local(spec, store, progress=False)
    assert status == "done", summary
    return run_id


def result(store: Store, run_id: str) -> dict:
    """Everything a run reports: every role's rows by split and id (p and output record), and its metrics."""
    rows = {}
    for st in store.run(run_id)["stages"]:
        for split, cols in store.stage_lookup(st["stage_key"]).items():
            outputs = cols.get("output") or [None] * len(cols["id"])
            rows[(st["role"], split)] = {i: (None if p is None or p != p else p, json.loads(o) if o else None)
                                         for i, p, o in zip(cols["id"], cols["prob"], outputs)}
    return {"rows": rows, "metrics": store.run_metrics(run_id)}


def cold(method: str, tmp_path_factory) -> tuple[Store, str, dict]:
    """The method's run in a database of its own (every stage fresh); kept for the warm run that follows it."""
    if method not in _COLD:
        store = Store(tmp_path_factory.mktemp(f"cold-{method}") / "runs.duckdb")
        run_id = execute(store, method)
        _COLD[method] = (store, run_id, result(store, run_id))
    return _COLD[method]


def test_every_registered_method_has_a_recipe():
    assert set(RECIPES) == set(METHODS.names())
    producers = [p for _, p in RECIPES.values() if p]
    assert len(producers) == len(set(producers))  # each producer's database hosts one warm run


@pytest.mark.parametrize("method", sorted(RECIPES))
def test_a_warm_run_gives_what_a_cold_run_gave(method, tmp_path_factory):
    _, _, expected = cold(method, tmp_path_factory)
    producer = RECIPES[method][1]
    if producer is not None:
        store, producer_run, _ = cold(producer, tmp_path_factory)  # the other method's stages sit in its cache
        run_id = execute(store, method)
        stages = {s["role"]: s for s in store.run(run_id)["stages"]}
        theirs = {s["stage_key"] for s in store.run(producer_run)["stages"]}
        reused = [r for r, s in stages.items() if s["cached"]]
        assert {"weak", "ceiling"} <= set(reused) and all(stages[r]["stage_key"] in theirs for r in reused)
    else:
        store, run_id, _ = cold(method, tmp_path_factory)
        student = {s["role"]: s for s in store.run(run_id)["stages"]}["student"]["stage_key"]
        store.con.execute("DELETE FROM stages WHERE key = ?", [student])  # as if only the student's settings moved
        store.con.execute("DELETE FROM predictions WHERE stage_key = ?", [student])
        run_id = execute(store, method)
        stages = {s["role"]: s for s in store.run(run_id)["stages"]}
        assert not stages["student"]["cached"] and all(s["cached"] for r, s in stages.items() if r != "student")
    got = result(store, run_id)
    assert got["rows"].keys() == expected["rows"].keys()
    for where, rows in expected["rows"].items():
        assert got["rows"][where] == rows, f"{method}: {where} differs between the cold and the warm run"
    assert got["metrics"] == expected["metrics"]
