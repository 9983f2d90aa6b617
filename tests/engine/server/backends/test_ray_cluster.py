"""The Ray backend on a real Ray cluster on this machine (a head and a second worker node, CPU only): a weak x strong
x seed grid lands with its predictions, each shared stage trained once; a killed Ray worker fails its run and the
engine stays up; cancel; an engine killed mid-sweep is restarted, adopts the runs Ray still holds and marks the
rest interrupted; requeue reuses their stages; a model folder missing on the node fails with the node's name; a node
that dies fails the run it held."""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections import Counter

import pytest

from tests.helpers import EngineProcess, LocalRayCluster, build_tiny_model, free_port, gone, read_db, wait_until

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    c = LocalRayCluster(nodes=2, cpus=1)
    yield c
    c.stop()


@pytest.fixture
def own_cluster():
    """A cluster of its own, for a test that needs both nodes' CPUs free at a known moment (an earlier test's
    cancelled actor can still hold one for a while) or that takes a node down."""
    c = LocalRayCluster(nodes=2, cpus=1)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def grid_models(tmp_path_factory) -> dict[str, str]:
    """Two weak and two strong tiny models, each weak one smaller than each strong one."""
    from engine.tasks.toy import VOCAB

    root = tmp_path_factory.mktemp("grid-models")
    sizes = {"w1": (16, 1), "w2": (24, 1), "s1": (32, 2), "s2": (48, 2)}
    return {name: str(build_tiny_model(root / name, VOCAB, n_embd=d, n_layer=n, seed=d))
            for name, (d, n) in sizes.items()}


def ray_engine(home, cluster, workers: int = 2, port: int = 0) -> EngineProcess:
    return EngineProcess(home, home / "runs.duckdb", workers=workers, port=port,
                         args=("--backend", "ray", "--ray-address", cluster.address), env=cluster.env)


def toy(models, weak, strong, seeds=(0,), epochs: float = 2, n: int = 200, **over) -> dict:
    cfg = {"task": {"name": "toy_sentiment", "n": n}, "weak": weak, "strong": strong, "methods": ["naive"],
           "seeds": list(seeds), "train": {"epochs": epochs, "lr": 1e-3, "batch_size": 16}}
    return {**cfg, **over}


def ray_pid(client, run_id: str) -> int:
    """The pid of the Ray worker process (the run's actor), from the line it streams into the run's log."""
    text = wait_until(lambda: (t := client.log(run_id, max_bytes=100_000)) and "Ray worker pid" in t and t, 60,
                      "the Ray worker's first log line")
    return int(re.search(r"Ray worker pid (\d+)", text).group(1))


def test_a_grid_of_two_weak_by_two_strong_by_two_seeds_lands_on_both_nodes(tmp_path, cluster, grid_models):
    eng = ray_engine(tmp_path, cluster)
    m = grid_models
    try:
        c = eng.client
        assert c.health().backend == "ray"
        reply = c.submit(toy(m, [m["w1"], m["w2"]], [m["s1"], m["s2"]], seeds=(0, 1)))
        assert len(reply.run_ids) == 8
        runs = c.wait_for(reply.run_ids, timeout=400)
        assert [r.status for r in runs] == ["done"] * 8, [(r.id, r.error) for r in runs]
        assert Counter((r.weak, r.strong) for r in runs) == {(w, s): 2 for w in (m["w1"], m["w2"])
                                                            for s in (m["s1"], m["s2"])}
        nodes = set()
        for r in runs:
            metrics = c.metrics(r.id)
            assert c.predictions(r.id, limit=1).total == metrics["n_test"] > 0
            assert metrics["strong_params"] > metrics["weak_params"] > 0
            text = wait_until(lambda: (t := c.log(r.id, max_bytes=200_000)) and f"run {r.id} done" in t and t, 20,
                              "the worker's last line")  # streamed from the node as log events
            nodes.update(re.findall(r"Ray worker pid \d+ on node \S+ \((\w+)\)", text))
        assert len(nodes) == 2, nodes  # Ray used both nodes
    finally:
        eng.stop()
    trained = read_db(eng.db, "SELECT stage_key, count(*) FROM run_stages WHERE NOT cached GROUP BY stage_key")
    assert all(n == 1 for _, n in trained), trained  # every stage trained once, the rest reused from the cache
    assert len(trained) == 4 + 4 + 8  # weak per (model, seed), ceiling per (model, seed), one student per run


