"""The world tasks: examples, disjoint splits, another world read and a missing one reported."""

from __future__ import annotations

import pytest

from engine.registry import TASKS
from engine.tasks.base import TaskError, split_examples
from engine.worlds.facts import load_world, make_world

WORLD_TASKS = [name for name in TASKS.names() if name.startswith("world_")]


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
