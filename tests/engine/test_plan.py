"""engine.plan: the checks a config passes before anything is queued, and the split's identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, config_from_dict
from engine.models import ModelError
from engine.plan import load_splits, method_models, split_key, validate
from engine.tasks.base import TaskError


def spec(**over):
    cfg = {"task": "world_size", "weak": "world-xs", "strong": "world-l", "methods": ["naive"], "n_train": 40,
           "n_test": 20}
    cfg.update(over)
    return config_from_dict(cfg).expand()[0]


def test_a_method_on_the_wrong_kind_of_task_is_refused():
    with pytest.raises(ConfigError, match="works on preference tasks"):
        validate(spec(methods=["weak_dpo"]), check_models=False)


def test_missing_model_folder_and_bad_data_fail_before_training(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        validate(spec(strong=str(tmp_path / "nowhere") + "/"))
    bad = tmp_path / "one.csv"
    bad.write_text("text,label\n" + "".join(f"{w},1\n" for w in "abcdefghij"))
    with pytest.raises(TaskError, match="all have label 1"):
        validate(spec(task={"name": "file", "path": str(bad)}, n_train=None, n_test=None), check_models=False)


def test_method_models_lists_via_and_model_settings():
    assert method_models(spec(methods=["bootstrap"], settings={"bootstrap": {"via": ["world-s"]}}).method_config) == [
        "world-s"]


def test_split_key_changes_with_what_changes_the_split():
    a, b = spec(), spec(n_train=41)
    version, splits = load_splits(a)
    assert len(splits.a) == len(splits.b) == 20 and 0 < len(splits.test) <= 20
    assert split_key(a, version) == split_key(spec(), version) != split_key(b, version)


def test_local_paths_lists_model_folders_and_data_files_and_the_worker_names_the_node(tmp_path, tiny_models,
                                                                                      monkeypatch):
    from engine.config import ConfigError, config_from_dict
    from engine.plan import local_paths
    from engine.run.worker import check_local_paths

    data = tmp_path / "d.csv"
    data.write_text("text,label\na,0\nb,1\n")
    spec = config_from_dict({"task": {"name": "file", "path": str(data)}, "weak": tiny_models["weak"],
                             "strong": "gpt2"}).expand()[0]
    assert local_paths(spec) == [("weak model folder", str(Path(tiny_models["weak"]).resolve())),
                                 ("data file (path)", str(data))]
    check_local_paths(spec)  # all here
    data.unlink()
    monkeypatch.setenv("W2S_NODE", "10.0.0.7 (abcd1234)")
    with pytest.raises(ConfigError, match=r"data file \(path\) .*d.csv: not found on node 10.0.0.7 \(abcd1234\)"):
        check_local_paths(spec)
