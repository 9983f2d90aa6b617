"""The generic hub task (engine.tasks.hub_dataset) on local copies in the hub's layout, written with `datasets`
(ClassLabel features survive in the Parquet files' metadata, as on the hub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.registry import TASKS
from engine.tasks.base import TaskError, split_examples


def make(**settings):
    cls = TASKS.get("hub_dataset")
    return cls(cls.Config(**settings))


def write_classlabel_copy(root: Path, n_train: int = 30, n_test: int = 10) -> Path:
    """data/train-00000-of-00001.parquet and data/test-00000-of-00001.parquet with a two-class ClassLabel."""
    import datasets

    features = datasets.Features({"review": datasets.Value("string"), "title": datasets.Value("string"),
                                  "stars": datasets.ClassLabel(names=["bad", "good"])})
    data = root / "reviews" / "data"
    data.mkdir(parents=True)
    for split, n, off in (("train", n_train, 0), ("test", n_test, 1000)):
        rows = {"review": [f"review {i}" for i in range(off, off + n)], "title": [f"title {i}" for i in range(off, off + n)],
                "stars": [i % 2 for i in range(n)]}
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(data / f"{split}-00000-of-00001.parquet"))
    return data.parent


def test_a_classlabel_copy_loads_with_pair_column_and_positive_class_name(tmp_path):
    task = make(data_files=str(write_classlabel_copy(tmp_path)), text_column="review", text_pair_column="title",
                label_column="stars", positive_label="bad")
    pools = task.load()
    assert [len(pools["train"]), len(pools["test"])] == [30, 10]
    first = pools["train"][0]
    assert first.text == "review 0\ntitle 0"
    assert first.meta["label_name"] == "bad" and first.label == 1  # positive_label names the class "bad"
    assert [e.label for e in pools["train"][:4]] == [1, 0, 1, 0]
    assert any("mapped" in n for n in task.notes)  # 0 -> 1 and 1 -> 0 is said, not silent


def test_string_labels_in_sorted_order_and_a_carved_test_set(tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    rows = [{"q": f"question {i}", "a": "yes" if i % 3 else "no"} for i in range(40)] + [{"q": None, "a": "yes"}]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    task = make(data_files=str(folder), text_column="q", label_column="a", test_split=None)
    pools = task.load()
    assert set(pools) == {"train"} and len(pools["train"]) == 40  # the row without text is skipped and counted
    assert any("1 of 41 rows skipped" in n for n in task.notes), task.notes
    assert {e.meta["label_value"]: e.label for e in pools["train"]} == {"no": 0, "yes": 1}
    splits = split_examples(pools, seed=0)
    train = {e.id for e in splits.a + splits.b}
    assert {e.label for e in splits.test} == {0, 1} and not {e.id for e in splits.test} & train  # carved from train


def test_max_rows_reads_a_seeded_sample_not_the_first_rows(tmp_path):
    root = str(write_classlabel_copy(tmp_path, n_train=200))
    a = make(data_files=root, text_column="review", label_column="stars", max_rows=20, seed=1).load()
    b = make(data_files=root, text_column="review", label_column="stars", max_rows=20, seed=1).load()
    c = make(data_files=root, text_column="review", label_column="stars", max_rows=20, seed=2).load()
    texts = [e.text for e in a["train"]]
    assert texts == [e.text for e in b["train"]] and texts != [e.text for e in c["train"]]
    assert texts != [f"review {i}" for i in range(20)]


@pytest.mark.parametrize("settings,needle", [
    ({"text_column": "body", "label_column": "stars"}, "no column 'body'"),
    ({"text_column": "review", "label_column": "title"}, "has 40 values"),
    ({"text_column": "review", "label_column": "stars", "positive_label": "meh"}, "positive_label 'meh'"),
])
def test_bad_columns_and_labels_say_which_setting_to_change(tmp_path, settings, needle):
    with pytest.raises(TaskError) as err:
        make(data_files=str(write_classlabel_copy(tmp_path)), **settings).load()
    assert needle in str(err.value) and "Fix:" in str(err.value) and "\n" not in str(err.value)


def test_no_dataset_and_a_missing_split_are_one_line_messages(tmp_path):
    with pytest.raises(TaskError, match="has no dataset"):
        make().load()
    with pytest.raises(TaskError, match="no split 'dev'.*Fix: set split"):
        make(data_files=str(write_classlabel_copy(tmp_path)), text_column="review", label_column="stars",
             split="dev").load()


def test_a_run_config_is_checked_when_it_is_validated(tmp_path):
    from engine.config import config_from_dict
    from engine.plan import validate

    root = str(write_classlabel_copy(tmp_path))

    def spec(**task):
        cfg = {"task": {"name": "hub_dataset", "data_files": root, "label_column": "stars", **task},
               "weak": "world-xs", "strong": "world-s", "methods": ["naive"]}
        return config_from_dict(cfg).expand()[0]

    with pytest.raises(TaskError, match="no column 'text'.*Fix: set text_column"):
        validate(spec())
    assert validate(spec(text_column="review")) == []
