"""engine.plan: the checks a config passes before anything is queued, and the split's identity."""

from __future__ import annotations

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
