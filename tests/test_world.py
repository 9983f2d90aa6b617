"""The offline world, its shipped zoo and the world tasks.

    .venv/bin/python -m pytest -q tests/test_world.py              # fast checks (< 1 min on 2 cores)
    .venv/bin/python -m pytest -q tests/test_world.py -m slow      # the shipped models' knowledge gap
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.registry import TASKS
from engine.tasks.base import TaskError, split_examples
from engine.worlds.facts import ATTRIBUTES, World, load_world, make_world, zoo_dir
from engine.worlds.facts.generator import fixed_corpus, sentence_stream

ROOT = Path(__file__).resolve().parents[1]
ZOO = zoo_dir()
SIZES = ("xs", "s", "l")
WORLD_TASKS = [name for name in TASKS.names() if name.startswith("world_")]


def test_world_is_deterministic_per_seed():
    a, b, other = (make_world(s, 300, {"xs": 500, "s": 1000}) for s in (0, 0, 1))
    assert a.to_json() == b.to_json()
    assert a.to_json() != other.to_json()
    assert fixed_corpus(a, 1000) == fixed_corpus(b, 1000) != fixed_corpus(other, 1000)
    stream_a, stream_b = sentence_stream(a, seed=3), sentence_stream(b, seed=3)
    assert [next(stream_a) for _ in range(50)] == [next(stream_b) for _ in range(50)]
    assert World.from_json(a.to_json()) == a


def test_weak_budgets_are_prefixes_and_mentions_count_them():
    world = make_world(0, 200, {"xs": 300, "s": 600})
    assert fixed_corpus(world, 300) == fixed_corpus(world, 600)[:300]
    names = {e.name for e in world.entities}
    assert all(set(s.split()) <= set(world.words()) for s in fixed_corpus(world, 600))
    for e in world.entities:
        for a in ATTRIBUTES:
            assert 0 <= e.mentions["xs"][a] <= e.mentions["s"][a]
    # Zipf: the head entity is stated far more often than the tail one, and some tail facts are never read.
    assert world.entities[0].mentions["xs"]["size"] > 5 * max(1, world.entities[-1].mentions["xs"]["size"])
    assert any(not e.saw("xs", "size") for e in world.entities)
    assert len(names) == len(world.entities)


def test_shipped_models_load_offline_with_auto_classes():
    # A fresh interpreter with the hub switched off, as on a machine without network.
    script = """
import json, sys
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
out = {}
for folder in sys.argv[1:]:
    tok = AutoTokenizer.from_pretrained(folder)
    lm = AutoModelForCausalLM.from_pretrained(folder)
    clf = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    batch = tok(["the size of x is", "a big person named x ."], return_tensors="pt", padding=True)
    out[folder] = {"pad": clf.config.pad_token_id, "tok_pad": tok.pad_token_id, "eos": tok.eos_token_id,
                   "logits": list(clf(**batch).logits.shape), "vocab": lm.config.vocab_size, "len_tok": len(tok),
                   "dtype": str(lm.dtype)}
