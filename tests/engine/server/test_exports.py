"""Many-run exports: the tidy one-row-per-run table (config.* and metric columns) and the per-prediction table,
filtered by tag, task, method and sweep, and read back from Parquet and CSV."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from engine.server.exports import RunFilter, predictions_table, runs_table, table_bytes
from tests.helpers import fake_run


def test_one_row_per_run_with_its_config_and_metrics(store):
    a, keys = fake_run(store, "naive", 0, tags="baseline, lr-sweep")
    b, _ = fake_run(store, "aux_conf", 1, tags="baseline", keys={"weak": keys["weak"], "ceiling": keys["ceiling"]})
    c, _ = fake_run(store, "naive", 2, tags="other")
    df = runs_table(store)
    assert list(df["id"]) == [a, b, c]
    assert {"config.train.epochs", "config.method_config.aux_coef", "pgr", "student_acc", "pgr_reason",
            "metric.seed"} <= set(df.columns)  # a metric named like a run column gets the metric. prefix
    assert list(df["pgr"]) == pytest.approx([0.5, 0.6, 0.7]) and list(df["metric.seed"]) == [0.0, 1.0, 2.0]
    assert list(runs_table(store, RunFilter(tag="baseline"))["id"]) == [a, b]  # a tag is a whole word of tags
    assert list(runs_table(store, RunFilter(tag="lr"))["id"]) == []
    assert list(runs_table(store, RunFilter(method="naive", tag="baseline"))["id"]) == [a]
    assert list(runs_table(store, RunFilter(runs=(c, a)))["id"]) == [a, c]
    assert runs_table(store, RunFilter(task="nope")).empty
    assert list(runs_table(store, visible_to="someone")["id"]) == []  # a visitor sees only their own / public runs


def test_every_prediction_of_every_role_round_trips_through_parquet_and_csv(store):
    a, keys = fake_run(store, "naive", 0, n_test=6)
    b, _ = fake_run(store, "aux_conf", 0, n_test=6, keys={"weak": keys["weak"], "ceiling": keys["ceiling"]})
    rows = predictions_table(store, [a, b])
    assert len(rows) == 2 * 3 * 6 and set(rows["role"]) == {"weak", "ceiling", "student"}
    shared = rows[(rows.role == "weak")]
    assert set(shared.groupby("example_id")["prob"].nunique()) == {1}  # the cached weak stage: the same rows
    assert list(rows[(rows.run_id == b) & (rows.role == "weak")]["cached"].unique()) == [True]
    stored = store._df("SELECT example_id, prob FROM predictions WHERE stage_key = ? ORDER BY position",
                       [keys["student"]])
    mine = rows[(rows.run_id == a) & (rows.role == "student")]
    assert list(mine.example_id) == list(stored.example_id) and list(mine.prob) == list(stored.prob)
    assert mine.text.iloc[0] == "text e0"
    back = pd.read_parquet(io.BytesIO(table_bytes(rows, "parquet")))
    pd.testing.assert_frame_equal(back, rows, check_dtype=False)
    assert len(pd.read_csv(io.BytesIO(table_bytes(rows, "csv")))) == len(rows)
    tidy = runs_table(store)
    assert len(pd.read_parquet(io.BytesIO(table_bytes(tidy, "parquet")))) == 2
    with pytest.raises(ValueError, match="use parquet or csv"):
        table_bytes(rows, "xlsx")
