"""The studio as a user drives it: the real engine and the real Gradio app (`w2s studio`), driven with gradio_client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import handle_file

from tests.helpers import ROOT, StudioProcess, read_db

DEMO = "demo (offline)"

def preset_values(app: StudioProcess, label: str = DEMO) -> tuple[list, dict[str, int]]:
    """The Experiment tab's input values after picking a preset, and the index of each input by its label."""
    info = app.client.view_api(return_format="dict", print_info=False)
    labels = [r["label"] for r in info["named_endpoints"]["/load_preset"]["returns"]]
    values = list(app.client.predict(label, api_name="/load_preset"))
    n_inputs = len(info["named_endpoints"]["/submit"]["parameters"])
    index: dict[str, int] = {}
    for i, name in enumerate(labels[:n_inputs]):
        index.setdefault(name, i)
    return values[:n_inputs], index

def stop_if_active(app: StudioProcess, run_id: str) -> None:
    if app.engine.run(run_id).status in ("queued", "running"):
        app.engine.cancel(run_id)


def table_rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], row)) for row in table["data"]]


# ----------------------------------------------------------------------------- the dependency arrow
def test_studio_imports_only_the_engine_client():
    """studio/ never imports torch, transformers, trl, peft, duckdb or engine internals (statically and at run time)."""
    allowed_engine = {"engine.client", "engine.api", "engine"}
    for path in sorted((ROOT / "studio").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in {"torch", "transformers", "trl", "peft", "duckdb", "accelerate", "datasets"}, \
                    f"{path.name} imports {name}"
                if top == "engine":
                    assert name in allowed_engine, f"{path.name} imports engine internals: {name}"
    code = ("import sys, launch, studio.app, studio.tabs.experiment, studio.tabs.runs, studio.tabs.results, studio.tabs.inspector; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'duckdb', 'engine.server.store', "
            "'engine.run.execute', 'engine.run.stages') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- the main flow
@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_demo_preset_runs_and_every_tab_agrees_with_duckdb(tmp_path):
    app = StudioProcess(tmp_path / "home")
    try:
        values, at = preset_values(app)
        assert values[at["Task"]] == "world_size" and values[at["Weak supervisor"]] == ["world-xs"]
        values[at["Seeds"]], values[at["Tags"]] = "0", "studio-test"  # one seed keeps the test short
        out = app.client.predict(*values, api_name="/submit")
        run_ids = out[1].split(",")
        assert len(run_ids) == 2 and "Queued 2 run(s)" in out[0], out[0]
        runs = app.engine.wait_for(run_ids, timeout=300)
        assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]

        # Runs tab: both runs, done, tagged; the tag filter finds them and a made-up tag finds none.
        table, *_ = app.client.predict("all", "all", "all", "studio-test", False, api_name="/runs_table")
        shown = {r["run"]: r for r in table_rows(table)}
        assert set(shown) == set(run_ids) and {r["status"] for r in shown.values()} == {"done"}
        assert {r["tags"] for r in shown.values()} == {"studio-test"}
        table, *_ = app.client.predict("all", "all", "all", "no-such-tag", False, api_name="/runs_table")
        assert table["data"] == []

        naive = next(r for r in runs if r.method == "naive")
        # Results tab: the metrics table holds the run's PGR and accuracies.
        results = app.client.predict(naive.id, "0", "train_loss", 0.0, api_name="/results")
        (table,) = [x for x in results if isinstance(x, dict) and x.get("headers") == ["metric", "value"]]
        metrics = {row[0]: row[1] for row in table["data"]}
        assert "PGR" in results[0] and f"{metrics['pgr']:.2f}" in results[0]
        assert metrics["weak_acc"] < metrics["student_acc"] <= metrics["ceiling_acc"]

        # Inspector: "student fixed the weak error", every row has weak wrong and student right.
        heat, regions, fixed, info, _ = app.client.predict(naive.id, "", "test", "student_fixed", "all", "",
                                                           "example id", False, 1, api_name="/inspect")
        fixed_rows = table_rows(fixed)
        assert fixed_rows and all(r["weak"].endswith("✗") and r["student"].endswith("✓") for r in fixed_rows)
        assert f"<b>{len(fixed_rows)}</b> of" in info and f">{len(fixed_rows)}<" in heat
        (slice_csv,) = [app.client.predict(naive.id, "", "test", "student_fixed", "all", "", "example id", False,
                                           api_name="/export_slice")]
        assert Path(slice_csv["value"] if isinstance(slice_csv, dict) else slice_csv).read_text().count("\n") == \
            len(fixed_rows) + 1
    finally:
        app.stop()

    # The database, read after the engine let go of it, says the same.
    db_pgr = read_db(app.db, "SELECT value FROM metrics WHERE run_id = ? AND name = 'pgr'", [naive.id])[0][0]
    assert db_pgr == pytest.approx(metrics["pgr"], abs=1e-6)
    db_fixed = read_db(app.db, """
        SELECT p_w.example_id FROM runs r
        JOIN run_stages w ON w.run_id = r.id AND w.role = 'weak'
        JOIN run_stages s ON s.run_id = r.id AND s.role = 'student'
        JOIN predictions p_w ON p_w.stage_key = w.stage_key AND p_w.split = 'test'
        JOIN predictions p_s ON p_s.stage_key = s.stage_key AND p_s.split = 'test' AND p_s.example_id = p_w.example_id
        WHERE r.id = ? AND NOT p_w.correct AND p_s.correct ORDER BY 1""", [naive.id])
    assert [r[0] for r in db_fixed] == sorted(r["example"] for r in fixed_rows)
    assert read_db(app.db, "SELECT count(*) FROM runs WHERE tags = 'studio-test'")[0][0] == 2


# ----------------------------------------------------------------------------- bad input
def test_bad_hub_id_shows_the_engines_message_beside_the_field(app):
    values, at = preset_values(app)
    values[at["Weak supervisor"]] = "no-such-org/no-such-model"
    out = app.client.predict(*values, api_name="/check")
    assert "unknown model &#x27;no-such-org/no-such-model&#x27;" in out[0] and "Fix:" in out[0]
    weak_update = out[3]  # outputs: errors, summary, then the annotated fields (task, weak, ...)
    assert "no-such-org/no-such-model" in weak_update["info"] and "field-error" in weak_update["elem_classes"]
    before = len(app.engine.runs().data["id"])
    out = app.client.predict(*values, api_name="/submit")
    assert out[1] == "" and "unknown model" in out[2]
    assert len(app.engine.runs().data["id"]) == before  # nothing was queued


def test_several_weak_and_strong_models_make_a_grid(app):
    """The model pickers take several models: the config lists them, and the engine counts the smaller-than pairs
    (world-s -> world-s is skipped) times methods times seeds; Ray resources travel as a YAML mapping."""
    values, at = preset_values(app)
    values[at["Weak supervisor"]], values[at["Strong student"]] = ["world-xs", "world-s"], ["world-s", "world-l"]
    values[at["Seeds"]], values[at["resources"]] = "0", "{num_cpus: 2}"
    yaml_text, _, _, summary, _ = app.client.predict(*values, api_name="/show_config")
    assert "weak: [world-xs, world-s]" in yaml_text and "strong: [world-s, world-l]" in yaml_text
    assert "resources: {num_cpus: 2}" in yaml_text and "2 weak × 2 strong" in summary
    out = app.client.predict(*values, api_name="/check")
    assert "Config is valid: 6 run(s)" in out[0], out[0]  # 3 pairs x 2 methods x 1 seed


def test_preference_methods_get_their_forms_and_presets_without_method_code(app):
    """A method is one file: the registry gives the studio its settings form and the preset fills it."""
    values, at = preset_values(app, "preference (preference preset)")
    assert values[at["Methods"]] == ["weak_rm", "weak_dpo"] and values[at["Task"]] == "world_pref"
    info = app.client.view_api(return_format="dict", print_info=False)
    labels = [r["label"] for r in info["named_endpoints"]["/load_preset"]["returns"]]
    for field in ("beta", "po_epochs", "labelled_frac", "rejected_model"):  # weak_dpo, weak_teacher, delta
        assert field in labels, f"no widget for setting {field}"
    out = app.client.predict(*values, api_name="/check")
    assert "Config is valid: 2 run(s)" in out[0], out[0]


def test_deception_view_lists_the_deception_cases_with_both_margins(app):
    config = {"task": "world_pref", "weak": "world-xs", "strong": "world-l", "n_train": 480, "n_test": 160,
              "methods": ["weak_rm"], "train": {"epochs": 4}, "settings": {"weak_rm": {"conflict": "implicit"}}}
    (run,) = app.engine.wait_for(app.engine.submit(config).run_ids, timeout=300)
    assert run.status == "done", run.error
    m = app.engine.metrics(run.id)
    assert m["deception_cases"] > 0
    results = app.client.predict(run.id, False, "train_loss", 0.0, api_name="/results")
    (cards,) = [x for x in results if isinstance(x, str) and "deception cases" in x]
    for key in ("ds_a", "ds_b", "ds_c"):  # each shown with its formula; an undefined one as a dash
        assert (f"{m[key]:.3f}" if m[key] is not None else "–") in cards
    assert "|S_k ∩ W_uk ∩ student wrong| / |S_k ∩ W_uk|" in cards
    _, regions, table, info, _ = app.client.predict(run.id, "", "test", "all", "deception", "", "example id", False, 1,
                                                    api_name="/inspect")
    rows = table_rows(table)
    assert len(rows) == m["deception_cases"] and f"deception cases: {len(rows)}" in regions
    assert all(r["region"] == "W_uk ∩ S_k" and r["student"].endswith("✗") and r["weak"].endswith("✗")
               and r["ceiling"].endswith("✓") for r in rows)
    # Wrong on a pair = the student's reward margin favours the rejected response; the weak one's too.
    assert all(r["student margin"] < 0 and r["weak margin"] < 0 for r in rows)
    # Half B: the weak labels the student learned from, one row per training pair.
    _, _, table_b, info_b, _ = app.client.predict(run.id, "", "B", "all", "all", "", "example id", False, 1,
                                                  api_name="/inspect")
    assert f"of {int(m['n_train_b']):,} examples" in info_b and "weak margin" in table_b["headers"]


def test_uploaded_file_problems_are_shown(app, tmp_path):
    three = tmp_path / "stars.csv"
    three.write_text("review,stars\nnice,5\nbad,1\nok,3\n")
    out = app.client.predict(handle_file(str(three)), api_name="/upload_data")
    assert "label column &#x27;stars&#x27;" in out[-1] and "3 distinct values" in out[-1]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    out = app.client.predict(handle_file(str(broken)), api_name="/upload_data")
    assert "cannot read file broken.parquet as parquet" in out[-1] and "Fix:" in out[-1]


def test_a_file_with_one_class_is_refused_before_queueing(app, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("text,label\n" + "".join(f"sentence number {i},1\n" for i in range(40)))
    values, at = preset_values(app)
    app.client.predict(handle_file(str(one)), api_name="/upload_data")  # the user's upload (path is kept)
    values[at["Task"]] = "file"
    values[at["path"]], values[at["text_column"]], values[at["label_column"]] = str(one), "text", "label"
    out = app.client.predict(*values, api_name="/check")
    assert "all have label 1" in out[0] and "both classes" in out[0]


def test_run_state_survives_a_studio_restart(app):
    """The studio keeps no state: a second app process on the same data directory reuses the running engine and
    shows the same runs with the same status."""
    run_id = app.engine.submit({"task": "world_size", "weak": "world-xs", "strong": "world-s"}).run_ids[0]
    app.engine.cancel(run_id)
    second = StudioProcess(app.home, stop_engine=False)
    try:
        assert second.engine_pid == app.engine_pid  # no second engine was started
        for studio in (app, second):
            table, *_ = studio.client.predict("all", "all", "all", "", False, api_name="/runs_table")
            assert {r["run"]: r["status"] for r in table_rows(table)}[run_id] == "cancelled"
    finally:
        second.stop()
    assert app.engine.health().ok


# ----------------------------------------------------------------------------- across runs, W&B-style
def test_runs_table_shows_what_differs_groups_by_setup_and_diffs_two_configs(app, small_run):
    table, *_ = app.client.predict("all", "all", "all", "", False, api_name="/runs_table")
    rows = {r["run"]: r for r in table_rows(table)}
    for column in ("name", "sweep", "tags", "setup"):
        assert column in table["headers"]
    assert rows[small_run]["setup"] == app.engine.run(small_run).config_key
    other = next(r for r, row in rows.items() if row["sweep"] == rows[small_run]["sweep"] and r != small_run)
    grouped, *_ = app.client.predict("all", "all", "all", "", True, api_name="/runs_table")
    setups = {r["setup"]: r for r in table_rows(grouped)}
    assert setups[rows[small_run]["setup"]]["runs"] >= 1 and "median PGR" in grouped["headers"]
    diff = table_rows(app.client.predict(small_run, other, api_name="/config_diff"))
    assert {"setting": "method", "this run": "naive", "other run": "aux_conf"} in diff
    assert all(d["setting"] != "seed" for d in diff)  # same seed: not a difference


def test_curves_of_several_runs_overlay_one_line_per_run(app, small_run):
    other = next(r for r in app.engine.runs(status="done").data["id"] if r != small_run)
    out = app.client.predict(small_run, "train_loss", 0.5, [other], "student", "", api_name="/run_detail")
    import json

    fig = json.loads(out[2]["plot"])
    named = [t["name"] for t in fig["data"] if t.get("showlegend") is not False]
    assert len(named) == 2 and named[0].startswith(small_run) and named[1].startswith(other)


def test_results_warn_when_numbers_mean_little_and_hide_what_does_not_apply(app, small_run):
    results = app.client.predict(small_run, False, "train_loss", 0.0, api_name="/results")
    cards, setup = results[0], results[1]
    assert "only 100 test examples" in cards and "w2s-muted" in cards  # small_run's n_test is 100
    assert app.engine.run(small_run).config_key in setup
    # a naive run has no conflicting objective: no deception cards
    assert not any(isinstance(x, str) and "deception cases" in x for x in results)


def test_fix_and_imitate_rates_along_an_example_attribute(app, small_run):
    scatter, attribute, fig = app.client.predict(small_run, "test", "all", "freq_rank",
                                                 api_name="/rates_by_attribute")
    assert attribute["value"] == "freq_rank" and "mentions_xs" in str(attribute["choices"])
    assert scatter.count("<circle") == 100
    import json

    names = [t["name"] for t in json.loads(fig["plot"])["data"]]
    assert names == ["fixed", "imitated"]


def test_resubmitting_a_setup_asks_first_and_can_queue_only_new_runs(app):
    values, at = preset_values(app)
    values[at["Seeds"]], values[at["Methods"]] = "0", ["naive"]
    values[at["n_train"]], values[at["n_test"]], values[at["epochs"]] = "100", "40", 1
    values[at["Name"]] = "duplicate-check"
    first = app.client.predict(*values, api_name="/submit")
    (run_id,) = first[1].split(",")
    try:
        again = app.client.predict(*values, api_name="/submit")
        # the API's outputs leave out layout and state: submitted, run ids, errors, the question, the fields
        assert again[1] == "" and run_id in again[3] and "already exist with the same setup and seed" in again[3]
        skipped = app.client.predict(*values, api_name="/submit_new_only")
        assert skipped[1] == "" and "Nothing queued" in skipped[0]
        forced = app.client.predict(*values, api_name="/submit_again")
        assert forced[1] and forced[1] != run_id
        stop_if_active(app, forced[1])
    finally:
        stop_if_active(app, run_id)
    app.engine.wait_for([run_id], timeout=120)
    deleted = app.client.predict(run_id, True, api_name="/delete")
    assert f"Run {run_id} deleted" in deleted[0] and run_id not in app.engine.runs().data["id"]


def test_a_failed_upload_clears_the_previous_file_from_the_form(app, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("text,label\n" + "".join(f"sentence {i},{i % 2}\n" for i in range(30)))
    out = app.client.predict(handle_file(str(good)), api_name="/upload_data")
    assert out[4].endswith("good.csv") and out[0]["value"] == "text"  # the file task's path and text column
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello, world,1\nbye,0\n")
    out = app.client.predict(handle_file(str(bad)), api_name="/upload_data")
    assert out[4] == "" and out[0]["value"] is None and "line 2 has 3 fields" in out[-1]
    assert "the form has no data file now" in out[-1]


def test_an_inspector_search_that_matches_nothing_says_so(app, small_run):
    heat, _, table, info, page = app.client.predict(small_run, "", "test", "student_fixed", "all", "zz-no-such-text",
                                                    "example id", False, 1, api_name="/inspect")
    assert table["data"] == [] and "<b>0</b> of" in info and "No example matches these filters" in info
    assert "w2s-notice-error" not in info


def test_download_files_get_their_own_folder_and_expire():
    import os
    import time as clock

    import pandas as pd

    from studio import common

    first = Path(common.csv_file(pd.DataFrame({"a": [1]}), "slice"))
    second = Path(common.csv_file(pd.DataFrame({"a": [2]}), "slice"))
    assert first.name == second.name and first != second  # two visitors' exports never share a file
    old = clock.time() - 2 * 3600
    os.utime(first.parent, (old, old))
    hours, common.EXPORT_HOURS = common.EXPORT_HOURS, 1.0
    try:
        common.export_dir()
    finally:
        common.EXPORT_HOURS = hours
    assert not first.exists() and second.read_text() == "a\n2\n"