print(json.dumps(out))
"""
    folders = [str(ZOO / s) for s in SIZES]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script, *folders], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for folder in folders:
        r = result[folder]
        assert r["pad"] is not None and r["pad"] == r["tok_pad"] != r["eos"]
        assert r["logits"] == [2, 2] and r["vocab"] == r["len_tok"] and r["dtype"] == "torch.float32"


def test_zoo_models_are_in_the_catalogue():
    from engine.ml.loading import load_classifier
    from engine.models import resolve_model
    from engine.registry import MODELS

    for size in SIZES:
        spec = resolve_model(f"world-{size}")
        assert spec.kind == "zoo" and Path(spec.source) == ZOO / size and MODELS.get(f"world-{size}").description
    model, tok = load_classifier(resolve_model("world-xs"))
    assert model.config.num_labels == 2 and tok.pad_token == "<pad>"


def test_manifest_checksums_match_the_shipped_files():
    from engine.worlds.facts.build import sha256

    manifest = json.loads((ZOO / "manifest.json").read_text())
    assert manifest["command"] == f"w2s zoo build --seed {manifest['seed']}" and manifest["scale"] == 1.0
    assert sha256(ZOO / "world.json") == manifest["world"]["sha256"]
    # The arithmetic family (engine.worlds.arith) lives in its own subfolder with its own manifest.
    assert sorted(p.name for p in ZOO.iterdir() if p.name != "arith") == sorted(["manifest.json", "world.json", *SIZES])
    for size in SIZES:
        files = manifest["models"][size]["files"]
        assert "model.safetensors" in files and "config.json" in files
        assert sorted(p.name for p in (ZOO / size).iterdir()) == sorted(files)  # nothing left behind
        for name, digest in files.items():
            assert sha256(ZOO / size / name) == digest, f"{size}/{name} differs from the manifest"
    assert sum((ZOO / s / "model.safetensors").stat().st_size for s in SIZES) < 5_000_000


def test_reduced_family_builds_end_to_end_and_resumes(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.worlds.facts.build import build_zoo

    manifest = build_zoo(tmp_path, seed=1, scale=0.02, progress=False)
    assert set(manifest["models"]) == set(SIZES)
    l_entry = manifest["models"]["l"]
    assert l_entry["steps"] == 14 and l_entry["corpus_sentences"] is None and 0 <= l_entry["recall"]["size"] <= 1
    assert manifest["models"]["xs"]["corpus_sentences"] == 80
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    tok = AutoTokenizer.from_pretrained(tmp_path / "l")
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "l")
    assert lm.config.pad_token_id == tok.pad_token_id and lm.config.n_embd == 128
    world = load_world(tmp_path / "world.json")
    assert len(world.entities) == manifest["world"]["entities"] and world.seed == 1

    weights = tmp_path / "xs" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = build_zoo(tmp_path, seed=1, scale=0.02, progress=False)
    assert weights.stat().st_mtime_ns == before  # complete models are not retrained
    assert again["models"] == manifest["models"]


@pytest.mark.parametrize("name", WORLD_TASKS)
def test_world_task_examples(name):
    task_cls = TASKS.get(name)
    assert task_cls.__doc__ and task_cls.version and len(task_cls.label_names) == 2
    examples = task_cls().load()["train"]
    world = load_world()
    assert len(examples) == len(world.entities)
    assert len({e.id for e in examples}) == len(examples)
    assert len({e.meta["entity"] for e in examples}) == len(examples)
    first = examples[0].meta
    assert {"entity", "attribute", "value", "freq_rank", "mentions_xs", "mentions_s"} <= first.keys()
    if task_cls.kind == "preference":
        assert all({e.meta["chosen"], e.meta["rejected"]} == {" big .", " small ."} for e in examples)
        assert all(e.meta["chosen"] == f" {e.meta['value']} ." for e in examples)
    if task_cls.kind == "generation":
        assert all(e.meta["answer"] == e.meta["value"] in e.meta["choices"] for e in examples)


@pytest.mark.parametrize("name", WORLD_TASKS)
def test_world_tasks_split_into_disjoint_parts(name):
    task_cls = TASKS.get(name)
    pools = task_cls().load()
    if task_cls.kind == "classification":
        positive = sum(e.label for e in pools["train"]) / len(pools["train"])
        assert 0.4 < positive < 0.6
    splits = split_examples(pools, seed=0, task_name=name, kind=task_cls.kind)
    a, b, test = ({e.id for e in part} for part in (splits.a, splits.b, splits.test))
    assert a and b and test and not (a & b or a & test or b & test)
    if task_cls.kind == "classification":
        assert {e.label for e in splits.test} == {0, 1}


def test_world_task_reads_another_world_and_reports_a_missing_one(tmp_path):
    world = make_world(5, 60, {"xs": 100, "s": 200})
    path = tmp_path / "world.json"
    path.write_text(world.to_json())
    task_cls = TASKS.get("world_size")
    examples = task_cls(task_cls.Config(world=str(path))).load()["train"]
    assert [e.meta["entity"] for e in examples] == [e.name for e in world.entities]
    assert len(task_cls(task_cls.Config(world=str(path))).load(limit=20)["train"]) == 20
    with pytest.raises(TaskError, match="w2s zoo build"):
        task_cls(task_cls.Config(world=str(tmp_path / "missing.json"))).load()


@pytest.mark.parametrize("path", sorted((ROOT / "assets" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_expand(path):
    from engine.config import load_config

    runs = load_config(path).expand()
    from engine.registry import MODELS

    if path.stem.startswith("burns_"):  # the paper's setups: catalogue hub models on a hub task
        assert runs and all(MODELS.get(m).kind == "hub" for r in runs for m in (r.weak, r.strong))
        assert all(not TASKS.get(r.task).loads_locally for r in runs)
        return
    # Every other preset runs offline: zoo models only, on a task that needs no download.
    assert runs and all(MODELS.get(m).kind == "zoo" for r in runs for m in (r.weak, r.strong))
    assert all(TASKS.get(r.task).loads_locally or r.task.startswith("world_") for r in runs)


@pytest.mark.slow
def test_strong_model_knows_far_more_sizes_than_the_weak_one():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    world = load_world()
    manifest = json.loads((ZOO / "manifest.json").read_text())
    recall = {}
    for size in ("xs", "l"):
        tok = AutoTokenizer.from_pretrained(ZOO / size)
        lm = AutoModelForCausalLM.from_pretrained(ZOO / size).eval()
        ids = tok([f"the size of {e.name} is" for e in world.entities], return_tensors="pt")["input_ids"]
        options = tok.convert_tokens_to_ids(["big", "small"])
        with torch.no_grad():
            picks = lm(input_ids=ids).logits[:, -1, options].argmax(-1)
        hits = sum(["big", "small"][int(p)] == e.facts["size"] for p, e in zip(picks, world.entities))
        recall[size] = hits / len(world.entities)
        assert recall[size] == pytest.approx(manifest["models"][size]["recall"]["size"], abs=1e-3)
    assert recall["l"] > 0.9
    assert recall["xs"] < recall["l"] - 0.1
