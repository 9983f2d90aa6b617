"""engine.worlds.facts: the world is deterministic, budgets are prefixes, a reduced family builds and resumes."""

from __future__ import annotations

import json

import pytest

from engine.worlds.facts import ATTRIBUTES, World, load_world, make_world, zoo_dir
from engine.worlds.facts.generator import fixed_corpus, sentence_stream

ZOO = zoo_dir()

SIZES = ("xs", "s", "l")


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
