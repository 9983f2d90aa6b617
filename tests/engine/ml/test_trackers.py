"""Trackers: `train.report_to` sends every trainer's curves to TensorBoard and MLflow (written into a temp folder,
read back with tbparse and MlflowClient), named after the studio's run; a cached stage logs a "reused" marker and
no curve; report_to changes no stage key."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, TrainConfig, config_from_dict
from engine.ml.trackers import flatten, identity
from engine.run.execute import run_local
from engine.server.store import Store

tbparse = pytest.importorskip("tbparse", reason="the trackers extra (requirements-extras.txt) is not installed")
mlflow = pytest.importorskip("mlflow", reason="the trackers extra (requirements-extras.txt) is not installed")


def sweep(tiny_models, **train):
    return {"name": "trk", "task": "toy_sentiment", "weak": tiny_models["weak"], "strong": tiny_models["strong"],
            "methods": ["naive"], "seeds": [0], "n_train": 64, "n_test": 32,
            "train": {"epochs": 1, "lr": 1e-3, "batch_size": 16, **train}}


def run_all(store, cfg):
    ids = []
    for spec in config_from_dict(cfg).expand():
        run_id, status, out = run_local(spec, store, progress=False)
        assert status == "done", out
        ids.append(run_id)
    return ids


def test_report_to_is_checked_and_names_the_fix():
    assert TrainConfig(report_to=["tensorboard,mlflow"]).report_to == ["tensorboard", "mlflow"]
    assert TrainConfig(report_to="none").report_to == [] and TrainConfig().report_to == []
    with pytest.raises(ConfigError, match="unknown tracker 'tb'; use tensorboard, mlflow, wandb or none"):
        config_from_dict({"train": {"report_to": "tb"}}).expand()


def test_a_stage_is_named_after_the_studio_run():
    class Ctx:
        run_id, tags = "r1", "baseline, lr-sweep"
        spec = config_from_dict({"name": "demo", "methods": ["naive"], "seeds": [3]}).expand()[0]

    ident = identity(Ctx(), "weak", "k123", "sft")
    assert ident.label == "r1/weak/sft" and ident.folder == "demo/r1/weak-sft" and ident.name == "demo"
    assert ident.tags["w2s.method"] == "naive" and ident.tags["w2s.seed"] == "3" and ident.user_tags == [
        "baseline", "lr-sweep"]
    assert ident.config["train.epochs"] == 2.0 and ident.config["task"] == "world_size"
    assert flatten({"a": {"b": 1, "c": [1, 2]}}) == {"a.b": 1, "a.c": [1, 2]}


def test_tensorboard_and_mlflow_get_the_curves_and_a_reused_marker(tmp_path, monkeypatch, tiny_models):
    from mlflow import MlflowClient

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = Store(tmp_path / "runs.duckdb")
    cfg = sweep(tiny_models, report_to=["tensorboard", "mlflow"])
    (first,) = run_all(store, cfg)
    (second,) = run_all(store, cfg)  # every stage from the cache

    # TensorBoard: one folder per trained stage with the loss curve the store holds, a -reused folder per cached one.
    reader = tbparse.SummaryReader(str(tmp_path / "tb" / "trk"), extra_columns={"dir_name"})
    scalars, texts = reader.scalars, reader.text
    trained = {f"{first}/weak", f"{first}/ceiling", f"{first}/student"}
    assert set(scalars["dir_name"]) == trained
    curves = store.curves(first)
    stored = curves[(curves.role == "student") & (curves.name == "train_loss")]
    logged = scalars[(scalars.dir_name == f"{first}/student") & (scalars.tag == "train/loss")]
    assert list(logged.step) == list(stored.step)
    assert logged.value.to_numpy() == pytest.approx(stored.value.to_numpy(), rel=1e-6)
    reused = texts[texts.dir_name.str.endswith("-reused")]
    assert set(reused.dir_name) == {f"{second}/{role}-reused" for role in ("weak", "ceiling", "student")}
    assert set(reused.tag) == {"w2s/config", "w2s/tags", "w2s/reused"}
    assert "came from the stage cache" in reused[reused.tag == "w2s/reused"].value.iloc[0]

    # MLflow: experiment = the config's name; one run per stage, named and tagged after the studio run.
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    exp = client.get_experiment_by_name("trk")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {f"{first}/{role}" for role in ("weak", "ceiling", "student")} | {
        f"{second}/{role} (reused)" for role in ("weak", "ceiling", "student")}
    student = runs[f"{first}/student"]
    assert student.data.tags["w2s.run_id"] == first and student.data.tags["w2s.method"] == "naive"
    assert student.data.params["w2s.train.batch_size"] == "16"
    history = client.get_metric_history(student.info.run_id, "loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(list(stored.value), rel=1e-6)
    marker = runs[f"{second}/weak (reused)"]
    assert marker.data.tags["w2s.reused"] == "true" and marker.data.metrics == {}
    assert marker.data.tags["w2s.stage_key"] == {s["role"]: s for s in store.run(second)["stages"]}["weak"][
        "stage_key"]

    store.close()


def test_report_to_and_keep_weights_are_not_part_of_a_stage_key(tiny_models):
    from engine.run.stages import Experiment
    from engine.tasks.base import Splits

    def identity_of(**train):
        (spec,) = config_from_dict({**sweep(tiny_models, **train), "methods": ["naive"]}).expand()
        return Experiment(spec, None, Splits([], [], []), "v", "k").train_identity("student")

    assert identity_of() == identity_of(report_to=["tensorboard", "mlflow"], keep_weights=True)


def test_wandb_offline_gets_a_named_run(tmp_path, monkeypatch, tiny_models):
    pytest.importorskip("wandb", reason="wandb is optional (pip install wandb)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    store = Store(tmp_path / "runs.duckdb")
    (run_id,) = run_all(store, sweep(tiny_models, report_to=["wandb"]))
    assert len(list(tmp_path.rglob("offline-run-*"))) == 3  # weak, ceiling, student
    store.close()
