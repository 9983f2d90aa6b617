"""pairs_file: prompt, chosen and rejected columns read, a missing one named."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.registry import TASKS
from engine.tasks.base import TaskError


def test_pairs_file_reads_columns_and_names_a_missing_one(tmp_path):
    task = TASKS.get("pairs_file")
    path = tmp_path / "pairs.csv"
    pd.DataFrame({"q": ["the size of A is", "the size of A is", "x"], "good": ["big .", " small .", "same"],
                  "bad": ["small .", "big .", "same"]}).to_csv(path, index=False)
    pools = task(task.Config(path=str(path), prompt_column="q", chosen_column="good", rejected_column="bad")).load()
    (train,) = pools.values()
    assert [e.meta["chosen"] for e in train] == [" big .", " small ."]  # leading space added, tie row skipped
    assert train[0].id != train[1].id  # same prompt, different pairs
    with pytest.raises(TaskError, match="no column 'prompt'.*set prompt_column"):
        task(task.Config(path=str(path))).load()


def test_released_pairs_are_read_from_text_or_chat_message_columns(tmp_path):
    import json

    import pytest

    from engine.tasks.base import TaskError
    from engine.tasks.pairs_file import read_pairs

    chat = [{"chosen": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}],
             "rejected": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Seven."}]},
            {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "Hi!"}]  # identical responses: skipped
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chat))
    (pair,) = read_pairs(str(tmp_path / "chat.jsonl"))
    assert (pair.text, pair.meta["chosen"], pair.meta["rejected"]) == ("Name a colour.", " Blue.", " Seven.")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(TaskError, match="no prompt column"):
        read_pairs(str(tmp_path / "bad.jsonl"))
    with pytest.raises(TaskError, match="cannot load pairs from hub dataset 'nobody/no-such-pairs'"):
        read_pairs("nobody/no-such-pairs")  # offline in tests: the message names the fix


def test_released_pairs_name_their_sides_by_column(tmp_path):
    """Geng et al.'s model-ladder data keeps one column per model; the run names which is chosen."""
    import json

    import pytest

    from engine.tasks.base import TaskError
    from engine.tasks.pairs_file import read_pairs

    row = {"prompt": "Name a colour.", "qwen-3b": "Blue.", "qwen-1.5b": "Seven."}
    (tmp_path / "ladder.jsonl").write_text(json.dumps(row) + "\n")
    (pair,) = read_pairs(str(tmp_path / "ladder.jsonl"), "qwen-3b", "qwen-1.5b")
    assert (pair.meta["chosen"], pair.meta["rejected"]) == (" Blue.", " Seven.")
    with pytest.raises(TaskError, match="no column 'chosen'.*set chosen_column"):
        read_pairs(str(tmp_path / "ladder.jsonl"))
