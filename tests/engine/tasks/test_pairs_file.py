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
