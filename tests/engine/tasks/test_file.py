"""The file task (and engine.tasks._files): every format, text pairs, label mapping, samples, errors naming the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.registry import TASKS
from engine.tasks.base import TaskError, split_examples


def make(name: str, **settings):
    cls = TASKS.get(name)
    return cls(cls.Config(**settings))

FILE_ROWS = [
    {"review": "Great product, works well", "extra": "five stars", "sentiment": "positive"},
    {"review": "Broke after a day", "extra": "one star", "sentiment": "negative"},
    {"review": "Does the job", "extra": "four stars", "sentiment": "positive"},
    {"review": "Waste of money", "extra": "one star", "sentiment": "negative"},
]

def write_table(path: Path, rows: list[dict]) -> Path:
    df = pd.DataFrame(rows)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_file_task_reads_each_format(suffix, tmp_path):
    path = write_table(tmp_path / f"reviews{suffix}", FILE_ROWS)
    task = make("file", path=str(path), text_column="review", label_column="sentiment")
    train = task.load()["train"]
    assert [(e.text, e.label) for e in train] == [
        ("Great product, works well", 1), ("Broke after a day", 0), ("Does the job", 1), ("Waste of money", 0),
    ]
    assert train[0].meta["label_value"] == "positive"
    assert [e.id for e in train] == [e.id for e in task.load()["train"]]


def test_file_task_text_pair_test_path_and_positive_label(tmp_path):
    train = write_table(tmp_path / "train.csv", FILE_ROWS)
    test = write_table(tmp_path / "test.csv", FILE_ROWS[:2])
    task = make("file", path=str(train), test_path=str(test), text_column="review", label_column="sentiment",
                text_pair_column="extra", positive_label="negative")
    pools = task.load()
    assert pools["train"][0].text == "Great product, works well\nfive stars"
    assert pools["train"][0].label == 0 and pools["train"][1].label == 1
    assert len(pools["test"]) == 2


@pytest.mark.parametrize("labels, expected", [
    ([0, 1, 1, 0], [0, 1, 1, 0]),
    ([True, False, True, False], [1, 0, 1, 0]),
    (["yes", "no", "no", "yes"], [1, 0, 0, 1]),
    ([2, 1, 1, 2], [1, 0, 0, 1]),
])
def test_file_task_label_mapping(labels, expected, tmp_path):
    rows = [{"text": f"t{i}", "label": v} for i, v in enumerate(labels)]
    path = write_table(tmp_path / "data.parquet", rows)
    assert [e.label for e in make("file", path=str(path)).load()["train"]] == expected


def test_file_task_limit_is_a_sample(tmp_path):
    rows = [{"text": f"row {i}", "label": int(i >= 50)} for i in range(100)]  # sorted by label
    path = write_table(tmp_path / "sorted.csv", rows)
    sample = make("file", path=str(path)).load(limit=10)["train"]
    assert len(sample) == 10 and {e.label for e in sample} == {0, 1}


def test_file_task_errors_name_the_path_and_columns(tmp_path):
    missing = tmp_path / "absent.csv"
    with pytest.raises(TaskError, match="absent.csv"):
        make("file", path=str(missing)).load()
    with pytest.raises(TaskError, match="no path"):
        make("file").load()
    path = write_table(tmp_path / "reviews.csv", FILE_ROWS)
    with pytest.raises(TaskError) as err:
        make("file", path=str(path)).load()
    assert "no column 'text'" in str(err.value) and "review, extra, sentiment" in str(err.value)
    assert "set text_column/label_column" in str(err.value)
    with pytest.raises(TaskError, match="no column 'stars'.*text_pair_column"):
        make("file", path=str(path), text_column="review", label_column="sentiment", text_pair_column="stars").load()
    with pytest.raises(TaskError, match="positive_label 'great'"):
        make("file", path=str(path), text_column="review", label_column="sentiment", positive_label="great").load()
    three = write_table(tmp_path / "three.jsonl", [{"text": f"t{i}", "label": v} for i, v in enumerate("abcab")])
    with pytest.raises(TaskError) as err:
        make("file", path=str(three)).load()
    assert "'label' has 3 values ('a', 'b', 'c')" in str(err.value) and "two" in str(err.value)
    weird = tmp_path / "data.xlsx"
    weird.write_text("x")
    with pytest.raises(TaskError, match="extension"):
        make("file", path=str(weird)).load()


def test_file_task_single_class_is_caught_by_the_split(tmp_path):
    path = write_table(tmp_path / "one.csv", [{"text": f"t{i}", "label": 1} for i in range(10)])
    pools = make("file", path=str(path)).load()
    with pytest.raises(TaskError, match="all have label 1"):
        split_examples(pools, seed=0, task_name="file")


def test_csv_rows_of_the_wrong_width_are_named_not_shifted(tmp_path):
    """An unquoted comma in the first row used to make pandas take the first column as the index, shift every
    value and fail later with "all examples have one label"."""
    rows = "".join(f"sentence {i},{i % 2}\n" for i in range(20))
    shifted = tmp_path / "shifted.csv"
    shifted.write_text("text,label\nhello, world,1\n" + rows + "bye, for now,0\n")
    with pytest.raises(TaskError) as err:
        make("file", path=str(shifted)).load()
    assert "line 2 has 3 fields but the header has 2 (and 1 more such row)" in str(err.value)
    assert "quote text" in str(err.value)
    short = tmp_path / "short.csv"
    short.write_text("text,label\n" + rows + "no label here\n")
    with pytest.raises(TaskError, match="line 22 has 1 fields but the header has 2"):
        make("file", path=str(short)).load()
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('text,label\n"hello, world",1\n' + rows)
    assert len(make("file", path=str(quoted)).load()["train"]) == 21


def test_too_few_rows_are_reported_as_too_few(tmp_path):
    path = write_table(tmp_path / "tiny.csv", [{"text": f"t{i}", "label": i % 2} for i in range(5)])
    with pytest.raises(TaskError) as err:
        split_examples(make("file", path=str(path)).load(), seed=0, task_name="file")
    assert "has only 5 distinct examples; a run needs at least 8" in str(err.value) and "label" not in str(err.value)


def test_skipped_rows_and_mapped_labels_are_reported(tmp_path):
    rows = [{"text": f"t{i}", "label": "yes" if i % 2 else "no"} for i in range(12)]
    rows += [{"text": None, "label": "yes"}, {"text": "no label", "label": None}]
    task = make("file", path=str(write_table(tmp_path / "gaps.csv", rows)))
    assert len(task.load()["train"]) == 12
    assert any("2 of 14 rows skipped because 'text' / 'label' is empty" in n for n in task.notes), task.notes
    assert any("mapped 'no' -> 0, 'yes' -> 1 (sorted order; set positive_label to choose)" in n for n in task.notes)
    plain = make("file", path=str(write_table(tmp_path / "plain.csv", [{"text": f"t{i}", "label": i % 2}
                                                                       for i in range(12)])))
    plain.load()
    assert plain.notes == []  # 0/1 labels, nothing skipped: nothing to say
