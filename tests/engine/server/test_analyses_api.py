"""The analyses routes on the real engine (a subprocess with a worker): dynamics recorded through the worker's
events and read back from the cache over HTTP, and the statistics across seeds."""

from __future__ import annotations

import pytest

from engine.client import EngineError
from tests.helpers import toy_config


def test_an_unknown_run_has_no_dynamics(engine):
    for read in (engine.client.dynamics, engine.client.analysis):
        with pytest.raises(EngineError) as err:
            read("rnosuchrun00")
        assert err.value.status == 404


@pytest.mark.slow
def test_dynamics_and_statistics_over_http(engine, tiny_models):
    c = engine.client
    train = {"epochs": 1, "lr": 1e-3, "batch_size": 16, "checkpoints": 2, "val_frac": 0.2}
    cfg = toy_config(tiny_models, n=120, methods=["naive", "aux_conf"], seeds=[0, 1], train=train)
    runs = c.wait_for(c.submit(cfg).run_ids, timeout=300)
    assert [r.status for r in runs] == ["done"] * 4, [r.error for r in runs]
    run = next(r for r in runs if r.method == "naive" and r.seed == 0)
    dyn = c.dynamics(run.id).data
    student = [k for k, (role, split) in enumerate(zip(dyn["role"], dyn["split"])) if (role, split) ==
               ("student", "test")]
    assert [dyn["checkpoint"][k] for k in student] == [0, 1]
    metrics = c.metrics(run.id)
    assert dyn["accuracy"][student[-1]] == pytest.approx(metrics["student_acc"])
    assert metrics["selected_step"] in [dyn["step"][k] for k in student]
    example = c.predictions(run.id, limit=1).data["example_id"][0]
    assert set(c.trajectory(run.id, example).data["role"]) == {"weak", "ceiling", "student"}
    assert len(c.cartography(run.id).data["example_id"]) == metrics["n_test"]
    # The same config again: every stage from the cache, early stopping from the points the worker reads back.
    (again,) = [r for r in c.wait_for(c.submit({**cfg, "methods": ["naive"], "seeds": [0]}).run_ids, timeout=120)]
    assert again.status == "done" and all(s["cached"] for s in again.stages)
    assert c.metrics(again.id)["student_acc_selected"] == metrics["student_acc_selected"]
    # Statistics on student_acc (always defined; a 1-epoch toy run's PGR may not be). Other tests' runs on this
    # engine are other setups: only the rows holding these runs are read.
    seeds = c.seed_stats("student_acc").data
    ours = [k for k, runs_of in enumerate(seeds["runs"]) if {r.id for r in runs} & set(runs_of.split(","))]
    assert sorted(seeds["method"][k] for k in ours) == ["aux_conf", "naive"]
    assert [seeds["n"][k] for k in ours] == [2, 2]  # the rerun replaces the first run of seed 0
    setup = next(seeds["setup"][k] for k in ours if seeds["method"][k] == "naive")
    table = c.compare("naive", "aux_conf", metric="student_acc").data
    row = table["setup_a"].index(setup)
    assert table["n_pairs"][row] == 2 and table["seeds"][row] == "0,1"
    # The studio's Results section in one request: the same tables as the three reads it replaces.
    both = c.analysis(run.id, metric="student_acc")
    assert both.run.id == run.id and both.run.method == "naive"
    assert both.dynamics == c.dynamics(run.id)
    assert both.seeds == c.seed_stats("student_acc", task=run.task)
    assert both.paired == c.compare("naive", None, metric="student_acc", task=run.task)
    assert "aux_conf" in both.paired.data["b"]
