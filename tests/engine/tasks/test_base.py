"""engine.tasks.base: the A/B/test split is disjoint, deterministic, seeded, balanced, and refuses one class."""

from __future__ import annotations

import pytest

from engine.tasks.base import Example, TaskError, split_examples


# ----------------------------------------------------------------------------- splits
def _pool(n, labels=(0, 1)):
    return [Example(id=f"e{i}", text=f"text {i}", label=labels[i % len(labels)]) for i in range(n)]


def test_split_is_disjoint_deterministic_and_seeded():
    pools = {"train": _pool(200), "test": _pool(60)[:0] + [Example(f"t{i}", f"t {i}", i % 2) for i in range(60)]}
    s1, s2, s3 = split_examples(pools, 0), split_examples(pools, 0), split_examples(pools, 1)
    ids = lambda xs: [e.id for e in xs]  # noqa: E731
    assert ids(s1.a) == ids(s2.a) and ids(s1.b) == ids(s2.b) and ids(s1.test) == ids(s2.test)
    assert ids(s1.a) != ids(s3.a)
    assert not set(ids(s1.a)) & set(ids(s1.b)) and not (set(ids(s1.a)) | set(ids(s1.b))) & set(ids(s1.test))
    assert len(s1.a) == len(s1.b) == 100
    # the order the source returns rows in does not change the split
    rev = split_examples({"train": pools["train"][::-1], "test": pools["test"]}, 0)
    assert ids(rev.a) == ids(s1.a)


def test_split_balances_and_carves_test():
    pool = [Example(f"e{i}", f"x {i}", int(i < 30)) for i in range(100)]  # 30 positives, 70 negatives
    s = split_examples({"train": pool}, seed=3, balance=True, test_frac=0.2)
    for part in (s.a + s.b, s.test):
        labels = [e.label for e in part]
        assert labels.count(0) == labels.count(1)
    assert not {e.id for e in s.test} & {e.id for e in s.a + s.b}


def test_split_rejects_one_class():
    with pytest.raises(TaskError, match="both classes"):
        split_examples({"train": _pool(50, labels=(1,))}, 0, task_name="mine")


def test_split_reports_the_rows_it_dropped():
    """Repeated ids, training rows also in the test pool and balancing each leave rows out: the split says how
    many (the run records them as dropped_* metrics and the studio reports them)."""
    train = [Example(f"e{i}", f"x {i}", int(i < 30)) for i in range(100)] + [Example("e1", "again", 1)]
    test = [Example(f"t{i}", f"t {i}", i % 2) for i in range(20)] + [Example("e5", "in both", 1)]
    s = split_examples({"train": train, "test": test}, seed=0, balance=True)
    # train: e1 twice (1 duplicate), e5 also in test (1 overlap); 29 positives are left, so 70 - 29 negatives go;
    # test: 11 positives and 10 negatives, so 1 positive goes
    assert s.dropped == {"duplicates": 1, "overlap": 1, "balance": 41 + 1}
    assert len(s.a) + len(s.b) == 58 and len(s.test) == 20
