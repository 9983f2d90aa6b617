"""Results tab: one run's headline numbers and figures, then comparisons across runs.

For the selected run: PGR with its bootstrap interval and the accuracies, with every reason to distrust them
(studio.trust: a small test set, a model at chance, a tiny gap, a very wide interval; rows the split dropped),
the accuracy ladder (optionally over every seed of the same setup: the engine's config_key, the full config minus
the seed, each seed counted once), calibration (not for generation runs, whose scores are not confidences) and
training curves; the deception panel only for runs that train against a conflicting objective. Across runs, one
panel per task and never pooled over tasks, methods or setups: PGR against the strong model's size (Burns et
al.'s grid) and methods side by side (a dot per seed, the median as a bar), a repeated setup and seed counted
once. Every figure has a CSV of the data it draws; PNGs come from the camera button of the figure's toolbar.

    tab = build(source)          # inside a gr.Blocks; a ResultsTab of named components and handlers
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from studio import plots, setups
from studio import plots_deception as dplots
from studio.common import Handler, csv_file, esc, headline, metrics_table, notice, run_id_of, run_label
from studio.plots_curves import curves_data, training_curves
from studio.source import Source, frame, message
from studio.tabs import dynamics
from studio.trust import run_warnings

ALL = "all"
COMPARE_METRICS = ["pgr", "student_acc", "weak_acc", "ceiling_acc", "agreement", "student_acc_where_weak_wrong",
                   "pgr_auroc", "student_ece"]
SETUP = ("task", "weak", "strong", "method")


@dataclass
class ResultsTab:
    pick: gr.Dropdown
    choices: Handler          # -> the picker's finished runs
    across: Handler           # the across-runs figures (PGR vs size, methods compared)
    deception_trend: Handler  # deception score against the capability gap


def finished(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "done"] if not df.empty else df


def can_deceive(run: dict[str, Any]) -> bool:
    """Deception (Yang et al. 2024) needs a conflicting objective: a method setting `conflict` other than none."""
    method_config = ((run or {}).get("config") or {}).get("method_config") or {}
    return str(method_config.get("conflict") or "none") != "none"


def labelled(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Finished runs with one run per (setup, seed) and `method` naming the setup where a method has several."""
    kept, repeats = setups.one_per_seed(df)
    if kept.empty or "config" not in kept:
        return kept, repeats
    labels = setups.setup_labels(kept)
    return kept.assign(method=[labels.get(k, m) for k, m in zip(kept["config_key"], kept["method"])]), repeats


def with_metrics(source: Source, runs: pd.DataFrame) -> pd.DataFrame:
    """Runs plus every run-level metric (the runs table carries only the headline ones)."""
    rows = []
    for r in runs.to_dict("records"):
        try:
            rows.append({**r, **source.metrics(r["id"], final=r.get("status") == "done")})
        except Exception:  # a run removed between the two calls
            rows.append(r)
    return pd.DataFrame(rows)


