"""engine.config: errors name the problem, sweeps expand, a RunSpec round-trips, every shipped preset expands."""

from __future__ import annotations

import pytest
import yaml

from engine.config import HUB_PRESETS, ConfigError, config_from_dict, load_config
from engine.registry import TASKS
from tests.helpers import ROOT, toy_config


def small_config(tiny_models, **over):
    cfg = {"task": "toy_sentiment", "weak": tiny_models["weak"], "strong": tiny_models["strong"], "methods": ["naive"],
           "seeds": [0], "train": {"epochs": 2, "lr": 1e-3, "batch_size": 16}}
    cfg.update(over)
    return cfg


# ----------------------------------------------------------------------------- configs
def test_config_errors_name_the_problem(tiny_models):
    with pytest.raises(ConfigError, match="unknown key 'epoch'; did you mean 'epochs'"):
        config_from_dict(small_config(tiny_models, train={"epoch": 3})).expand()
    with pytest.raises(ConfigError, match="unknown key 'seeed'"):
        config_from_dict({**small_config(tiny_models), "seeed": 1})
    with pytest.raises(ConfigError, match="unknown task 'toy_sentimnt'; did you mean 'toy_sentiment'"):
        config_from_dict(small_config(tiny_models, task="toy_sentimnt")).expand()
    with pytest.raises(ConfigError, match="unknown method 'aux'"):
        config_from_dict(small_config(tiny_models, methods=["aux"])).expand()
    with pytest.raises(ConfigError, match="train.lr: expected a number"):
        config_from_dict(small_config(tiny_models, train={"lr": "fast"})).expand()
    with pytest.raises(ConfigError, match="aux_coef=2.0 must be in"):
        config_from_dict(small_config(tiny_models, methods=["aux_conf"], settings={"aux_conf": {"aux_coef": 2}})).expand()
    # YAML reads 2e-4 as a string; it is coerced to a float
    spec = config_from_dict(small_config(tiny_models, train={"lr": "2e-4"})).expand()[0]
    assert spec.train.lr == pytest.approx(2e-4)


def test_config_sweep_expands_methods_by_seeds(tmp_path, tiny_models):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(small_config(tiny_models, methods=["naive", "aux_conf"], seeds=[0, 1, 2])))
    specs = load_config(path).expand()
    assert [(s.method, s.seed) for s in specs] == [(m, s) for m in ("naive", "aux_conf") for s in (0, 1, 2)]


# ----------------------------------------------------------------------------- units that need no engine
def test_run_spec_round_trips_through_its_stored_dict(tiny_models):
    from engine.config import config_from_dict, spec_from_dict
    from engine.registry import METHODS

    for method in METHODS.names():
        for spec in config_from_dict(toy_config(tiny_models, methods=[method])).expand():
            assert spec_from_dict(spec.to_dict()).to_json() == spec.to_json()


