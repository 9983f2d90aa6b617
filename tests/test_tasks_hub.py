"""Hub task loaders (sciq, boolq, anthropic_hh, cosmos_qa, amazon_polarity) and the user-file task.

Each hub task reads a tiny local copy written in the hub's own format (same files, columns and types)
through `Config.data_files`; nothing touches the network. Run:

    .venv/bin/python -m pytest -q tests/test_tasks_hub.py -p no:cacheprovider
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from engine.registry import TASKS
from engine.tasks.base import TaskError, split_examples

HUB_TASKS = ["sciq", "boolq", "anthropic_hh", "cosmos_qa", "amazon_polarity"]


@pytest.fixture(autouse=True)
def _private_hf_caches(tmp_path, monkeypatch):
    """Arrow caches of the local copies, and any hub lookup, stay inside the test's temp folder."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))


def make(name: str, **settings):
    cls = TASKS.get(name)
    return cls(cls.Config(**settings))


# -- local copies in each hub's format -------------------------------------------------------------------


def sciq_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "question": f"Which particle number {i} carries a negative charge?",
            "distractor3": f"neutron {i}",
            "distractor1": f"proton {i}",
            "distractor2": f"nucleus {i}",
            "correct_answer": f"electron {i}",
            "support": f"Electrons are negatively charged ({i}).",
        }
        for i in range(offset, offset + n)
    ]


def write_sciq(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    data = root / "sciq" / "data"
    data.mkdir(parents=True)
    pd.DataFrame(sciq_rows(n_train)).to_parquet(data / "train-00000-of-00001.parquet")
    pd.DataFrame(sciq_rows(n_test, offset=1000)).to_parquet(data / "test-00000-of-00001.parquet")
    pd.DataFrame(sciq_rows(5, offset=2000)).to_parquet(data / "validation-00000-of-00001.parquet")
    return data.parent


def boolq_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {"question": f"is number {i} even", "answer": i % 2 == 0, "passage": f"Passage about the number {i}."}
        for i in range(offset, offset + n)
    ]


def write_boolq(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    data = root / "boolq" / "data"
    data.mkdir(parents=True)
    pd.DataFrame(boolq_rows(n_train)).to_parquet(data / "train-00000-of-00001.parquet")
    pd.DataFrame(boolq_rows(n_test, offset=1000)).to_parquet(data / "validation-00000-of-00001.parquet")
    return data.parent


def hh_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "chosen": f"\n\nHuman: How do I bake bread {i}?\n\nAssistant: Mix flour, water and yeast, then bake.",
            "rejected": f"\n\nHuman: How do I bake bread {i}?\n\nAssistant: I won't tell you.",
        }
        for i in range(offset, offset + n)
    ]


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def write_hh(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    sub = root / "hh-rlhf" / "harmless-base"
    sub.mkdir(parents=True)
    write_jsonl_gz(sub / "train.jsonl.gz", hh_rows(n_train) + [{"chosen": "Human: hi", "rejected": "Human: hi"}])
    write_jsonl_gz(sub / "test.jsonl.gz", hh_rows(n_test, offset=1000))
    return sub


def cosmos_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "id": f"id-{i}",
            "context": f"I went to the park on day {i} and it rained .",
            "question": f"Why did I get wet on day {i} ?",
            "answer0": f"It rained on day {i} .",
            "answer1": "None of the above choices .",
            "answer2": f"I swam in a lake on day {i} .",
            "answer3": f"The sun was out on day {i} .",
            "label": 0,
        }
        for i in range(offset, offset + n)
    ]


def write_cosmos(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    data = root / "cosmos_qa" / "data"
    data.mkdir(parents=True)
    train = cosmos_rows(n_train)
    # A question whose right answer is "None of the above": dropped, never shown.
    train.append(cosmos_rows(1, offset=500)[0] | {"label": 1})
    pd.DataFrame(train).astype({"label": "int32"}).to_parquet(data / "train-00000-of-00001.parquet")
    val = pd.DataFrame(cosmos_rows(n_test, offset=1000)).astype({"label": "int32"})
    val.to_parquet(data / "validation-00000-of-00001.parquet")
    # The hub's test split carries no labels (-1); it must never be read.
    unlabelled = pd.DataFrame(cosmos_rows(5, offset=2000)).assign(label=-1).astype({"label": "int32"})
    unlabelled.to_parquet(data / "test-00000-of-00001.parquet")
    return data.parent


def amazon_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {"label": i % 2, "title": f"Title {i}", "content": f"Review text number {i}."}
        for i in range(offset, offset + n)
    ]


def write_amazon(root: Path, n_train: int = 40, n_test: int = 20) -> Path:
    data = root / "amazon_polarity" / "amazon_polarity"
    data.mkdir(parents=True)
    rows = amazon_rows(n_train)
    half = len(rows) // 2
    pd.DataFrame(rows[:half]).to_parquet(data / "train-00000-of-00002.parquet")
    pd.DataFrame(rows[half:]).to_parquet(data / "train-00001-of-00002.parquet")
    pd.DataFrame(amazon_rows(n_test, offset=1000)).to_parquet(data / "test-00000-of-00001.parquet")
    return data.parent


