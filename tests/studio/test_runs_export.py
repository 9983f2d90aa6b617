"""The Runs tab's export of the listed runs, driven through the running studio (gradio_client): a zip whose
runs.<fmt> and predictions.<fmt> hold what the engine's export holds."""

from __future__ import annotations

import io
import zipfile

import pandas as pd


def file_of(out):
    """The file a File output shows: a path, or inside the update (visible=True) the client gets back."""
    while isinstance(out, dict):
        out = out.get("value") if "value" in out else out.get("path")
    return out


def test_export_listed_runs_matches_the_engine(app, small_run):
    out, note = app.client.predict("all", "all", "all", "", "parquet", api_name="/export_runs")
    path = file_of(out)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["predictions.parquet", "runs.parquet"]
        runs = pd.read_parquet(io.BytesIO(archive.read("runs.parquet")))
        preds = pd.read_parquet(io.BytesIO(archive.read("predictions.parquet")))
    assert small_run in set(runs["id"]) and f"Exported {len(runs)} run(s) as parquet" in note
    engine_runs = app.engine.export("runs", format="json", run=[small_run])
    row = runs.set_index("id").loc[small_run]
    assert row["method"] == engine_runs.data["method"][0] and row["pgr"] == engine_runs.data["pgr"][0]
    mine = preds[preds["run_id"] == small_run]
    assert set(mine["role"]) >= {"weak", "ceiling", "student"} and set(mine["split"]) >= {"test"}
    out, note = app.client.predict("all", "all", "all", "zz-no-such-tag", "csv", api_name="/export_runs")
    assert file_of(out) is None and "nothing to export" in note