@pytest.mark.parametrize("path", sorted((ROOT / "assets" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_expand(path):
    from engine.config import load_config

    runs = load_config(path).expand()
    from engine.registry import MODELS

    if path.stem.startswith(HUB_PRESETS):  # the papers' setups: hub models (catalogue or any hub id) on a hub task
        from engine.models import resolve_model
        from engine.plan import method_models

        models = [m for r in runs for m in (r.weak, r.strong, *method_models(r.method_config))]
        assert runs and all(resolve_model(m).kind == "hub" for m in models)
        assert all(not TASKS.get(r.task).loads_locally for r in runs)
        return
    # Every other preset runs offline: zoo models only, on a task that needs no download.
    assert runs and all(MODELS.get(m).kind == "zoo" for r in runs for m in (r.weak, r.strong))
    assert all(TASKS.get(r.task).loads_locally or r.task.startswith("world_") for r in runs)


# ----------------------------------------------------------------------------- model-pair grids and resources
def test_lists_of_models_make_a_grid_of_smaller_than_pairs_by_methods_and_seeds():
    specs = config_from_dict({"task": ["world_size", "world_group"], "weak": ["world-xs", "world-s"],
                              "strong": ["world-s", "world-l"], "methods": ["naive", "aux_conf"],
                              "seeds": [0, 1]}).expand()
    pairs = [("world-xs", "world-s"), ("world-xs", "world-l"), ("world-s", "world-l")]  # s -> s is not smaller
    assert [(s.task, s.weak, s.strong, s.method, s.seed) for s in specs] == [
        (t, w, st, m, seed) for t in ("world_size", "world_group") for w, st in pairs
        for m in ("naive", "aux_conf") for seed in (0, 1)]
    every = config_from_dict({"weak": ["world-xs", "world-s"], "strong": ["world-s", "world-l"],
                              "all_pairs": True}).expand()
    assert [(s.weak, s.strong) for s in every] == [(w, s) for w in ("world-xs", "world-s")
                                                   for s in ("world-s", "world-l")]
    one = config_from_dict({"weak": "world-l", "strong": "world-xs"}).expand()  # one pair runs as given
    assert [(s.weak, s.strong) for s in one] == [("world-l", "world-xs")]


def test_grid_errors_name_the_sizes_and_the_fix(tmp_path):
    from engine.models import ModelError

    with pytest.raises(ModelError, match=r"no pair has a weak model smaller.*world-l 564,224.*all_pairs: true"):
        config_from_dict({"weak": ["world-l"], "strong": ["world-xs", "world-s"]}).expand()
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(ModelError, match=r"the size of '.*bare' is unknown.*set all_pairs: true"):
        config_from_dict({"weak": [str(tmp_path / "bare")], "strong": ["world-s", "world-l"]}).expand()
    with pytest.raises(ConfigError, match="weak: give a model .* list of distinct models"):
        config_from_dict({"weak": ["world-xs", "world-xs"], "strong": "world-l"}).expand()


def test_resources_travel_with_each_run_and_bad_ones_are_named(tiny_models):
    from engine.config import spec_from_dict
    from engine.sweep import parse_bytes

    spec = config_from_dict(small_config(tiny_models, resources={"num_gpus": 1, "num_cpus": 2, "memory": "8GB"})
                            ).expand()[0]
    assert (spec.resources.num_gpus, spec.resources.num_cpus, spec.resources.memory_bytes()) == (1, 2, 8 * 10**9)
    assert spec_from_dict(spec.to_dict()).resources == spec.resources
    assert config_from_dict(small_config(tiny_models)).expand()[0].resources.num_gpus is None  # the cluster decides
    assert parse_bytes("512MiB") == 512 * 2**20 and parse_bytes(1000) == 1000
    with pytest.raises(ConfigError, match=r"resources: memory='lots' is not an amount of memory; write e.g. 8GB"):
        config_from_dict(small_config(tiny_models, resources={"memory": "lots"})).expand()
    with pytest.raises(ConfigError, match="resources: unknown key 'gpus'; did you mean 'num_gpus'"):
        config_from_dict(small_config(tiny_models, resources={"gpus": 1})).expand()
@pytest.mark.parametrize("over,words", [
    ({"train": {"epochs": float("inf")}}, "train.epochs: inf is not a finite number"),
    ({"train": {"lr": float("nan")}}, "train.lr: nan is not a finite number"),
    ({"test_frac": float("-inf")}, "config.test_frac: -inf is not a finite number"),
    ({"seeds": [10**30]}, "is out of range"),
    ({"seeds": [2**31]}, "seeds: 2147483648 is out of range; use whole numbers from 0 to 2,147,483,647"),
    ({"seeds": [-1]}, "seeds: -1 is out of range"),
    ({"train": {"batch_size": 10**20}}, "train.batch_size: 100000000000000000000 is out of range"),
    ({"n_train": 0}, "n_train=0 must be at least 1"),
    ({"test_frac": 1.5}, "test_frac=1.5 must be between 0 and 1"),
    ({"seeds": list(range(5001)), "methods": ["naive", "aux_conf"]}, "= 10,002 runs; at most 10,000"),
])
def test_numbers_that_are_not_finite_or_out_of_range_are_refused(tiny_models, over, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict(small_config(tiny_models, **over)).expand()
    assert words in str(err.value)


def test_yaml_infinity_is_refused_before_anything_is_queued(tmp_path, tiny_models):
    path = tmp_path / "inf.yaml"
    path.write_text(yaml.safe_dump(small_config(tiny_models)).replace("epochs: 2", "epochs: .inf"))
    with pytest.raises(ConfigError, match="train.epochs: inf is not a finite number"):
        load_config(path).expand()


# ----------------------------------------------------------------------------- per-role training settings
def test_each_role_can_override_the_training_settings():
    from engine.config import TrainConfig, from_dict

    train = from_dict(TrainConfig, {"lr": 1e-5, "lora": False, "epochs": 2, "roles": {
        "weak": {"lr": 5e-5, "epochs": 3}, "student": {"lora": True, "lr": "5e-8"}, "sft": {"lr": 5e-6}}}, "train")
    weak, student, sft, ceiling = (train.for_role(r) for r in ("weak", "student", "sft", "ceiling"))
    assert (weak.lr, weak.epochs, weak.lora) == (5e-5, 3, False)
    assert (student.lr, student.lora) == (5e-8, True) and (sft.lr, sft.lora) == (5e-6, False)
    assert (ceiling.lr, ceiling.lora) == (1e-5, False)
    # stage roles fall back to their family: a conflict run's plain student, Stage I, an intermediate model
    assert train.for_role("student_noconflict").lora and train.for_role("stage1").lr == 5e-8
    assert train.for_role("intermediate2_fold0").lr == 1e-5
    assert all(r.roles == {} and r.weak_lr is None for r in (weak, student))


def test_weak_lr_still_works_and_a_role_lr_wins_over_it():
    from engine.config import TrainConfig

    assert TrainConfig(weak_lr=2e-4).for_role("weak").lr == 2e-4
    assert TrainConfig(weak_lr=2e-4, roles={"weak": {"lr": 3e-4}}).for_role("weak").lr == 3e-4
    assert TrainConfig(weak_lr=2e-4, lr=1e-3).for_role("student").lr == 1e-3


@pytest.mark.parametrize("roles,message", [
    ({"wek": {}}, "unknown role 'wek'; did you mean 'weak'"),
    ({"weak": {"lrr": 1e-4}}, "roles.weak: unknown setting 'lrr'; did you mean 'lr'"),
    ({"weak": {"lr": "fast"}}, "roles.weak.lr: expected a number"),
    ({"student": {"quantization": "4bit"}}, "roles.student: quantization=4bit .* set lora: true"),
    ({"weak": {"epochs": 0}}, "roles.weak: epochs=0.0 must be > 0"),
    ({"weak": {"weak_lr": 1e-4}}, "roles.weak: unknown setting 'weak_lr'"),
])
def test_role_overrides_are_validated_with_the_field_named(roles, message, tiny_models):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(small_config(tiny_models, train={"roles": roles})).expand()


def test_roles_typed_in_a_form_as_yaml_text_are_read(tiny_models):
    from engine.config import TrainConfig, field_docs

    (spec,) = config_from_dict(small_config(tiny_models, train={"roles": "{weak: {lr: 1e-4, lora: true}}"})).expand()
    assert spec.train.roles == {"weak": {"lr": 1e-4, "lora": True}}
    doc = next(f for f in field_docs(TrainConfig) if f["name"] == "roles")
    assert doc["default"] is None and "weak" in doc["help"] and "student" in doc["help"]  # the studio's form field
    assert {"chat_template", "generation_backend", "quantization", "device_map"} <= {
        f["name"] for f in field_docs(TrainConfig)}


def test_a_task_brings_its_own_room_unless_the_config_sets_one(tiny_models):
    (spec,) = config_from_dict({"task": "gsm8k", "methods": ["progressive_refine"]}).expand()
    assert spec.train.max_length == 1024
    (spec,) = config_from_dict({"task": "gsm8k", "methods": ["progressive_refine"], "train": {"max_length": 300}}
                               ).expand()
    assert spec.train.max_length == 300
    assert config_from_dict(small_config(tiny_models)).expand()[0].train.max_length == 512