WRITERS = {
    "sciq": write_sciq,
    "boolq": write_boolq,
    "anthropic_hh": write_hh,
    "cosmos_qa": write_cosmos,
    "amazon_polarity": write_amazon,
}


# -- formats, checked against hand-written strings -------------------------------------------------------


def by_text(examples):
    return {e.text: e for e in examples}


def test_sciq_format(tmp_path):
    task = make("sciq", data_files=str(write_sciq(tmp_path)))
    pools = task.load()
    assert len(pools["train"]) == 40 and len(pools["test"]) == 20  # one example per question
    q = "Which particle number 3 carries a negative charge?"
    right, texts = f"Q: {q} A: electron 3", by_text(pools["train"])
    wrong = {f"Q: {q} A: {d} 3" for d in ("proton", "neutron", "nucleus")}
    shown = [t for t in texts if t.startswith(f"Q: {q} ")]
    assert len(shown) == 1
    assert texts[shown[0]].label == (1 if shown[0] == right else 0)
    assert shown[0] == right or shown[0] in wrong
    assert texts[shown[0]].meta["correct_answer"] == "electron 3"
    assert all(e.meta["question"].startswith("Which particle number") for e in pools["test"])
    assert all(int(e.meta["question"].split()[3]) >= 1000 for e in pools["test"])  # test.parquet, not validation


def test_sciq_pairs_emit_both_answers(tmp_path):
    pools = make("sciq", data_files=str(write_sciq(tmp_path)), pairs=True).load()
    train = by_text(pools["train"])
    assert len(train) == 80
    q = "Which particle number 7 carries a negative charge?"
    assert train[f"Q: {q} A: electron 7"].label == 1
    negatives = [t for t, e in train.items() if t.startswith(f"Q: {q} ") and e.label == 0]
    assert len(negatives) == 1 and negatives[0] in {f"Q: {q} A: {d} 7" for d in ("proton", "neutron", "nucleus")}
    assert sum(e.label for e in pools["train"]) == 40  # balanced by construction


def test_sciq_seed_changes_choices_but_not_questions(tmp_path):
    root = write_sciq(tmp_path)
    a = make("sciq", data_files=str(root), seed=0).load()["train"]
    b = make("sciq", data_files=str(root), seed=1).load()["train"]
    assert [e.meta["question"] for e in a] == [e.meta["question"] for e in b]
    assert [e.text for e in a] != [e.text for e in b]


def test_boolq_format(tmp_path):
    pools = make("boolq", data_files=str(write_boolq(tmp_path))).load()
    train = by_text(pools["train"])
    assert train["Passage: Passage about the number 4.\nQuestion: is number 4 even?"].label == 1
    assert train["Passage: Passage about the number 5.\nQuestion: is number 5 even?"].label == 0
    assert len(pools["test"]) == 20  # the validation file is the test pool
    assert "Passage: Passage about the number 1001.\nQuestion: is number 1001 even?" in by_text(pools["test"])


def test_anthropic_hh_format(tmp_path):
    pools = make("anthropic_hh", data_files=str(write_hh(tmp_path)), pairs=True).load()
    train = by_text(pools["train"])
    assert len(train) == 80  # the pair with identical transcripts is dropped
    chosen = "Human: How do I bake bread 2?\n\nAssistant: Mix flour, water and yeast, then bake."
    rejected = "Human: How do I bake bread 2?\n\nAssistant: I won't tell you."
    assert train[chosen].label == 1 and train[chosen].meta["role"] == "chosen"
    assert train[rejected].label == 0 and train[rejected].meta["pair"] == train[chosen].meta["pair"]
    flips = make("anthropic_hh", data_files=str(tmp_path / "hh-rlhf" / "harmless-base")).load()
    assert len(flips["train"]) == 40 and len(flips["test"]) == 20


def test_anthropic_hh_rejects_unknown_subset():
    with pytest.raises(TaskError, match="red-team-attempts"):
        make("anthropic_hh", subset="red-team-attempts")


def test_cosmos_qa_format_and_none_of_the_above(tmp_path):
    pools = make("cosmos_qa", data_files=str(write_cosmos(tmp_path)), pairs=True).load()
    train = by_text(pools["train"])
    prompt = "Context: I went to the park on day 3 and it rained .\nQuestion: Why did I get wet on day 3 ?\nAnswer: "
    assert train[prompt + "It rained on day 3 ."].label == 1
    wrong = [t for t, e in train.items() if t.startswith(prompt) and e.label == 0]
    candidates = {prompt + "I swam in a lake on day 3 .", prompt + "The sun was out on day 3 ."}
    assert len(wrong) == 1 and wrong[0] in candidates
    assert len(train) == 80  # the question answered by "None of the above" is dropped
    assert not any("None of the above" in t for t in train)
    assert train[prompt + "It rained on day 3 ."].meta["source_id"] == "id-3"
    assert len(pools["test"]) == 40 and all("day 1" in e.text for e in pools["test"])  # validation, not test