def test_a_killed_ray_worker_fails_its_run_and_a_cancel_stops_one(tmp_path, cluster, grid_models):
    eng = ray_engine(tmp_path, cluster)
    m = grid_models
    try:
        c = eng.client
        victim, stopped = c.submit(toy(m, m["w1"], m["s1"], seeds=(5, 6), epochs=150)).run_ids
        wait_until(lambda: c.run(victim).progress and c.run(stopped).progress, 90, "both runs training")
        worker = c.run(victim).worker_pid  # the worker process the actor started on its node
        os.kill(ray_pid(c, victim), signal.SIGKILL)
        run = wait_until(lambda: (r := c.run(victim)).status == "failed" and r, 60, "the run to fail")
        assert "Ray worker process died" in run.error and "worker pid" in run.log_tail
        wait_until(lambda: gone(worker), 20, "the worker to die with its Ray worker")
        assert c.health().ok

        worker = c.run(stopped).worker_pid
        assert c.cancel(stopped).status == "cancelled"
        wait_until(lambda: gone(worker) and stopped not in c.health().running, 30, "the cancelled worker to stop")
        assert c.run(stopped).status == "cancelled"

        infeasible = c.submit(toy(m, m["w1"], m["s1"], resources={"num_gpus": 1})).run_ids[0]
        run = wait_until(lambda: (r := c.run(infeasible)).status == "failed" and r, 30, "the run to be refused")
        assert "no node of the Ray cluster has what this run asks for (CPU 1, GPU 1" in run.error
    finally:
        eng.stop()


def test_a_model_folder_missing_on_the_node_fails_naming_the_node(tmp_path, cluster, grid_models):
    folder = tmp_path / "weak-copy"
    shutil.copytree(grid_models["w1"], folder)
    eng = ray_engine(tmp_path / "home", cluster, workers=1)
    try:
        run_id = eng.client.submit(toy(grid_models, str(folder), grid_models["s1"])).run_ids[0]
        shutil.rmtree(folder)  # validated on submit, gone by the time the worker starts on its node
        (run,) = eng.client.wait_for([run_id], timeout=90)
        assert run.status == "failed"
        assert re.search(rf"weak model folder {folder}: not found on node \S+ \(\w+\)", run.error), run.error
    finally:
        eng.stop()


def test_engine_killed_mid_sweep_adopts_what_ray_holds_and_requeue_reuses_stages(tmp_path, own_cluster, grid_models):
    cluster = own_cluster
    m, port = grid_models, free_port()
    first = ray_engine(tmp_path, cluster, port=port)
    c = first.client
    try:
        # long enough to be still training at the kill on a loaded machine; it is cancelled once adopted
        adopted = c.submit(toy(m, m["w1"], m["s1"], seeds=(7,), epochs=3000)).run_ids[0]
        lost, queued = c.submit(toy(m, m["w1"], m["s1"], seeds=(8, 9), epochs=25)).run_ids
        weak = wait_until(lambda: [s for s in c.run(lost).stages if s["role"] == "weak" and s["status"] == "done"],
                          120, "the weak stage of the second run")[0]
        assert c.run(adopted).status == "running" and c.run(queued).status == "queued"
        lost_ray = ray_pid(c, lost)
    except BaseException:  # stop this engine's runs, or their actors hold the cluster's CPUs for the next test
        for run_id in c.health().running:
            c.cancel(run_id)
        first.stop()
        raise
    first.proc.kill()  # the engine dies; Ray keeps both runs' actors
    first.proc.wait()
    first.log.close()
    os.kill(lost_ray, signal.SIGKILL)  # while no engine watches, one run's Ray worker dies too
    wait_until(lambda: gone(lost_ray), 20, "the Ray worker to die")

    second = ray_engine(tmp_path, cluster, port=port)  # same address: the adopted worker finds it again
    try:
        c = second.client
        assert c.run(lost).status == "interrupted" and "requeue" in c.run(lost).error
        assert c.run(adopted).status == "running" and adopted in c.health().running
        assert c.requeue(lost).status == "queued"
        wait_until(lambda: "a restarted engine adopted this run's worker (ray)" in c.log(adopted, max_bytes=200_000),
                   60, "the adoption line in the run's log")
        wait_until(lambda: (p := c.run(adopted).progress) and p.step > 0, 60, "the adopted run's progress")
        assert c.cancel(adopted).status == "cancelled"  # its worker still obeys the engine that adopted it
        runs = c.wait_for([adopted, lost, queued], timeout=300)
        assert [r.status for r in runs] == ["cancelled", "done", "done"], [(r.id, r.error) for r in runs]
    finally:
        second.stop()
    rows = dict(((role, key), cached) for role, key, cached in
                read_db(second.db, "SELECT role, stage_key, cached FROM run_stages WHERE run_id = ?", [lost]))
    assert rows[("weak", weak["stage_key"])] is True  # the requeued run reused the stage it had finished


def test_a_dead_node_fails_the_run_it_held_and_the_other_runs_on(tmp_path, own_cluster, grid_models):
    """Last in this module: it takes the worker node down for good. Two runs hold one CPU each, so one runs on
    each node; the run on the dead node fails with the node named as the reason, the other finishes."""
    cluster = own_cluster
    eng = ray_engine(tmp_path, cluster)
    m = grid_models
    try:
        c = eng.client
        ids = c.submit(toy(m, m["w2"], m["s2"], seeds=(11, 12), epochs=200)).run_ids
        wait_until(lambda: all(c.run(r).progress for r in ids), 180, "both runs training")  # a loaded machine
        cluster.kill_node(1)
        runs = c.wait_for(ids, timeout=240)
        assert sorted(r.status for r in runs) == ["done", "failed"], [(r.status, r.error) for r in runs]
        failed = next(r for r in runs if r.status == "failed")
        assert "Ray node" in failed.error and failed.log_tail, failed.error
        assert c.health().ok
    finally:
        eng.stop()
