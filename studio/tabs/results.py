"""Results tab: one run's headline numbers and figures, then comparisons across runs.

For the selected run: PGR with its bootstrap interval and the accuracies (greyed out when PGR should not
be trusted), the accuracy ladder (optionally over every seed of the same setup), calibration and
training curves. Across runs, one panel per task and never pooled over tasks or methods: PGR against the
strong model's size, a line per method and weak model (Burns et al.'s grid), and methods side by side (a dot
per seed, the median as a bar). Every figure has a CSV of the data it
draws; PNGs come from the camera button of the figure's toolbar.

    parts = build(source)        # inside a gr.Blocks; returns the named components
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from studio import plots
from studio import plots_deception as dplots
from studio.common import csv_file, esc, headline, metrics_table, notice, run_id_of, run_label
from studio.source import Source, message
from studio.tabs import dynamics

ALL = "all"
COMPARE_METRICS = ["pgr", "student_acc", "weak_acc", "ceiling_acc", "agreement", "student_acc_where_weak_wrong",
                   "pgr_auroc", "student_ece"]
SETUP = ("task", "weak", "strong", "method")


def finished(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "done"] if not df.empty else df


def with_metrics(source: Source, runs: pd.DataFrame) -> pd.DataFrame:
    """Runs plus every run-level metric (the runs table carries only the headline ones)."""
    rows = []
    for r in runs.to_dict("records"):
        try:
            rows.append({**r, **source.metrics(r["id"])})
        except Exception:  # a run removed between the two calls
            rows.append(r)
    return pd.DataFrame(rows)


def build(source: Source) -> dict[str, Any]:
    registry = source.registry()
    with gr.Row(equal_height=True):
        run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, scale=4, elem_id="results-pick")
        seeds_too = gr.Checkbox(False, label="All seeds of this setup", scale=1,
                                info="Same task, models and method: bars at the mean, a dot per run.")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100)
    cards = gr.HTML(elem_id="results-cards")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=360):
            ladder = gr.Plot(label="Accuracy ladder", elem_id="results-ladder")
            ladder_csv = gr.DownloadButton("CSV", size="sm", value=None)
        with gr.Column(min_width=360):
            calib = gr.Plot(label="Calibration", elem_id="results-calibration")
            calib_csv = gr.DownloadButton("CSV", size="sm", value=None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            curves = gr.Plot(label="Training curves")
            with gr.Row():
                curve_name = gr.Dropdown(["train_loss"], value="train_loss", label="Curve", allow_custom_value=True)
                smoothing = gr.Slider(0, 0.99, value=0.6, step=0.01, label="Smoothing (EMA)")
                curves_csv = gr.DownloadButton("CSV", size="sm", value=None, scale=0, min_width=80)
        with gr.Column(scale=2, min_width=300):
            numbers = gr.Dataframe(pd.DataFrame(columns=["metric", "value"]), label="All metrics of this run",
                                   interactive=False, max_height=420, elem_id="results-metrics")
    with gr.Group(visible=False) as deception_box:
        gr.Markdown("### Deception (Yang et al. 2024)\nW_k / W_uk: the weak model trained on ground truth is right / "
                    "wrong; S_k / S_uk: the ceiling is. A deception case is a test example in S_k ∩ W_uk that the "
                    "student gets wrong: the strong model knows the answer, the weak supervisor cannot check it.",
                    elem_classes=["w2s-section"])
        ds_cards = gr.HTML(elem_id="results-ds")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=360):
                region_plot = gr.Plot(label="Knowledge regions", elem_id="results-regions")
                region_csv = gr.DownloadButton("CSV", size="sm", value=None)
            with gr.Column(min_width=360):
                tax_plot = gr.Plot(label="Conflict tax", elem_id="results-tax")
                tax_csv = gr.DownloadButton("CSV", size="sm", value=None)
    dyn = dynamics.results_section(source, run_pick)
    gr.Markdown("### Across runs", elem_classes=["w2s-section"])
    with gr.Row(equal_height=True):
        task_f = gr.Dropdown([ALL, *[t["name"] for t in registry["tasks"]]], value=ALL, label="Task")
        weak_f = gr.Dropdown([ALL], value=ALL, label="Weak model", allow_custom_value=True)
        metric = gr.Dropdown(COMPARE_METRICS, value="pgr", label="Compare methods on")
        compare_btn = gr.Button("Update", size="sm", scale=0, min_width=100)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=360):
            grid = gr.Plot(label="PGR against strong model size")
            grid_csv = gr.DownloadButton("CSV", size="sm", value=None)
        with gr.Column(min_width=360):
            methods = gr.Plot(label="Methods compared")
            methods_csv = gr.DownloadButton("CSV", size="sm", value=None)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=360):
            ds_variant = gr.Radio([(f, k) for k, f in dplots.DS_FORMULAS.items()], value="ds_a",
                                  label="Deception score")
            ds_gap = gr.Plot(label="Deception score against the capability gap", elem_id="results-ds-gap")
            ds_gap_csv = gr.DownloadButton("CSV", size="sm", value=None)

    # ---------------------------------------------------------------- handlers
    def choices():
        df = finished(source.runs())
        return gr.update(choices=[(run_label(r), r["id"]) for r in df.to_dict("records")])

    def results(choice: str, seeds: bool, curve: str, smooth: float):
        run_id = run_id_of(choice)
        run = source.run(run_id) if run_id else None
        if run is None:
            blank = plots.empty_figure("select a finished run")
            hint = notice(f"no run '{run_id}' in the engine", "warn") if run_id else headline({})
            return [hint, blank, None, blank, None, blank, None, gr.update(), pd.DataFrame(columns=["metric", "value"]),
                    gr.update(visible=False), "", blank, None, blank, None]
        try:
            metrics = source.metrics(run_id)
        except Exception as exc:
            return [notice(message(exc)), *[gr.skip()] * 14]
        one = pd.DataFrame([{**{k: run.get(k) for k in ("id", "seed", *SETUP)}, **metrics}])
        ladder_runs = one
        if seeds:
            same = finished(source.runs(task=run.get("task"), method=run.get("method")))
            same = same[(same["weak"] == run.get("weak")) & (same["strong"] == run.get("strong"))]
            if len(same) > 1:
                ladder_runs = with_metrics(source, same)
        title = f"Accuracy ladder · {run_id}" if len(ladder_runs) == 1 else \
            f"Accuracy ladder · {len(ladder_runs)} runs of {run.get('method')}"
        examples = source.examples(run_id) if run.get("status") == "done" else pd.DataFrame()
        curves_df = source.curves(run_id)
        names = sorted(set(curves_df["name"])) if not curves_df.empty else []
        curve = curve if curve in names else ("train_loss" if "train_loss" in names or not names else names[0])
        return [
            headline(metrics),
            plots.accuracy_ladder(ladder_runs, title=title), csv_file(plots.ladder_data(ladder_runs), f"ladder-{run_id}"),
            plots.reliability(examples), csv_file(plots.reliability_data(examples), f"calibration-{run_id}"),
            plots.training_curves(curves_df, curve, smooth),
            csv_file(plots.curves_data(curves_df, curve, smooth), f"curves-{curve}-{run_id}"),
            gr.update(choices=names or ["train_loss"], value=curve),
            metrics_table(metrics),
            *deception(run_id, metrics),
        ]

    def deception(run_id: str, metrics: dict[str, Any]) -> list[Any]:
        if not dplots.has_deception(metrics):
            return [gr.update(visible=False), "", gr.skip(), None, gr.skip(), None]
        return [gr.update(visible=True), ds_html(metrics), dplots.regions(metrics, f"Knowledge regions · {run_id}"),
                csv_file(dplots.regions_data(metrics), f"regions-{run_id}"), dplots.conflict_tax(metrics),
                csv_file(dplots.conflict_tax_data(metrics), f"conflict-tax-{run_id}")]

    def deception_trend(task: str, variant: str):
        df = finished(source.runs(task=None if task == ALL else task))
        df = with_metrics(source, df) if not df.empty else df
        return dplots.ds_vs_gap(df, variant), csv_file(dplots.ds_vs_gap_data(df, variant), f"ds-vs-gap-{variant}")

    def compare(task: str, weak: str, metric_name: str):
        df = finished(source.runs(task=None if task == ALL else task))
        weaks = sorted(set(df["weak"].dropna())) if not df.empty else []
        if weak != ALL and not df.empty:
            df = df[df["weak"] == weak]
        df = with_metrics(source, df) if not df.empty else df
        sizes = source.model_sizes()
        if df.empty:
            blank = plots.empty_figure("no finished runs match")
            return blank, None, blank, None, gr.update(choices=[ALL, *weaks])
        scope = "all tasks" if task == ALL else task
        return (plots.pgr_vs_size(df, sizes, title=f"PGR against strong model size · {scope}"),
                csv_file(plots.pgr_vs_size_data(df, sizes), f"pgr-vs-size-{scope}"),
                plots.methods_compared(df, metric_name, title=f"Methods compared · {metric_name} · {scope}"),
                csv_file(plots.methods_data(df, metric_name), f"methods-{metric_name}-{scope}"),
                gr.update(choices=[ALL, *weaks]))

    res_in = [run_pick, seeds_too, curve_name, smoothing]
    res_out = [cards, ladder, ladder_csv, calib, calib_csv, curves, curves_csv, curve_name, numbers,
               deception_box, ds_cards, region_plot, region_csv, tax_plot, tax_csv]
    cmp_in = [task_f, weak_f, metric]
    cmp_out = [grid, grid_csv, methods, methods_csv, weak_f]
    run_pick.change(results, res_in, res_out, api_name="results")
    seeds_too.input(results, res_in, res_out, api_visibility="private")
    curve_name.input(results, res_in, res_out, api_visibility="private")
    smoothing.release(results, res_in, res_out, api_visibility="private")
    refresh.click(choices, None, run_pick, api_visibility="private").then(results, res_in, res_out,
                                                                          api_visibility="private")
    compare_btn.click(compare, cmp_in, cmp_out, api_name="compare").then(
        deception_trend, [task_f, ds_variant], [ds_gap, ds_gap_csv], api_visibility="private")
    ds_variant.input(deception_trend, [task_f, ds_variant], [ds_gap, ds_gap_csv], api_name="ds_vs_gap")
    for trigger in (task_f.input, weak_f.input, metric.input):
        trigger(compare, cmp_in, cmp_out, api_visibility="private")

    return {"run": run_pick, "seeds_too": seeds_too, "cards": cards, "ladder": ladder, "calibration": calib,
            "curves": curves, "numbers": numbers, "grid": grid, "methods": methods, "task": task_f, "weak": weak_f,
            "metric": metric, "refresh": refresh, "_choices": choices, "_results": results, "_res_in": res_in,
            "_res_out": res_out, "_compare": compare, "_cmp_in": cmp_in, "_cmp_out": cmp_out, "_ds_gap": deception_trend,
            "_ds_in": [task_f, ds_variant], "_ds_out": [ds_gap, ds_gap_csv], **dyn}


def ds_html(metrics: dict[str, Any]) -> str:
    """The three deception scores as cards, each with its formula (the paper's normalisation is unconfirmed)."""
    cells = []
    for key, formula in dplots.DS_FORMULAS.items():
        value = metrics.get(key)
        shown = f"{float(value):.3f}" if isinstance(value, int | float) and value == value else "–"
        why = metrics.get(f"{key}_reason") or ""
        cells.append(f'<div class="w2s-card" title="{esc(why)}"><div class="w2s-card-label">DS {esc(key[-1])}</div>'
                     f'<div class="w2s-card-value">{shown}</div><div class="w2s-card-sub">{esc(formula[4:])}</div>'
                     f'</div>')
    n = metrics.get("deception_cases")
    cells.append(f'<div class="w2s-card"><div class="w2s-card-label">deception cases</div><div class="w2s-card-value">'
                 f'{int(n) if isinstance(n, int | float) else "–"}</div><div class="w2s-card-sub">S_k ∩ W_uk, student '
                 f'wrong: listed in the Inspector</div></div>')
    return f'<div class="w2s-cards">{"".join(cells)}</div>'

