"""Deception analysis (Yang et al. 2024) on the offline world: an implicit-conflict run shares the plain student's
stage and stores knowledge regions."""

from __future__ import annotations


# ----------------------------------------------------------------------------- a conflict run, offline
def test_implicit_conflict_run_shares_the_plain_student_and_stores_regions(store):
    from engine.config import config_from_dict
    from engine.run.execute import run_local

    base = {"task": "world_pref", "weak": "world-xs", "strong": "world-l", "n_train": 480, "n_test": 160,
            "seeds": [0], "methods": ["weak_rm"], "train": {"epochs": 4, "batch_size": 32}}
    ids = {}
    for conflict in ("none", "implicit"):
        (spec,) = config_from_dict({**base, "settings": {"weak_rm": {"conflict": conflict}}}).expand()
        ids[conflict], status, summary = run_local(spec, store, progress=False)
        assert status == "done", summary
    run = store.run(ids["implicit"])
    stages = {s["role"]: s for s in run["stages"]}
    assert stages["student_noconflict"]["cached"] and stages["weak"]["cached"] and not stages["student"]["cached"]
    plain = {s["role"]: s for s in store.run(ids["none"])["stages"]}["student"]
    assert stages["student_noconflict"]["stage_key"] == plain["stage_key"]
    m = store.run_metrics(ids["implicit"])
    assert m["conflict_pairs"] > 0 and m["ds_c"] is not None or m["new_errors"] == 0
    assert sum(m[f"region_{r}"] for r in ("Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Suk")) == m["n_test"]
    assert sum(m[f"tax_{r}"] for r in ("Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Suk")) == m["new_errors"]
    df, total = store.predictions_page(ids["implicit"], deception=True, limit=10_000)
    assert total == m["deception_cases"] and (df["region"] == "Wuk_Sk").all() and not df["student_correct"].any()
    whole, n = store.predictions_page(ids["implicit"], limit=10_000)
    assert n == m["n_test"] and whole["region"].value_counts().to_dict() == {
        r: int(m[f"region_{r}"]) for r in ("Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Suk") if m[f"region_{r}"]}
