"""arith_sums: problems distinct and seeded."""

from __future__ import annotations

from engine.registry import TASKS


def test_arith_sums_problems_are_distinct_and_seeded():
    task = TASKS.get("arith_sums")
    a = task(task.Config(n=300)).load()["train"]
    b = task(task.Config(n=300)).load()["train"]
    assert [e.id for e in a] == [e.id for e in b] and len({e.text for e in a}) == 300
    assert all(task.extract_answer(e.meta["completion"]) == e.meta["answer"] for e in a)
