"""Stage cache keys hash exactly what changes a stage's output, and the defaults follow the papers.

    .venv/bin/python -m pytest -q tests/test_cache_keys.py

Too loose: a data file or a model edited in place, a stage whose code changed, a hub model whose revision
moved, sampled outputs that depend on the labelling batch. Too tight: a ceiling retrained because weak_lr
changed, policy stages retrained because train.epochs (which they never read) changed, stages retrained for
another grad_accum or eval_batch_size. Defaults: dropout off while training, weak_lr empty = the weak model's
own default (Burns et al. and openai/weak-to-strong).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.config import config_from_dict
from engine.server.store import Store
from tests.helpers import NullContext, run_config, small_toy


def stages(store, run_id) -> dict[str, dict]:
    return {s["role"]: s for s in store.run(run_id)["stages"]}


def test_a_data_file_is_keyed_by_its_content_not_its_path(tmp_path, store, tiny_models):
    from engine.registry import TASKS

    rows = "".join(f"{'good great' if i % 2 else 'bad awful'} day {i},{i % 2}\n" for i in range(80))
    (tmp_path / "a.csv").write_text("text,label\n" + rows)
    shutil.copy(tmp_path / "a.csv", tmp_path / "b.csv")

    def version(name):
        return TASKS.get("file")(TASKS.get("file").Config(path=str(tmp_path / name))).cache_version()

    assert version("a.csv") == version("b.csv")  # same content elsewhere: same examples, shared stages
    first = version("a.csv")
    cfg = small_toy(tiny_models, task={"name": "file", "path": str(tmp_path / "a.csv")}, n_train=None, n_test=None)
    _, before = run_config(store, cfg)
    with (tmp_path / "a.csv").open("a") as f:  # edited in place: an appended row
        f.write("good great day 999,1\nbad awful day 998,0\n")
    assert version("a.csv") != first
    run_id, after = run_config(store, cfg)
    assert not stages(store, run_id)["weak"]["cached"]
    assert after["n_train_a"] + after["n_train_b"] + after["n_test"] > before["n_train_a"] + before["n_train_b"] + \
        before["n_test"]


def test_a_model_folder_is_keyed_by_the_content_of_every_file(tmp_path):
    from engine.models import resolve_model
    from engine.run.stages import _model_identity

    folder = shutil.copytree(resolve_model("world-xs").source, tmp_path / "m")
    before = _model_identity(resolve_model(str(folder)))
    assert before == _model_identity(resolve_model("world-xs"))  # the same files under another name
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(config.replace('"n_head": 2', '"n_head": 4'))  # same size, new content
    assert (folder / "config.json").stat().st_size == len(config)
    assert _model_identity(resolve_model(str(folder))) != before


def test_a_hub_model_is_keyed_by_the_revision_loading_it_uses(tmp_path):
    from engine.models import hub_revision

    repo = tmp_path / "models--org--tiny"
    for commit in ("a" * 40, "b" * 40):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    assert hub_revision("org/tiny", cache_dir=str(tmp_path)) == "a" * 40
    (repo / "refs" / "main").write_text("b" * 40)  # the hub's main moved and the new snapshot was fetched
    assert hub_revision("org/tiny", cache_dir=str(tmp_path)) == "b" * 40
    assert hub_revision("org/never-fetched", cache_dir=str(tmp_path)) is None


def test_a_stage_kind_whose_code_version_changes_gets_new_keys(store, tiny_models, monkeypatch):
    import engine.run.stages as stages_module

    first, _ = run_config(store, small_toy(tiny_models))
    monkeypatch.setattr(stages_module, "CLASSIFIER_VERSION", stages_module.CLASSIFIER_VERSION + 1)
    second, _ = run_config(store, small_toy(tiny_models))
    assert not any(s["cached"] for s in stages(store, second).values())
    assert {s["stage_key"] for s in stages(store, first).values()}.isdisjoint(
        s["stage_key"] for s in stages(store, second).values())


def test_weak_lr_changes_only_the_weak_model_and_what_learns_from_it(store, tiny_models):
    base = small_toy(tiny_models)
    first, _ = run_config(store, {**base, "train": {**base["train"], "weak_lr": 1e-3}})
    second, _ = run_config(store, {**base, "train": {**base["train"], "weak_lr": 2e-3}})
    a, b = stages(store, first), stages(store, second)
    assert b["ceiling"]["cached"] and b["ceiling"]["stage_key"] == a["ceiling"]["stage_key"]
    assert not b["weak"]["cached"] and not b["student"]["cached"]


def test_an_empty_weak_lr_is_the_weak_models_own_default_not_lr(tiny_models):
    from engine.registry import MODELS
    from engine.run.stages import Experiment
    from engine.tasks.base import Splits

    (spec,) = config_from_dict({"task": "world_size", "weak": "world-xs", "strong": "world-l", "methods": ["naive"],
                                "train": {"lr": 3e-3}}).expand()
    exp = Experiment(spec, None, Splits([], [], []), "v", "k")
    assert exp.lr_for("world-xs", "weak") == MODELS.get("world-xs").default_lr != 3e-3
    assert exp.lr_for("world-l", "ceiling") == exp.lr_for("world-l", "student") == 3e-3


def test_policy_stages_do_not_key_on_train_epochs_they_never_read(store):
    cfg = {"task": "world_pref", "weak": "world-xs", "strong": "world-xs", "n_train": 64, "n_test": 16,
           "methods": ["weak_dpo"], "seeds": [0], "train": {"epochs": 2, "batch_size": 32},
           "settings": {"weak_dpo": {"sft_epochs": 1, "po_epochs": 1}}}
    run_config(store, cfg)
    second, _ = run_config(store, {**cfg, "train": {"epochs": 5, "batch_size": 32}})
    assert all(s["cached"] for s in stages(store, second).values())


def test_eval_batch_size_and_grad_accum_change_neither_keys_nor_predictions(tmp_path, tiny_models):
    base = small_toy(tiny_models)
    one, other = Store(tmp_path / "one.duckdb"), Store(tmp_path / "other.duckdb")
    a, sa = run_config(one, base)
    b, sb = run_config(other, {**base, "train": {**base["train"], "eval_batch_size": 5, "grad_accum": 4}})
    ka, kb = stages(one, a), stages(other, b)
    assert {r: s["stage_key"] for r, s in ka.items()} == {r: s["stage_key"] for r, s in kb.items()}
    for role in ka:
        for split, cols in one.stage_lookup(ka[role]["stage_key"]).items():
            twin = other.stage_lookup(kb[role]["stage_key"])[split]
            assert cols["id"] == twin["id"]
            assert np.abs(np.array(cols["prob"]) - np.array(twin["prob"])).max() < 1e-5, (role, split)
    assert sa["student_acc"] == sb["student_acc"] and sa["pgr"] == pytest.approx(sb["pgr"], abs=1e-9)
    one.close()
    other.close()


def test_sampled_completions_do_not_depend_on_the_labelling_batch():
    from engine.config import TrainConfig
    from engine.ml.generation import Sampling, generate
    from engine.ml.loading import load_policy
    from engine.models import resolve_model
    from engine.registry import TASKS

    model, tok = load_policy(resolve_model("world-xs"), TrainConfig())
    prompts = [e.text for e in TASKS.get("world_gen")().load()["train"][:7]]
    sampling = Sampling(n=3, temperature=1.0, seed=0)
    out = [generate(model, tok, prompts, 4, TrainConfig(eval_batch_size=b), sampling=sampling) for b in (1, 3, 7)]
    assert out[0] == out[1] == out[2]
    assert any(len(set(group)) > 1 for group in out[0])  # they are samples, not three greedy copies
    alone = generate(model, tok, prompts[2:3], 4, TrainConfig(), sampling=sampling)
    assert alone[0] == out[0][2]  # nor on the other prompts of the call


def test_classifiers_train_with_dropout_off_unless_asked(tmp_path, tiny_models):
    from transformers import AutoConfig

    from engine.config import TrainConfig
    from engine.ml.classifier import fit_and_predict
    from engine.ml.losses import LossSpec
    from engine.models import resolve_model
    from engine.registry import TASKS


    dropped = shutil.copytree(tiny_models["strong"], tmp_path / "dropout")  # the same weights, config dropout 0.3
    config = AutoConfig.from_pretrained(dropped)
    config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = 0.3
    config.save_pretrained(dropped)
    examples = TASKS.get("toy_sentiment")().load()["train"][:64]
    texts, labels = [e.text for e in examples], np.array([float(e.label) for e in examples])

    def fit(folder, **settings):
        cfg = TrainConfig(epochs=2, batch_size=16, **settings)
        probs, _ = fit_and_predict(resolve_model(str(folder)), cfg, 1e-3, texts, labels, LossSpec(), {"t": texts[:20]},
                                   0, NullContext(), "s", "k")
        return probs["t"]

    plain = fit(tiny_models["strong"])
    assert np.abs(fit(dropped) - plain).max() < 1e-6  # dropout of the config is off while training
    assert np.abs(fit(dropped, train_with_dropout=True) - plain).max() > 1e-4


def test_a_roles_override_changes_only_the_stages_of_that_role(store, tiny_models):
    base = small_toy(tiny_models)
    first, _ = run_config(store, base)
    second, _ = run_config(store, {**base, "train": {**base["train"], "roles": {"student": {"lr": 2e-3}}}})
    a, b = stages(store, first), stages(store, second)
    assert b["weak"]["cached"] and b["ceiling"]["cached"] and not b["student"]["cached"]
    assert b["student"]["stage_key"] != a["student"]["stage_key"]
    third, _ = run_config(store, {**base, "train": {**base["train"], "roles": {"ceiling": {"epochs": 1}}}})
    c = stages(store, third)
    assert c["weak"]["cached"] and c["student"]["cached"] and not c["ceiling"]["cached"]
    # the same learning rate given as weak_lr or as the weak role's lr is the same stage
    run_config(store, {**base, "train": {**base["train"], "weak_lr": 3e-3}})
    fifth, _ = run_config(store, {**base, "train": {**base["train"], "roles": {"weak": {"lr": 3e-3}}}})
    assert stages(store, fifth)["weak"]["cached"]
