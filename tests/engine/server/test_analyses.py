"""Training dynamics end to end on the toy task (real training, a real DuckDB file): the evaluation points exist at
the configured checkpoints, the last equals the stored prediction, weak-validated early stopping picks what its
rule says, a cached run reads the same points back, and the analyses read them (summary, trajectory, cartography,
statistics across seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.dynamics import checkpoint_steps, select_checkpoint
from tests.helpers import run_config, small_toy

TRAIN = {"epochs": 2, "lr": 1e-3, "batch_size": 16, "checkpoints": 3, "val_frac": 0.25, "select": "agreement"}


@pytest.fixture(scope="module")
def dyn(tmp_path_factory, tiny_models):
    from engine.server.store import Store

    store = Store(tmp_path_factory.mktemp("dyn") / "runs.duckdb")
    cfg = small_toy(tiny_models, train=TRAIN)
    first = run_config(store, cfg)
    again = run_config(store, cfg)
    yield store, first, again
    store.close()


def _stage_keys(store, run_id):
    return {s["role"]: s["stage_key"] for s in store.run(run_id)["stages"]}


def test_points_exist_at_the_configured_checkpoints_and_the_last_is_the_prediction(dyn):
    store, (run_id, summary), _ = dyn
    keys = _stage_keys(store, run_id)
    # B: 48 examples, 12 held out, 36 rows a student epoch of 3 steps: 6 steps, points after steps 2, 4, 6.
    pts = store._df("SELECT split, checkpoint, any_value(step) AS step, count(*) AS n FROM dynamics "
                    "WHERE stage_key = ? GROUP BY ALL ORDER BY split, checkpoint", [keys["student"]])
    assert sorted(set(pts["split"])) == ["B", "test", "val"]
    assert pts[pts.split == "test"]["step"].tolist() == checkpoint_steps(6, 3) == [2, 4, 6]
    assert dict(zip(pts[pts.checkpoint == 0]["split"], pts[pts.checkpoint == 0]["n"])) == {"B": 36, "test": 48,
                                                                                            "val": 12}
    for role in ("weak", "ceiling", "student"):
        last = store._df("SELECT d.split, d.example_id, d.prob AS dyn, p.prob AS pred FROM dynamics d JOIN predictions p "
                         "ON p.stage_key = d.stage_key AND p.split = d.split AND p.example_id = d.example_id "
                         "WHERE d.stage_key = ? AND d.checkpoint = 2", [keys[role]])
        assert len(last) > 0 and np.array_equal(last["dyn"].to_numpy(), last["pred"].to_numpy()), role


def test_early_stopping_picks_the_checkpoint_its_rule_says(dyn):
    store, (run_id, summary), _ = dyn
    keys = _stage_keys(store, run_id)
    val = store._df("SELECT d.checkpoint, d.example_id, d.prob, w.prob AS weak FROM dynamics d JOIN predictions w "
                    "ON w.stage_key = ? AND w.split = 'B' AND w.example_id = d.example_id "
                    "WHERE d.stage_key = ? AND d.split = 'val' ORDER BY d.checkpoint, d.example_id",
                    [keys["weak"], keys["student"]])
    probs = val.pivot(index="checkpoint", columns="example_id", values="prob").to_numpy()
    labels = val[val.checkpoint == 0]["weak"].to_numpy()  # the weak model's soft labels: what the student learns
    k = select_checkpoint(probs, labels, "agreement")
    assert summary["selected_step"] == [2, 4, 6][k]
    test = store._df("SELECT d.checkpoint, avg(((d.prob >= 0.5) = (e.gold = 1))::INTEGER) AS acc FROM dynamics d "
                     "JOIN examples e ON e.example_id = d.example_id AND e.task_version = (SELECT task_version FROM "
                     "runs WHERE id = ?) WHERE d.stage_key = ? AND d.split = 'test' GROUP BY ALL ORDER BY 1",
                     [run_id, keys["student"]])
    assert summary["student_acc_selected"] == pytest.approx(test["acc"][k])
    assert summary["student_acc_best_test"] == pytest.approx(test["acc"].max())
    assert summary["student_acc"] == pytest.approx(test["acc"].iloc[-1])  # the last checkpoint is the result


def test_a_cached_run_reads_the_same_points_back(dyn):
    store, (run_id, summary), (again_id, again) = dyn
    assert all(s["cached"] for s in store.run(again_id)["stages"])
    for name in ("selected_step", "student_acc_selected", "student_acc_oracle", "student_acc_best_test"):
        assert again[name] == summary[name], name


def test_the_dynamics_summary_splits_accuracy_by_the_weak_label(dyn):
    store, (run_id, summary), _ = dyn
    df = store.dynamics_summary(run_id)
    test = df[(df.role == "student") & (df.split == "test")].sort_values("checkpoint")
    assert test["checkpoint"].tolist() == [0, 1, 2] and (test["n"] == 48).all()
    assert test["accuracy"].iloc[-1] == pytest.approx(summary["student_acc"])
    row = test.iloc[-1]  # accuracy = the two parts weighted by their counts
    n_wrong = row["n_weak_wrong"]
    assert row["accuracy"] == pytest.approx((row["acc_weak_right"] * (48 - n_wrong) +
                                             (row["acc_weak_wrong"] * n_wrong if n_wrong else 0)) / 48)


def test_trajectory_and_cartography(dyn):
    store, (run_id, summary), _ = dyn
    example = store.predictions_page(run_id, split="test", limit=1)[0]["example_id"].iloc[0]
    traj = store.trajectory(run_id, example)
    assert set(traj["role"]) == {"weak", "ceiling", "student"} and len(traj) == 9
    assert np.allclose(traj["p_gold"], np.where(traj["gold"] == 1, traj["prob"], 1 - traj["prob"]))
    cart = store.cartography(run_id, "test")
    assert len(cart) == 48 and (cart["points"] == 3).all()
    assert cart["confidence"].between(0, 1).all() and set(cart["region"]) <= {"easy", "hard", "ambiguous"}
    assert cart["quadrant"].notna().all()
    assert len(store.cartography(run_id, "B", label="weak")) == 48  # its training rows and the held-out slice
    with pytest.raises(ValueError, match="not one of gold, weak"):
        store.cartography(run_id, "test", label="silver")


def test_seed_values_feed_the_statistics(dyn):
    store, (run_id, summary), (again_id, _) = dyn
    df = store.seed_values("pgr")
    assert df["id"].tolist() == [run_id, again_id] and df["config"].iloc[0]["method"] == "naive"
    assert store.seed_values("pgr", visible_to="nobody").empty  # owned by the local user, not public


def test_recording_the_points_changes_no_prediction(tmp_path, tiny_models):
    """Evaluating between optimizer steps draws nothing and trains nothing: the same student with and without
    its evaluation points predicts the same."""
    from engine.server.store import Store

    store = Store(tmp_path / "runs.duckdb")
    try:
        probs = {}
        for points in (0, 4):
            train = {"epochs": 2, "lr": 1e-3, "batch_size": 16, "checkpoints": points}
            run_id, _ = run_config(store, small_toy(tiny_models, train=train))
            key = _stage_keys(store, run_id)["student"]
            probs[points] = store._df("SELECT prob FROM predictions WHERE stage_key = ? AND split = 'test' "
                                      "ORDER BY position", [key])["prob"].to_numpy()
        assert np.allclose(probs[0], probs[4], atol=1e-6)
    finally:
        store.close()