def test_amazon_polarity_format(tmp_path):
    pools = make("amazon_polarity", data_files=str(write_amazon(tmp_path))).load()
    train = by_text(pools["train"])
    assert len(train) == 40  # both train shards
    assert train["Title 3 Review text number 3."].label == 1
    assert train["Title 4 Review text number 4."].label == 0
    assert len(pools["test"]) == 20


# -- properties every hub task shares ---------------------------------------------------------------------


@pytest.mark.parametrize("name", HUB_TASKS)
def test_hub_task_ids_labels_and_limit(name, tmp_path):
    root = str(WRITERS[name](tmp_path))
    cls = TASKS.get(name)
    assert cls.__doc__ and cls.version == "1" and len(cls.label_names) == 2
    for f in cls.Config.__dataclass_fields__.values():
        assert f.metadata.get("help"), f"{name}.Config.{f.name} has no help"
    first, second = make(name, data_files=root).load(), make(name, data_files=root).load()
    assert set(first) == {"train", "test"}
    for pool in ("train", "test"):
        ids = [e.id for e in first[pool]]
        assert len(ids) == len(set(ids)), f"{name} {pool}: duplicate ids"
        assert ids == [e.id for e in second[pool]], f"{name} {pool}: ids change between loads"
        assert {e.label for e in first[pool]} == {0, 1}
    limited = make(name, data_files=root).load(limit=7)
    assert all(1 <= len(pool) <= 7 for pool in limited.values())
    assert {e.id for e in limited["train"]} <= {e.id for e in first["train"]}
    splits = split_examples(first, seed=0, task_name=name)
    assert splits.a and splits.b and splits.test


@pytest.mark.parametrize("name", ["sciq", "cosmos_qa", "anthropic_hh"])
def test_limit_with_pairs_and_max_rows(name, tmp_path):
    root = str(WRITERS[name](tmp_path))
    assert len(make(name, data_files=root, pairs=True).load(limit=6)["train"]) == 6
    capped = make(name, data_files=root, pairs=True, max_rows=5).load()
    assert len(capped["train"]) == 10


def test_limit_takes_a_seeded_sample_not_the_first_rows(tmp_path):
    root = str(write_amazon(tmp_path))
    sample = make("amazon_polarity", data_files=root).load(limit=5)["train"]
    assert sample and {e.text for e in sample} != {f"Title {i} Review text number {i}." for i in range(5)}
    again = make("amazon_polarity", data_files=root).load(limit=5)["train"]
    assert [e.id for e in sample] == [e.id for e in again]


def test_local_copy_errors_name_the_problem(tmp_path):
    with pytest.raises(TaskError, match="matches no file"):
        make("sciq", data_files=str(tmp_path / "nowhere" / "*.parquet")).load()
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame({"question": ["q"], "answer": ["a"]}).to_parquet(bad / "train.parquet")
    with pytest.raises(TaskError, match="no column 'distractor1'"):
        make("sciq", data_files=str(bad)).load()
    only_test = tmp_path / "only_test"
    only_test.mkdir()
    pd.DataFrame(boolq_rows(4)).to_parquet(only_test / "validation.parquet")
    with pytest.raises(TaskError, match="no 'train' split"):
        make("boolq", data_files=str(only_test)).load()


def test_local_copy_without_test_file_leaves_the_test_pool_to_the_split(tmp_path):
    path = tmp_path / "boolq-train.parquet"
    pd.DataFrame(boolq_rows(20)).to_parquet(path)
    pools = make("boolq", data_files=str(path)).load()
    assert set(pools) == {"train"} and len(pools["train"]) == 20


@pytest.mark.parametrize("name", HUB_TASKS)
def test_unreachable_hub_raises_task_error_quickly(name, monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    # As if HF_HUB_OFFLINE were set after datasets was imported: the libraries read it only at import.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = make(name)
    start = time.monotonic()
    with pytest.raises(TaskError) as err:
        task.load(limit=10)
    assert time.monotonic() - start < 30
    message = str(err.value)
    assert task.hub_id in message and "data_files" in message and "\n" not in message
    assert datasets.config.HF_HUB_OFFLINE is False  # the library setting is restored afterwards


def test_script_only_repo_falls_back_to_the_parquet_export(monkeypatch):
    import datasets

    calls = []

    def fake_load(path, **kwargs):
        calls.append(kwargs.get("revision"))
        if kwargs.get("revision") is None:
            raise RuntimeError("Dataset scripts are no longer supported, but found cosmos_qa.py")
        return datasets.DatasetDict({
            "train": datasets.Dataset.from_list(cosmos_rows(6)),
            "validation": datasets.Dataset.from_list(cosmos_rows(4, offset=100)),
        })

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    pools = make("cosmos_qa").load()
    assert calls == [None, "refs/convert/parquet"]
    assert len(pools["train"]) == 6 and len(pools["test"]) == 4


# -- the user-file task -----------------------------------------------------------------------------------

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
