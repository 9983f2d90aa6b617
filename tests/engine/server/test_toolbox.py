"""The toolbox routes on the real engine (`w2s serve` subprocess): read-only SQL answering with the store's rows,
writes refused, a snapshot another process opens while the engine runs, many-run exports read back from Parquet,
kept weights listed, downloaded and reloaded to predict the stored probabilities, trackers written by a worker."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from engine.client import EngineError, connect
from tests.helpers import toy_config


def test_sql_answers_with_the_engines_rows_and_refuses_writes(engine):
    client = engine.client
    reply = client.sql("SELECT id, status FROM runs ORDER BY id")
    listed = client.runs(limit=100_000)
    assert sorted(reply.data["id"]) == sorted(listed.data["id"]) and reply.truncated is False
    frame = pd.read_parquet(io.BytesIO(client.sql("SELECT * FROM range(50) t(i)", limit=20, format="parquet")))
    assert list(frame.i) == list(range(20))
    arrow = client.sql("SELECT 1 AS one", format="arrow")
    import pyarrow as pa

    assert pa.ipc.open_stream(arrow).read_all().to_pylist() == [{"one": 1}]
    for sql, message in (("DELETE FROM runs", "only SELECT and EXPLAIN"),
                         ("SELECT * FROM read_text('/etc/hostname')", "read_text() reaches outside"),
                         ("COPY runs TO 'x.csv'", "got COPY")):
        with pytest.raises(EngineError) as err:
            client.sql(sql)
        assert err.value.status == 422 and message in str(err.value)
    notebook = connect(engine.home)  # the notebook entry point: DataFrames
    df = notebook.sql("SELECT count(*) AS n FROM runs")
    assert isinstance(df, pd.DataFrame) and int(df.n[0]) == len(listed.data["id"])
    assert isinstance(notebook.runs(), pd.DataFrame) and isinstance(notebook.export(), pd.DataFrame)


def test_a_snapshot_opens_in_another_process_while_the_engine_holds_the_database(engine, tmp_path):
    path = engine.client.snapshot(tmp_path / "copy.duckdb")
    code = ("import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True)"
            ".execute('SELECT count(*) FROM runs').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert int(out.stdout) == engine.client.sql("SELECT count(*) AS n FROM runs").data["n"][0]


@pytest.mark.slow
def test_a_sweep_exports_keeps_weights_and_reports_to_tensorboard(engine, tiny_models, tmp_path):
    from tbparse import SummaryReader

    from engine.ml.scoring import predict_probs
    from engine.ml.weights import load_kept

    client = engine.client
    config = toy_config(tiny_models, methods=["naive", "aux_conf"], name="toolbox",
                        train={"epochs": 1, "lr": 1e-3, "batch_size": 16, "keep_weights": True,
                               "report_to": ["tensorboard"]})
    ids = client.submit(config, tags="toolbox-test").run_ids
    runs = client.wait_for(ids, timeout=600)
    assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]
    first, second = ids

    # Export: one row per run (tag filter), every prediction of every role, read back from Parquet.
    tidy = pd.read_parquet(io.BytesIO(client.export("runs", tag="toolbox-test")))
    assert sorted(tidy.id) == sorted(ids) and {"config.train.keep_weights", "pgr", "student_acc"} <= set(tidy.columns)
    rows = pd.read_parquet(io.BytesIO(client.export("predictions", tag="toolbox-test")))
    counted = client.sql("SELECT count(*) AS n FROM run_stages rs JOIN predictions p ON p.stage_key = rs.stage_key "
                         f"WHERE rs.run_id IN ('{first}', '{second}')").data["n"][0]
    assert len(rows) == counted and set(rows.role) == {"weak", "ceiling", "student"}
    assert set(rows.split) == {"B", "test"}

    # Weights: listed with the run (and its stages), downloaded as a folder that predicts the stored probabilities.
    listed = client.weights(second).records()
    assert {r["role"]: r["kept"] for r in listed} == {"weak": True, "ceiling": True, "student": True}
    assert {r["role"]: r["note"] for r in listed}["weak"] == f"kept by run {first}, which trained it"
    assert all(s["weights_bytes"] > 0 for s in client.run(second).stages)
    folder = client.download_weights(second, "student", tmp_path)
    model, tok = load_kept(folder)
    page = client.predictions(second, limit=10_000)
    probs = predict_probs(model, tok, page.data["text"], 16, 512)
    assert np.abs(probs - np.array(page.data["student_prob"])).max() < 1e-6

    # TensorBoard, written by the worker: named after the run, tagged with the run's tags; the cached stages marked.
    reader = SummaryReader(str(engine.home / "trackers" / "tensorboard" / "toolbox"), extra_columns={"dir_name"})
    assert {f"{first}/student", f"{second}/student"} <= set(reader.scalars.dir_name)
    texts = reader.text
    assert "toolbox-test" in texts[(texts.dir_name == f"{second}/student") & (texts.tag == "w2s/tags")].value.iloc[0]
    assert {f"{second}/weak-reused", f"{second}/ceiling-reused"} <= set(texts.dir_name)

    # gc: the second run's own student goes; weak and ceiling, shared with the first run, stay.
    dry = client.gc(runs=[second], dry_run=True)
    assert [r["reason"] for r in dry.removed] == ["a run asked for"] and dry.dry_run
    gone = client.gc(runs=[second])
    assert gone.freed == dry.freed > 0
    assert {r["role"]: r["kept"] for r in client.weights(second).records()}["student"] is False
