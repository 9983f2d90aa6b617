"""Runs tab: every run the engine knows, with the settings that differ between them as columns, grouped by setup on
demand, an export of the listed runs; the selected run's live stages, curves (several runs overlaid), log, config
diff, Stop, Requeue, Delete.

State always comes from the engine: closing the browser or restarting the studio changes nothing. A fast timer
(1.5 s) polls only while some run is queued or running (studio.app's pulse wakes it when a run starts elsewhere).
The poll refreshes the table's rows and the picker's choices but never writes the picker's value, so a run picked
while the poll runs stays picked (and Stop stays on it). One pick costs one engine request: the run with its
curves and log tail.

    tab = build(source)          # inside a gr.Blocks; a RunsTab of named components and handlers
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from engine import api
from studio import plots, setups
from studio.common import (
    Handler,
    duration,
    export_dir,
    is_num,
    notice,
    progress_html,
    run_id_of,
    run_label,
    run_title,
    when,
)
from studio.plots_curves import overlay_curves, training_curves
from studio.source import Source, frame, message

FAST = 1.5
ALL = "all"
STATUSES = [ALL, *api.RUN_STATUSES]
HEAD = ["run", "name", "sweep", "status", "task", "weak → strong", "method", "seed"]
TAIL = ["PGR", "student acc", "started", "duration", "tags", "setup"]
ROLES = ["student", "weak", "ceiling"]


@dataclass
class RunsTab:
    pick: gr.Dropdown
    table: gr.Dataframe
    fast: gr.Timer
    stop: gr.Button
    refresh: Handler          # filters -> table, picker choices, fast timer
    detail: Handler           # picked run -> title, stages, curves, log, buttons, tags, config diff


def runs_view(df: pd.DataFrame, max_settings: int = 8) -> pd.DataFrame:
    """The engine's runs (with a `config` column) as shown: one line per run, newest first, live step / ETA in the
    status, and as columns the settings whose values differ between the runs shown (up to `max_settings`)."""
    if df.empty:
        return pd.DataFrame(columns=HEAD + TAIL)
    flats = [setups.flatten(c) for c in df["config"]] if "config" in df else [{} for _ in range(len(df))]
    varying = setups.differing(flats)[:max_settings]
    rows = []
    for r, flat in zip(df.to_dict("records"), flats):
        status = r.get("status") or ""
        if status == "running" and is_num(r.get("progress_total")) and r.get("progress_total"):
            eta = f", ETA {duration(r.get('progress_eta'))}" if is_num(r.get("progress_eta")) else ""
            status = f"running {r.get('progress_stage') or ''} {int(r.get('progress_step') or 0)}/" \
                     f"{int(r['progress_total'])}{eta}"
        pgr = r.get("pgr")
        rows.append({
            "run": r.get("id"), "name": r.get("name") or "", "sweep": r.get("sweep") or "", "status": status,
            "task": r.get("task"), "weak → strong": f"{r.get('weak')} → {r.get('strong')}", "method": r.get("method"),
            "seed": r.get("seed"), **{k: setups.show(flat.get(k, "–")) for k in varying},
            "PGR": round(pgr, 3) if is_num(pgr) else None,
            "student acc": round(r["student_acc"], 3) if is_num(r.get("student_acc")) else None,
            "started": when(r.get("started")) if r.get("started") else "–",
            "duration": duration(r.get("seconds")) if r.get("started") else "–", "tags": r.get("tags") or "",
            "setup": r.get("config_key") or "",
        })
    return pd.DataFrame(rows, columns=HEAD + varying + TAIL)


def build(source: Source) -> RunsTab:
    registry = source.registry()
    with gr.Row(equal_height=True, elem_classes=["w2s-filters"]):
        status_f = gr.Dropdown(STATUSES, value=ALL, label="Status", min_width=140)
        task_f = gr.Dropdown([ALL, *[t["name"] for t in registry["tasks"]]], value=ALL, label="Task", min_width=160)
        method_f = gr.Dropdown([ALL, *[m["name"] for m in registry["methods"]]], value=ALL, label="Method",
                               min_width=160)
        tag_f = gr.Textbox(label="Tag contains", max_lines=1, min_width=160)
        group_f = gr.Checkbox(False, label="Group by setup", info="One row per config minus seed", min_width=150,
                              elem_id="runs-group")
        refresh_btn = gr.Button("Refresh", size="sm", scale=0, min_width=100)
        export_fmt = gr.Dropdown(["parquet", "csv"], value="parquet", label="Export as", scale=0, min_width=110)
        export_btn = gr.Button("Export listed runs", size="sm", scale=0, min_width=150)
    export_file = gr.File(label="Runs and their predictions (zip)", visible=False, height=60)
    table = gr.Dataframe(pd.DataFrame(columns=HEAD + TAIL), label="Runs (click a row to follow it)", interactive=False,
                         max_height=330, elem_id="runs-table", wrap=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=380):
            with gr.Row():
                run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, scale=4, elem_id="runs-pick")
                stop_btn = gr.Button("Stop", variant="stop", size="sm", scale=1, min_width=80, interactive=False,
                                     elem_id="runs-stop")
                requeue_btn = gr.Button("Requeue", size="sm", scale=1, min_width=90, interactive=False,
                                        elem_id="runs-requeue")
                delete_btn = gr.Button("Delete", size="sm", scale=1, min_width=80, interactive=False,
                                       elem_id="runs-delete")
            with gr.Group(visible=False) as confirm_box:
                collect = gr.Checkbox(False, label="Also remove its cached stages that no other run uses")
                with gr.Row():
                    confirm_btn = gr.Button("Delete this run", variant="stop", size="sm", elem_id="runs-confirm")
                    cancel_btn = gr.Button("Keep it", size="sm")
            title = gr.HTML(elem_id="runs-title")
            with gr.Row(equal_height=True):
                tags_box = gr.Textbox(label="Tags of this run", placeholder="e.g. baseline, lr-sweep", max_lines=1,
                                      scale=4)
                tags_btn = gr.Button("Save tags", size="sm", scale=1, min_width=90)
            action = gr.HTML(elem_id="runs-action")
            stages = gr.HTML(label="Stages")
            with gr.Accordion("Config diff with another run", open=False):
                diff_pick = gr.Dropdown([], label="Other run", allow_custom_value=True, elem_id="runs-diff-pick")
                diff_table = gr.Dataframe(pd.DataFrame(columns=["setting", "this run", "other run"]),
                                          interactive=False, max_height=260, elem_id="runs-diff")
            log = gr.Code(label="Log (tail)", language=None, interactive=False, lines=12, max_lines=18)
        with gr.Column(scale=3, min_width=420):
            with gr.Row():
                curve_name = gr.Dropdown(["train_loss"], value="train_loss", label="Curve", allow_custom_value=True,
                                         scale=2)
                smoothing = gr.Slider(0, 0.99, value=0.6, step=0.01, label="Smoothing (EMA)", scale=2)
            with gr.Row():
                overlay = gr.Dropdown([], value=[], multiselect=True, scale=3, elem_id="runs-overlay",
                                      label="Overlay runs (same curve, one line per run)")
                role = gr.Dropdown(ROLES, value="student", label="Stage", scale=1)
            curves = gr.Plot(label="Training curves", elem_id="runs-curves")
    fast = gr.Timer(FAST, active=False)

    # ---------------------------------------------------------------- handlers
    def fetch(status: str, task: str, method: str, tag: str) -> pd.DataFrame:
        df = source.runs_with_configs(status=None if status == ALL else status, task=None if task == ALL else task,
                                      method=None if method == ALL else method)
        if tag and not df.empty and "tags" in df:
            df = df[df["tags"].fillna("").str.contains(tag, case=False, regex=False)]
        return df

    def runs_table(status: str, task: str, method: str, tag: str, grouped: bool):
        """The table, the pickers' choices (their values untouched) and whether to keep polling fast."""
        df = fetch(status, task, method, tag)
        labels = [(run_label(r), r["id"]) for r in df.to_dict("records")]
        active = bool(not df.empty and df["status"].isin(api.ACTIVE).any())
        shown = setups.grouped(df) if grouped else runs_view(df)
        return (shown, gr.update(choices=labels), gr.update(choices=labels), gr.update(choices=labels),
                gr.Timer(active=active))

    def curves_figure(run_id: str, run: dict[str, Any], curve: str, smooth: float, picked: list[str], stage: str):
        own = frame((run or {}).get("curves"))
        others = [r for r in (picked or []) if r and r != run_id]
        names = sorted(set(own["name"])) if not own.empty else []
        curve = curve if curve in names or not names else ("train_loss" if "train_loss" in names else names[0])
        if not others:
            return training_curves(own, curve, smooth, title=f"{curve} of run {run_id}"), names, curve
        series = {run_label_short(run_id, run): own}
        for other in others:
            series[run_label_short(other, source.run(other))] = source.curves(other)
        return overlay_curves(series, curve, stage, smooth), names, curve

    def shown(choice: str, curve: str, smooth: float, picked: list[str], stage: str, other: str):
        """The picked run's detail from one request (its row, stages, curves and log tail), and the run."""
        run_id = run_id_of(choice)
        run = source.run(run_id, curves=True, log=True) if run_id else None
        off = gr.update(interactive=False)
        if run is None:
            hint = notice(f"no run '{run_id}' in the engine", "warn") if run_id else ""
            return (hint, progress_html(None), plots.empty_figure("select a run"), "", gr.update(), off, off, off,
                    gr.skip()), None
        fig, names, curve = curves_figure(run_id, run, curve, smooth, picked, stage)
        status = run.get("status")
        text = run.get("log") or ("(no log yet: the worker has not started)" if status == "queued" else "(empty log)")
        return (run_title(run), progress_html(run), fig, text[-6000:],
                gr.update(choices=names or ["train_loss"], value=curve),
                gr.update(interactive=status in api.CANCELLABLE), gr.update(interactive=status in api.REQUEUEABLE),
                gr.update(interactive=status in api.TERMINAL), config_diff(run, other)), run

    def detail(*args):
        return shown(*args)[0]

    def picked(*args):
        """A new pick: the detail, and the run's tags (set only now: the poll must not overwrite typing)."""
        out, run = shown(*args)
        return (*out, (run or {}).get("tags") or "", gr.update(visible=False))

    def config_diff(run: dict[str, Any] | None, other: str):
        other_id = run_id_of(other)
        if not run or not other_id:
            return pd.DataFrame(columns=["setting", "this run", "other run"])
        other_run = source.run(other_id)
        if other_run is None:
            return pd.DataFrame([{"setting": "(run)", "this run": run.get("id"), "other run": f"no run {other_id}"}])
        return setups.diff(run.get("config"), other_run.get("config"))

    def diff_only(choice: str, other: str):
        return config_diff(source.run(run_id_of(choice)) if run_id_of(choice) else None, other)

    def save_tags(choice: str, tags: str):
        run_id = run_id_of(choice)
        if not run_id:
            return notice("Pick a run first.", "info")
        try:
            source.set_tags(run_id, (tags or "").strip() or None)
        except Exception as exc:
            return notice(message(exc))
        return notice(f"Tags of run {run_id} saved.", "info")

    def stop(choice: str):
        run_id = run_id_of(choice)
        try:
            source.cancel(run_id)
        except Exception as exc:
            return notice(message(exc))
        return notice(f"Stopping run {run_id}: its worker gets a signal, the rows it wrote stay.", "info")

    def requeue(choice: str):
        run_id = run_id_of(choice)
        try:
            source.requeue(run_id)
        except Exception as exc:
            return notice(message(exc)), gr.skip()
        return notice(f"Run {run_id} is queued again; stages it finished come from the cache.", "info"), \
            gr.Timer(active=True)

    def delete(choice: str, remove_stages: bool):
        run_id = run_id_of(choice)
        try:
            reply = source.delete(run_id, collect=remove_stages)
        except Exception as exc:
            return notice(message(exc)), gr.skip(), gr.update(visible=False)
        kept = "" if remove_stages else "; its stages stay cached for other runs"
        return (notice(f"Run {run_id} deleted ({reply.get('stages', 0)} stage(s), {reply.get('predictions', 0):,} "
                       f"prediction rows removed{kept}).", "info"), gr.update(value=None), gr.update(visible=False))

    def export(status: str, task: str, method: str, tag: str, fmt: str):
        """The listed runs as a zip of runs.<fmt> (one row per run) and predictions.<fmt> (every role and split)."""
        df = fetch(status, task, method, tag)
        if df.empty:
            return gr.update(value=None, visible=False), notice("No runs listed: nothing to export.", "info")
        try:
            path = source.export_runs(list(df["id"]), fmt, export_dir())
        except Exception as exc:
            return gr.update(value=None, visible=False), notice(message(exc))
        return gr.update(value=path, visible=True), notice(f"Exported {len(df)} run(s) as {fmt}.", "info")

    def pick_row(evt: gr.SelectData):
        row = evt.row_value or []
        return row[0] if row else gr.skip()

    filters = [status_f, task_f, method_f, tag_f, group_f]
    table_h = Handler(runs_table, filters, [table, run_pick, overlay, diff_pick, fast])
    detail_in = [run_pick, curve_name, smoothing, overlay, role, diff_pick]
    detail_h = Handler(detail, detail_in, [title, stages, curves, log, curve_name, stop_btn, requeue_btn, delete_btn,
                                           diff_table])
    # Named endpoints first: later private events of the same function would otherwise take the name.
    refresh_btn.click(runs_table, filters, table_h.outputs, api_name="runs_table").then(
        detail, detail_in, detail_h.outputs, api_visibility="private")
    run_pick.change(picked, detail_in, [*detail_h.outputs, tags_box, confirm_box], api_name="run_detail",
                    concurrency_id="runs-detail", concurrency_limit=1)
    for f in (status_f, task_f, method_f, group_f):
        f.change(runs_table, filters, table_h.outputs, api_visibility="private")
    tag_f.submit(runs_table, filters, table_h.outputs, api_visibility="private")
    table.select(pick_row, None, run_pick, api_visibility="private", queue=False)
    for trigger in (curve_name.input, overlay.input, role.input, smoothing.release):
        trigger(detail, detail_in, detail_h.outputs, api_visibility="private", concurrency_id="runs-detail")
    diff_pick.input(diff_only, [run_pick, diff_pick], diff_table, api_name="config_diff")
    fast.tick(runs_table, filters, table_h.outputs, api_visibility="private").then(
        detail, detail_in, detail_h.outputs, api_visibility="private", concurrency_id="runs-detail")
    stop_btn.click(stop, run_pick, action, api_name="stop").then(runs_table, filters, table_h.outputs,
                                                                   api_visibility="private")
    tags_btn.click(save_tags, [run_pick, tags_box], action, api_name="save_tags").then(
        runs_table, filters, table_h.outputs, api_visibility="private")
    export_btn.click(export, [status_f, task_f, method_f, tag_f, export_fmt], [export_file, action],
                     api_name="export_runs")
    requeue_btn.click(requeue, run_pick, [action, fast], api_name="requeue").then(
        runs_table, filters, table_h.outputs, api_visibility="private")
    delete_btn.click(lambda: gr.update(visible=True), None, confirm_box, api_visibility="private", queue=False)
    cancel_btn.click(lambda: gr.update(visible=False), None, confirm_box, api_visibility="private", queue=False)
    confirm_btn.click(delete, [run_pick, collect], [action, run_pick, confirm_box], api_name="delete").then(
        runs_table, filters, table_h.outputs, api_visibility="private")

    return RunsTab(pick=run_pick, table=table, fast=fast, stop=stop_btn, refresh=table_h, detail=detail_h)


def run_label_short(run_id: str, run: dict[str, Any] | None) -> str:
    run = run or {}
    return f"{run_id} · {run.get('method') or '?'} · seed {run.get('seed')}"
