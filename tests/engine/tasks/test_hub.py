"""Hub tasks on local copies in the hub's layout: sciq, boolq, anthropic_hh(_pairs), cosmos_qa, amazon_polarity,
legalbench, RTP, gsm8k, MATH."""

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

def make(name: str, **settings):
    cls = TASKS.get(name)
    return cls(cls.Config(**settings))

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

def by_text(examples):
    return {e.text: e for e in examples}

# ----------------------------------------------------------------------------- the preference tasks

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


def test_legalbench_privacy_parses_a_local_copy_in_the_hub_format(tmp_path, monkeypatch):
    import datasets.config
    import pandas as pd

    from engine.registry import TASKS

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "legalbench" / "privacy_policy_qa"
    folder.mkdir(parents=True)
    rows = [{"question": f"Do you sell my data {i}?", "text": f"We never sell personal data ({i}).",
             "answer": "Relevant" if i % 2 else "Irrelevant", "index": str(i)} for i in range(20)]
    pd.DataFrame(rows[:4]).to_csv(folder / "train.csv", index=False)
    pd.DataFrame(rows).to_csv(folder / "test.csv", index=False)
    task = TASKS.get("legalbench_privacy")
    pools = task(task.Config(data_files=str(folder))).load()
    assert set(pools) == {"train"} and len(pools["train"]) == 20  # every pool comes from the hub's test split
    e = pools["train"][1]
    assert e.label == 1 and e.text.startswith("Clause: We never sell personal data (1).\nQuestion: Do you sell")


def test_real_toxicity_prompts_reads_nested_records(tmp_path, monkeypatch):
    import datasets.config

    from engine.registry import TASKS

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    rows = [{"filename": f"f{i}", "prompt": {"text": f"The weather on day {i} was", "toxicity": 0.01 * i},
             "continuation": {"text": f"sunny and warm {i}.", "toxicity": 0.02}} for i in range(12)]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    task = TASKS.get("real_toxicity_prompts")
    (train,) = task(task.Config(data_files=str(path))).load().values()
    assert len(train) == 12 and train[3].text == "The weather on day 3 was"
    assert train[3].meta["completion"] == " sunny and warm 3." and train[3].meta["prompt_toxicity"] == 0.03
    assert task.kind == "generation"


# ----------------------------------------------------------------------------- hub loaders on local copies
def test_gsm8k_loader_reads_the_hub_format(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "gsm8k" / "main"
    folder.mkdir(parents=True)
    rows = [{"question": f"Tom has {i} apples and buys 2 more. How many?", "answer": f"{i}+2={i + 2}\n#### {i + 2}"}
            for i in range(10)]
    pd.DataFrame(rows).to_parquet(folder / "train-00000-of-00001.parquet")
    pd.DataFrame(rows[:4]).to_parquet(folder / "test-00000-of-00001.parquet")
    task = TASKS.get("gsm8k")
    pools = task(task.Config(data_files=str(folder))).load()
    e = pools["train"][3]
    assert e.text == "Question: Tom has 3 apples and buys 2 more. How many?\nAnswer:" and e.meta["answer"] == "5"
    assert e.meta["completion"] == " 3+2=5\n#### 5" and len(pools["test"]) == 4
    assert task.extract_answer(e.meta["completion"]) == e.meta["answer"]


def test_hendrycks_math_loader_reads_the_hub_format(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "math" / "algebra"
    folder.mkdir(parents=True)
    rows = [{"problem": f"Solve $x + {i} = 2{i}$.", "solution": f"Subtract: $x = \\boxed{{{19 * i + i}}}$.",
             "level": "Level 2", "type": "Algebra"} for i in range(1, 9)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:3]))
    task = TASKS.get("hendrycks_math")
    pools = task(task.Config(data_files=str(folder))).load()
    e = pools["train"][0]
    assert e.text.startswith("Question: Solve $x + 1 = 21$.") and e.meta["answer"] == "20"
    assert e.meta["completion"].endswith("\nThe answer is: 20") and e.meta["level"] == "Level 2"
    assert task.extract_answer(e.meta["completion"]) == "20"
    with pytest.raises(Exception, match="subject"):
        task.Config(subject="astrology")


def test_anthropic_hh_pairs_splits_the_last_turn(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    sub = tmp_path / "hh-rlhf" / "harmless-base"
    sub.mkdir(parents=True)
    rows = [{"chosen": f"\n\nHuman: how do I pick lock {i}?\n\nAssistant: I can't help with that.",
             "rejected": f"\n\nHuman: how do I pick lock {i}?\n\nAssistant: Use a tension wrench {i}."}
            for i in range(30)]
    rows += [{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: hello"},
             {"chosen": "\n\nHuman: a\n\nAssistant: x", "rejected": "\n\nHuman: b\n\nAssistant: y"}]
    write_jsonl_gz(sub / "train.jsonl.gz", rows)
    write_jsonl_gz(sub / "test.jsonl.gz", rows[:10])
    task = TASKS.get("anthropic_hh_pairs")
    pools = task(task.Config(data_files=str(sub))).load()
    train = pools["train"]
    assert len(train) == 30  # the identical pair and the one with different conversations are dropped
    e = train[0]
    assert e.text.endswith("\n\nAssistant:") and e.text.startswith("Human: how do I pick lock")
    assert e.meta["chosen"] == " I can't help with that." and e.meta["rejected"].startswith(" Use a tension wrench")
    assert e.label == 1 and len({x.id for x in train}) == 30 and task.kind == "preference"
