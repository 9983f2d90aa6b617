"""The studio's training-dynamics views (studio/tabs/dynamics.py) on the real app and engine: the Results
section's figure and tables, the Inspector's data map and trajectory, each agreeing with the engine's tables."""

from __future__ import annotations

import html
import json
import re

import pandas as pd

from tests.studio.test_app import table_rows


def _values(v) -> list:
    """A trace's array: a list, or Plotly's typed-array encoding {dtype, bdata (base64)}."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _traces(plot) -> list[dict]:
    value = plot.get("plot") if isinstance(plot, dict) else plot
    return json.loads(value)["data"] if isinstance(value, str) else value["data"]


def test_results_dynamics_section_matches_the_engine(app, small_run):
    fig, _, note, stats, paired = app.client.predict(small_run, api_name="/dynamics")
    dyn = app.engine.dynamics(small_run).data
    student = sorted((c, a) for r, s, c, a in zip(dyn["role"], dyn["split"], dyn["checkpoint"], dyn["accuracy"])
                     if (r, s) == ("student", "test"))
    traces = {t["name"]: t for t in _traces(fig)}
    # 1 epoch of 4 steps (100 rows of B, batches of 32): the default's five points fall on every step.
    assert [c for c, _ in student] == [0, 1, 2, 3]
    assert student[-1][1] == app.engine.metrics(small_run)["student_acc"]
    assert [round(y, 6) for y in _values(traces["accuracy"]["y"])] == [round(a, 6) for _, a in student]
    assert "accuracy where the weak label is wrong" in traces and "w2s-notice-error" not in note
    methods = {r["method"]: r for r in table_rows(stats)}
    assert {"naive", "aux_conf"} <= set(methods) and methods["naive"]["n"] in (1, "1")
    run = app.engine.run(small_run)
    assert any(r["against"] != run.method for r in table_rows(paired))


def test_the_results_dynamics_section_costs_the_engine_one_request(app, small_run):
    """The run, its dynamics, the seed statistics and the paired comparison come in one answer (they were four)."""
    def requests() -> int:
        return app.engine.health().requests

    before = requests()
    idle = requests() - before  # what reading the count adds (the health request itself)
    before = requests()
    first = app.client.predict(small_run, api_name="/dynamics")
    assert requests() - before - idle == 1
    again = app.client.predict(small_run, api_name="/dynamics")
    assert table_rows(first[3]) == table_rows(again[3]) and table_rows(first[4]) == table_rows(again[4])


def test_inspector_data_map_and_trajectory(app, small_run):
    page, csv = app.client.predict(small_run, "test", api_name="/cartography")
    ids = sorted(html.unescape(i) for i in re.findall(r'data-example="([^"]*)"', page))
    cart = app.engine.cartography(small_run).data
    assert ids == sorted(cart["example_id"]) and len(ids) == app.engine.metrics(small_run)["n_test"]
    assert f"{len(ids):,} examples; click a dot" in page
    assert sorted(pd.read_csv(csv, dtype={"example_id": str})["example_id"]) == ids  # the CSV holds what is drawn
    example = ids[0]
    fig = app.client.predict(small_run, example, api_name="/trajectory")
    names = {t["name"] for t in _traces(fig)}
    assert {"student (test)", "ceiling (test)", "weak (test)"} == names