def build(source: Source) -> dict[str, Any]:
    registry = source.registry()
    with gr.Row(equal_height=True):
        run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, scale=4, elem_id="results-pick")
        seeds_too = gr.Checkbox(False, label="All seeds of this setup", scale=1, elem_id="results-seeds",
                                info="Same config but the seed (each seed once): bars at the mean, a dot per run.")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100)
    cards = gr.HTML(elem_id="results-cards")
    setup_info = gr.HTML(elem_id="results-setup")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=360):
            ladder = gr.Plot(label="Accuracy ladder", elem_id="results-ladder")
            ladder_csv = gr.DownloadButton("CSV", size="sm", value=None)
        with gr.Column(min_width=360) as calib_col:
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
    dynamics.results_section(source, run_pick)  # wires its own events on the run picker
    gr.Markdown("### Across runs", elem_classes=["w2s-section"])
    with gr.Row(equal_height=True):
        task_f = gr.Dropdown([ALL, *[t["name"] for t in registry["tasks"]]], value=ALL, label="Task")
        weak_f = gr.Dropdown([ALL], value=ALL, label="Weak model", allow_custom_value=True)
        metric = gr.Dropdown(COMPARE_METRICS, value="pgr", label="Compare methods on")
        compare_btn = gr.Button("Update", size="sm", scale=0, min_width=100)
    across_note = gr.HTML()
    with gr.Row(equal_height=False):
        with gr.Column(min_width=360):
            grid = gr.Plot(label="PGR against strong model size", elem_id="results-grid")
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
    kinds = {t["name"]: (t.get("extra") or {}).get("kind") for t in registry["tasks"]}

    def choices():
        df = finished(source.runs())
        return gr.update(choices=[(run_label(r), r["id"]) for r in df.to_dict("records")])

    def seeds_of(run: dict[str, Any]) -> tuple[pd.DataFrame, str]:
        """The finished runs of this run's setup (config_key), each seed once, and a line saying so."""
        key = run.get("config_key")
        same = finished(source.runs(task=run.get("task"), method=run.get("method")))
        same = same[same["config_key"] == key] if key and "config_key" in same else same.iloc[0:0]
        kept, repeats = setups.one_per_seed(same)
        seeds = ", ".join(str(int(x)) for x in sorted(kept["seed"].dropna().unique())) if not kept.empty else ""
        line = (f'<div class="w2s-info">setup <code>{esc(key)}</code> (the full config minus seed and name): '
                f"{len(kept)} seed(s) {esc(seeds)}" + (f", {repeats} repeated run(s) of a seed counted once" if repeats
                                                         else "") + "</div>")
        return (with_metrics(source, kept) if len(kept) > 1 else pd.DataFrame()), line

    def results(choice: str, seeds: bool, curve: str, smooth: float):
        run_id = run_id_of(choice)
        run = source.run(run_id, curves=True) if run_id else None
        if run is None:
            blank = plots.empty_figure("select a finished run")
            hint = notice(f"no run '{run_id}' in the engine", "warn") if run_id else headline({})
            return [hint, "", blank, None, gr.update(visible=True), blank, None, blank, None, gr.update(),
                    pd.DataFrame(columns=["metric", "value"]), gr.update(visible=False), "", blank, None, blank, None]
        try:
            metrics = source.metrics(run_id)
        except Exception as exc:
            return [notice(message(exc)), *[gr.skip()] * 16]
        kind = kinds.get(run.get("task"))
        one = pd.DataFrame([{**{k: run.get(k) for k in ("id", "seed", *SETUP)}, **metrics}])
        ladder_runs, setup_line = one, (f'<div class="w2s-info">setup <code>{esc(run.get("config_key"))}</code> '
                                        "(the full config minus seed and name)</div>")
        if seeds:
            pooled, setup_line = seeds_of(run)
            ladder_runs = pooled if len(pooled) > 1 else one
        title = f"Accuracy ladder · {run_id}" if len(ladder_runs) == 1 else \
            f"Accuracy ladder · {len(ladder_runs)} seeds of setup {run.get('config_key')}"
        generation = kind == "generation"  # scores there are exact-match outcomes, not confidences: no calibration
        examples = source.examples(run_id) if run.get("status") == "done" and not generation else pd.DataFrame()
        curves_df = frame(run.get("curves"))
        names = sorted(set(curves_df["name"])) if not curves_df.empty else []
        curve = curve if curve in names else ("train_loss" if "train_loss" in names or not names else names[0])
        shown = {k: v for k, v in metrics.items() if not (generation and k.endswith("_ece"))}
        return [
            headline(metrics, run_warnings(metrics, kind)), setup_line,
            plots.accuracy_ladder(ladder_runs, title=title), csv_file(plots.ladder_data(ladder_runs), f"ladder-{run_id}"),
            gr.update(visible=not generation),
            plots.reliability(examples), csv_file(plots.reliability_data(examples), f"calibration-{run_id}"),
            training_curves(curves_df, curve, smooth),
            csv_file(curves_data(curves_df, curve, smooth), f"curves-{curve}-{run_id}"),
            gr.update(choices=names or ["train_loss"], value=curve),
            metrics_table(shown),
            *deception(run, metrics),
        ]

    def deception(run: dict[str, Any], metrics: dict[str, Any]) -> list[Any]:
        run_id = run.get("id")
        if not (can_deceive(run) and dplots.has_deception(metrics)):
            return [gr.update(visible=False), "", gr.skip(), None, gr.skip(), None]
        return [gr.update(visible=True), ds_html(metrics), dplots.regions(metrics, f"Knowledge regions · {run_id}"),
                csv_file(dplots.regions_data(metrics), f"regions-{run_id}"), dplots.conflict_tax(metrics),
                csv_file(dplots.conflict_tax_data(metrics), f"conflict-tax-{run_id}")]

    def across_runs(task: str) -> tuple[pd.DataFrame, int]:
        df = finished(source.runs_with_configs(task=None if task == ALL else task))
        df, repeats = labelled(df)
        return (with_metrics(source, df) if not df.empty else df), repeats

    def deception_trend(task: str, variant: str):
        df, _ = across_runs(task)
        if not df.empty:
            df = df[[can_deceive({"config": c}) for c in df["config"]]] if "config" in df else df.iloc[0:0]
        return dplots.ds_vs_gap(df, variant), csv_file(dplots.ds_vs_gap_data(df, variant), f"ds-vs-gap-{variant}")

    def compare(task: str, weak: str, metric_name: str):
        df, repeats = across_runs(task)
        weaks = sorted(set(df["weak"].dropna())) if not df.empty else []
        if weak != ALL and not df.empty:
            df = df[df["weak"] == weak]
        sizes = source.model_sizes()
        if df.empty:
            blank = plots.empty_figure("no finished runs match")
            return blank, None, blank, None, gr.update(choices=[ALL, *weaks]), ""
        scope = "all tasks" if task == ALL else task
        note = (notice(f"{repeats} repeated run(s) of a setup and seed are counted once.", "info") if repeats else "")
        return (plots.pgr_vs_size(df, sizes, title=f"PGR against strong model size · {scope}"),
                csv_file(plots.pgr_vs_size_data(df, sizes), f"pgr-vs-size-{scope}"),
                plots.methods_compared(df, metric_name, title=f"Methods compared · {metric_name} · {scope}"),
                csv_file(plots.methods_data(df, metric_name), f"methods-{metric_name}-{scope}"),
                gr.update(choices=[ALL, *weaks]), note)

    res_in = [run_pick, seeds_too, curve_name, smoothing]
    res_out = [cards, setup_info, ladder, ladder_csv, calib_col, calib, calib_csv, curves, curves_csv, curve_name,
               numbers, deception_box, ds_cards, region_plot, region_csv, tax_plot, tax_csv]
    cmp_in = [task_f, weak_f, metric]
    cmp_out = [grid, grid_csv, methods, methods_csv, weak_f, across_note]
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

    return ResultsTab(pick=run_pick, choices=Handler(choices, [], [run_pick]),
                      across=Handler(compare, cmp_in, cmp_out),
                      deception_trend=Handler(deception_trend, [task_f, ds_variant], [ds_gap, ds_gap_csv]))


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

