"""Runs tab: every run the engine knows, filters, an export of the listed runs, and the selected run's live stages,
curves and log.

State always comes from the engine: closing the browser or restarting the studio changes nothing. A
fast timer (1.5 s) polls only while some run is queued or running; a slow one (10 s) notices runs
started elsewhere (the CLI, another browser) and wakes the fast one.

    parts = build(source)        # inside a gr.Blocks; returns the named components
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from engine import api
from studio import plots
from studio.common import duration, export_dir, is_num, notice, progress_html, run_id_of, run_label, run_title, when
from studio.source import Source, message

FAST, SLOW = 1.5, 10.0
ALL = "all"
STATUSES = [ALL, *api.RUN_STATUSES]
COLUMNS = ["run", "status", "task", "weak → strong", "method", "seed", "PGR", "student acc", "started", "duration",
           "tags"]


def runs_view(df: pd.DataFrame) -> pd.DataFrame:
    """The engine's runs table as shown: one line per run, newest first, live step/ETA in the status."""
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for r in df.to_dict("records"):
        status = r.get("status") or ""
        if status == "running" and is_num(r.get("progress_total")) and r.get("progress_total"):
            eta = f", ETA {duration(r.get('progress_eta'))}" if is_num(r.get("progress_eta")) else ""
            status = f"running {r.get('progress_stage') or ''} {int(r.get('progress_step') or 0)}/" \
                     f"{int(r['progress_total'])}{eta}"
        pgr = r.get("pgr")
        rows.append({
            "run": r.get("id"), "status": status, "task": r.get("task"),
            "weak → strong": f"{r.get('weak')} → {r.get('strong')}", "method": r.get("method"), "seed": r.get("seed"),
            "PGR": round(pgr, 3) if is_num(pgr) else None,
            "student acc": round(r["student_acc"], 3) if is_num(r.get("student_acc")) else None,
            "started": when(r.get("started")) if r.get("started") else "–",
            "duration": duration(r.get("seconds")) if r.get("started") else "–", "tags": r.get("tags") or "",
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def build(source: Source) -> dict[str, Any]:
    registry = source.registry()
    with gr.Row(equal_height=True, elem_classes=["w2s-filters"]):
        status_f = gr.Dropdown(STATUSES, value=ALL, label="Status", min_width=140)
        task_f = gr.Dropdown([ALL, *[t["name"] for t in registry["tasks"]]], value=ALL, label="Task", min_width=160)
        method_f = gr.Dropdown([ALL, *[m["name"] for m in registry["methods"]]], value=ALL, label="Method",
                               min_width=160)
        tag_f = gr.Textbox(label="Tag contains", max_lines=1, min_width=160)
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100)
        export_fmt = gr.Dropdown(["parquet", "csv"], value="parquet", label="Export as", scale=0, min_width=110)
        export_btn = gr.Button("Export listed runs", size="sm", scale=0, min_width=150)
    export_file = gr.File(label="Runs and their predictions (zip)", visible=False, height=60)
    table = gr.Dataframe(pd.DataFrame(columns=COLUMNS), label="Runs (click a row to follow it)", interactive=False,
                         max_height=330, elem_id="runs-table", wrap=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=380):
            with gr.Row():
                run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, scale=4, elem_id="runs-pick")
                stop_btn = gr.Button("Stop", variant="stop", size="sm", scale=1, min_width=80, interactive=False)
                requeue_btn = gr.Button("Requeue", size="sm", scale=1, min_width=90, interactive=False)
            title = gr.HTML()
            with gr.Row(equal_height=True):
                tags_box = gr.Textbox(label="Tags of this run", placeholder="e.g. baseline, lr-sweep", max_lines=1,
                                      scale=4)
                tags_btn = gr.Button("Save tags", size="sm", scale=1, min_width=90)
            action = gr.HTML()
            stages = gr.HTML(label="Stages")
            log = gr.Code(label="Log (tail)", language=None, interactive=False, lines=12, max_lines=18)
        with gr.Column(scale=3, min_width=420):
            with gr.Row():
                curve_name = gr.Dropdown(["train_loss"], value="train_loss", label="Curve", allow_custom_value=True,
                                         scale=2)
                smoothing = gr.Slider(0, 0.99, value=0.6, step=0.01, label="Smoothing (EMA)", scale=2)
            curves = gr.Plot(label="Training curves", elem_id="runs-curves")
    fast = gr.Timer(FAST, active=False)
    slow = gr.Timer(SLOW, active=True)

    # ---------------------------------------------------------------- handlers
    def fetch(status: str, task: str, method: str, tag: str) -> pd.DataFrame:
        df = source.runs(status=None if status == ALL else status, task=None if task == ALL else task,
                         method=None if method == ALL else method)
        if tag and not df.empty and "tags" in df:
            df = df[df["tags"].fillna("").str.contains(tag, case=False, regex=False)]
        return df

    def runs_table(status: str, task: str, method: str, tag: str, current: str):
        """The runs table, the picker's choices (current choice kept) and whether to keep polling fast."""
        df = fetch(status, task, method, tag)
        labels = [(run_label(r), r["id"]) for r in df.to_dict("records")]
        keep = current if current else gr.skip()
        active = bool(len(df)) and df["status"].isin(api.ACTIVE).any() if not df.empty else False
        return runs_view(df), gr.update(choices=labels, value=keep), gr.Timer(active=bool(active))

    def run_detail(choice: str, curve: str, smooth: float):
        run_id = run_id_of(choice)
        run = source.run(run_id) if run_id else None
        if run is None:
            empty = plots.empty_figure("select a run")
            hint = notice(f"no run '{run_id}' in the engine", "warn") if run_id else ""
            return hint, progress_html(None), empty, "", gr.update(), gr.update(interactive=False), \
                gr.update(interactive=False)
        curves_df = source.curves(run_id)
        names = sorted(set(curves_df["name"])) if not curves_df.empty else []
        curve = curve if curve in names else ("train_loss" if "train_loss" in names or not names else names[0])
        fig = plots.training_curves(curves_df, curve, smooth, title=f"{curve} of run {run_id}")
        try:
            text = source.log(run_id)
        except Exception as exc:  # a run whose worker never started has no log yet
            text = f"(no log: {message(exc)})"
        status = run.get("status")
        return (run_title(run), progress_html(run), fig, text[-6000:] or "(empty log)",
                gr.update(choices=names or ["train_loss"], value=curve),
                gr.update(interactive=status in api.ACTIVE),
                gr.update(interactive=status in api.REQUEUEABLE))

    def run_tags(choice: str) -> str:
        """The picked run's tags, loaded only when the pick changes (the fast poll must not overwrite typing)."""
        run = source.run(run_id_of(choice)) if run_id_of(choice) else None
        return (run or {}).get("tags") or ""

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
            return notice(message(exc))
        return notice(f"Run {run_id} is queued again; stages it finished come from the cache.", "info"), \
            gr.Timer(active=True)

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

    def wake():
        """Slow poll: a run became active somewhere (CLI, another tab) -> start the fast poll."""
        df = source.runs()
        return gr.Timer(active=bool(not df.empty and df["status"].isin(api.ACTIVE).any()))

    filters = [status_f, task_f, method_f, tag_f, run_pick]
    detail_in = [run_pick, curve_name, smoothing]
    detail_out = [title, stages, curves, log, curve_name, stop_btn, requeue_btn]
    table_out = [table, run_pick, fast]
    # Named endpoints first: later private events of the same function would otherwise take the name.
    refresh.click(runs_table, filters, table_out, api_name="runs_table").then(
        run_detail, detail_in, detail_out, api_visibility="private")
    run_pick.change(run_detail, detail_in, detail_out, api_name="run_detail").then(
        run_tags, run_pick, tags_box, api_visibility="private")
    for f in (status_f, task_f, method_f):
        f.change(runs_table, filters, table_out, api_visibility="private")
    tag_f.submit(runs_table, filters, table_out, api_visibility="private")
    table.select(pick_row, None, run_pick, api_visibility="private", queue=False)
    curve_name.input(run_detail, detail_in, detail_out, api_visibility="private")
    smoothing.release(run_detail, detail_in, detail_out, api_visibility="private")
    fast.tick(runs_table, filters, table_out, api_visibility="private").then(
        run_detail, detail_in, detail_out, api_visibility="private")
    slow.tick(wake, None, fast, api_visibility="private")
    stop_btn.click(stop, run_pick, action, api_name="stop").then(runs_table, filters, table_out,
                                                                   api_visibility="private")
    tags_btn.click(save_tags, [run_pick, tags_box], action, api_name="save_tags").then(
        runs_table, filters, table_out, api_visibility="private")
    export_btn.click(export, [status_f, task_f, method_f, tag_f, export_fmt], [export_file, action],
                     api_name="export_runs")
    requeue_btn.click(requeue, run_pick, [action, fast], api_name="requeue").then(
        runs_table, filters, table_out, api_visibility="private")

    return {"status": status_f, "task": task_f, "method": method_f, "tag": tag_f, "refresh": refresh, "table": table,
            "run": run_pick, "stop": stop_btn, "requeue": requeue_btn, "title": title, "stages": stages, "log": log,
            "curves": curves, "curve_name": curve_name, "smoothing": smoothing, "fast": fast, "slow": slow,
            "export": export_btn, "export_format": export_fmt, "export_file": export_file,
            "_runs_table": runs_table, "_filters": filters, "_table_out": table_out, "_run_detail": run_detail,
            "_detail_in": detail_in, "_detail_out": detail_out}
