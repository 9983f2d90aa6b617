"""engine.run.execute in-process: rows written, a second run hits the cache, unfinished stages and failures recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from engine.config import config_from_dict
from engine.run.execute import run_local
from tests.helpers import ROOT


def small_config(tiny_models, **over):
    cfg = {"task": "toy_sentiment", "weak": tiny_models["weak"], "strong": tiny_models["strong"], "methods": ["naive"],
           "seeds": [0], "train": {"epochs": 2, "lr": 1e-3, "batch_size": 16}}
    cfg.update(over)
    return cfg


# ----------------------------------------------------------------------------- runs, storage, cache
def test_run_writes_rows_and_second_run_hits_the_cache(store, tiny_models):
    specs = config_from_dict(small_config(tiny_models, methods=["naive", "aux_conf"])).expand()
    run1, status1, summary1 = run_local(specs[0], store, progress=False)
    assert status1 == "done", summary1
    n_b, n_test = summary1["n_train_b"], summary1["n_test"]
    rows = dict(store.con.execute(
        "SELECT rs.role, count(*) FROM run_stages rs JOIN predictions p ON p.stage_key = rs.stage_key "
        "WHERE rs.run_id = ? GROUP BY rs.role", [run1]).fetchall())
    assert rows == {"weak": n_b + n_test, "ceiling": n_test, "student": n_test}
    assert store.con.execute("SELECT count(*) FROM examples").fetchall()[0][0] == 2 * n_b + n_test
    view = store.examples_view(run1)
    assert len(view) == n_test
    acc = float(((view["student_prob"] >= 0.5).astype(int) == view["gold"]).mean())
    assert acc == pytest.approx(summary1["student_acc"])
    assert store.run_metrics(run1)["student_acc"] == pytest.approx(summary1["student_acc"])
    assert not store.curves(run1).empty
    run = store.run(run1)
    assert run["status"] == "done" and run["versions"]["torch"].startswith("2.13")
    # aux_conf shares the weak model and the ceiling: they come from the cache
    run2, status2, _ = run_local(specs[1], store, progress=False)
    assert status2 == "done"
    cached = dict(store.con.execute("SELECT role, cached FROM run_stages WHERE run_id = ?", [run2]).fetchall())
    assert cached == {"weak": True, "ceiling": True, "student": False}


def test_unfinished_stage_is_not_reused(store, tiny_models):
    spec = config_from_dict(small_config(tiny_models)).expand()[0]
    run1, _, _ = run_local(spec, store, progress=False)
    weak_key = store.con.execute("SELECT stage_key FROM run_stages WHERE run_id = ? AND role = 'weak'",
                                 [run1]).fetchall()[0][0]
    store.con.execute("UPDATE stages SET status = 'running' WHERE key = ?", [weak_key])  # as if it died mid-way
    assert store.stage_lookup(weak_key) is None
    run2, status, _ = run_local(spec, store, progress=False)
    assert status == "done"
    assert store.con.execute("SELECT cached FROM run_stages WHERE run_id = ? AND role = 'weak'",
                             [run2]).fetchall()[0][0] is False


def test_failed_run_is_recorded_with_its_message(store, tiny_models, tmp_path):
    csv = tmp_path / "one_class.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},1\n" for i in range(40)))
    cfg = small_config(tiny_models, task={"name": "file", "path": str(csv)})
    spec = config_from_dict(cfg).expand()[0]
    run_id, status, message = run_local(spec, store, progress=False)
    assert status == "failed" and "both classes" in message
    assert store.run(run_id)["error"] == message


def test_out_of_memory_becomes_an_actionable_error(store, tiny_models, monkeypatch):
    # A real OOM cannot be provoked safely here; raise torch's own OOM error from the forward pass.
    import engine.ml.scoring as models

    real = models.pooled_logits

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(models, "pooled_logits", oom)
    spec = config_from_dict(small_config(tiny_models)).expand()[0]
    _, status, message = run_local(spec, store, progress=False)
    monkeypatch.setattr(models, "pooled_logits", real)
    assert status == "failed"
    assert message.startswith("out of memory while training") and "batch_size" in message


def test_killed_run_keeps_its_earlier_rows(tmp_path, tiny_models):
    db = tmp_path / "runs.duckdb"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(small_config(tiny_models, train={"epochs": 300, "lr": 1e-3, "batch_size": 16},
                                               n_train=64)))
    log = open(tmp_path / "log.txt", "w")
    env = {**os.environ, "W2S_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(cfg), "--db", str(db)],
                            stdout=log, stderr=log, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while "ceiling: train" not in (tmp_path / "log.txt").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "log.txt").read_text()[-2000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from engine.server.store import Store

    store = Store(db)
    (run_id,) = store.runs_with_status("running")
    weak = store.con.execute("SELECT s.status, count(p.example_id) FROM run_stages rs JOIN stages s ON s.key = rs.stage_key "
                             "LEFT JOIN predictions p ON p.stage_key = s.key WHERE rs.run_id = ? AND rs.role = 'weak' "
                             "GROUP BY s.status", [run_id]).fetchall()
    assert weak[0][0] == "done" and weak[0][1] > 0
    assert store.con.execute("SELECT count(*) FROM examples").fetchall()[0][0] > 0
    store.close()


# ----------------------------------------------------------------------------- cost of bookkeeping
def test_local_context_writes_a_trainers_curve_points_in_few_transactions(store):
    from engine.run.context import LocalContext, coalesce

    run_id = store.create_run({"task": "t"}, status="running")
    writes = []
    handle = store.handle
    store.handle = lambda event: writes.append(event["type"]) or handle(event)
    ctx = LocalContext(store, run_id, show_progress=False, flush_every=3600)
    for step in range(100):  # what a trainer's on_log sends: a few points per logging step
        ctx.metrics([{"name": "train_loss", "step": step, "value": 1.0 / (step + 1)}])
    assert writes == []  # held back ...
    ctx.metrics([{"name": "student_acc", "value": 0.9}])
    ctx.close()  # ... and all written at close, in one transaction
    assert writes == ["metrics"]
    got = store.con.execute("SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY name, step",
                            [run_id]).fetchall()
    assert len(got) == 101 and got[0] == ("student_acc", None, 0.9) and got[1] == ("train_loss", 0, 1.0)
    # any other event writes the held-back metrics first, so the order of the run's events is kept
    ctx = LocalContext(store, run_id, show_progress=False, flush_every=3600)
    writes.clear()
    ctx.metrics([{"name": "a", "value": 1.0}])
    ctx.status("done")
    assert writes == ["metrics", "run_status"]
    events = [{"type": "metrics", "run_id": "r", "rows": [1]}, {"type": "metrics", "run_id": "r", "rows": [2, 3]},
              {"type": "progress", "run_id": "r"}, {"type": "metrics", "run_id": "r", "rows": [4]}]
    assert [e.get("rows") for e in coalesce(events)] == [[1, 2, 3], None, [4]]


def test_local_context_writes_evaluation_points_with_the_metrics_in_one_transaction(store):
    from engine.run.context import LocalContext

    run_id = store.create_run({"task": "t"}, status="running")
    seen = []
    handle = store.handle
    store.handle = lambda event: seen.append((event["type"], store._in_transaction)) or handle(event)
    ctx = LocalContext(store, run_id, show_progress=False, flush_every=3600)
    for point in range(3):  # what a finetune's evaluation hook sends, between trainer log lines
        ctx.stage_dynamics("k1", point, 10 * (point + 1), point + 1.0,
                           {"test": {"id": ["a", "b"], "prob": [0.1, 0.9]}})
        ctx.metrics([{"name": "train_loss", "step": point, "value": 1.0}])
    assert seen == []  # held back ...
    ctx.status("done")
    # ... then written, all of them inside one transaction, before the event that follows them
    assert [t for t, _ in seen] == ["stage_dynamics", "metrics"] * 3 + ["run_status"]
    assert all(inside for _, inside in seen[:6]) and not seen[6][1]
    rows = store.con.execute("SELECT checkpoint, step, count(*) FROM dynamics WHERE stage_key = 'k1' GROUP BY ALL "
                             "ORDER BY 1").fetchall()
    assert rows == [(0, 10, 2), (1, 20, 2), (2, 30, 2)]
    assert store._in_transaction is False


def test_a_store_transaction_rolls_back_every_write_inside_it(store):
    run_id = store.create_run({"task": "t"}, status="running")
    try:
        with store.transaction():
            store.handle({"type": "metrics", "run_id": run_id, "rows": [{"name": "a", "value": 1.0}]})
            raise RuntimeError("a later event failed")
    except RuntimeError:
        pass
    assert store.con.execute("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id]).fetchall() == [(0,)]
    store.handle({"type": "metrics", "run_id": run_id, "rows": [{"name": "a", "value": 1.0}]})  # usable after it
    assert store.con.execute("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id]).fetchall() == [(1,)]


def test_training_freezes_the_import_heap_so_trainers_full_collections_are_cheap(store, tiny_models):
    import gc

    (spec,) = config_from_dict(small_config(tiny_models)).expand()
    _, status, _ = run_local(spec, store, progress=False)
    assert status == "done"
    # torch's and transformers' objects are out of the collector's walk (bench_profile shows what it saves)
    assert gc.get_freeze_count() > 10_000


def test_the_trainers_flop_count_is_trainers_own_with_the_parameters_counted_once(tiny_models, tmp_path):
    from transformers import Trainer, TrainingArguments

    from engine.ml.classifier import _trainer_class
    from engine.ml.loading import load_classifier
    from engine.models import resolve_model

    model, tok = load_classifier(resolve_model(tiny_models["strong"]))
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    ours, theirs = _trainer_class()(model=model, args=args), Trainer(model=model, args=args)
    counted = []
    real = model.num_parameters
    model.num_parameters = lambda **kw: counted.append(kw) or real(**kw)
    batches = [tok(["good day"] * n, return_tensors="pt") for n in (1, 4, 2)]
    assert [ours.floating_point_ops(b) for b in batches] == [theirs.floating_point_ops(b) for b in batches]
    assert len(counted) == 1 + 3  # ours once, Trainer's at every call
    assert ours.floating_point_ops({"labels": torch.ones(2)}) == theirs.floating_point_ops({"labels": torch.ones(2)})
