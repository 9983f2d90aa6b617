"""Training-dynamics views: a section of the Results tab (accuracy over training split by the weak label,
agreement with the weak labels, and the setup's statistics across seeds) and one of the Inspector (the selected
example's trajectory and the run's data map). Data from engine.client through studio.source.

    dyn = results_section(source, run_pick)                       # inside results.build
    ins = inspector_section(source, run_pick, split_pick, quadrant, table)  # inside inspector.build
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from studio import plots_dynamics as pdyn
from studio.common import csv_file, esc, notice, run_id_of
from studio.plots import empty_figure
from studio.source import Source, message
from studio.tabs.inspector_view import ALL, CLICK_JS

STATS = ["method", "seeds", "n", "mean", "mean 95% CI", "median", "median CI"]
PAIRED = ["against", "seeds", "mean difference", "95% CI", "wins/losses/ties", "sign test p"]


def _num(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and x != x) else f"{float(x):.3f}"


def stats_view(seeds: pd.DataFrame, weak: str, strong: str) -> pd.DataFrame:
    """One row per method of the task with these models: PGR over seeds, mean and median with their intervals."""
    if seeds.empty:
        return pd.DataFrame(columns=STATS)
    part = seeds[(seeds["weak"] == weak) & (seeds["strong"] == strong)]
    return pd.DataFrame([[r["method"], r["seeds"], r["n"], _num(r["mean"]),
                          f"[{_num(r['mean_ci_low'])}, {_num(r['mean_ci_high'])}]", _num(r["median"]),
                          f"[{_num(r['median_ci_low'])}, {_num(r['median_ci_high'])}]"]
                         for r in part.to_dict("records")], columns=STATS)


def paired_view(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return pd.DataFrame(columns=PAIRED)
    return pd.DataFrame([[r["b"], r["seeds"], _num(r["mean_diff"]), f"[{_num(r['diff_ci_low'])}, "
                          f"{_num(r['diff_ci_high'])}]", f"{r['wins']}/{r['losses']}/{r['ties']}", _num(r["sign_p"])]
                         for r in table.to_dict("records")], columns=PAIRED)


def results_section(source: Source, run_pick: Any) -> dict[str, Any]:
    gr.Markdown("### Training dynamics and statistics across seeds", elem_classes=["w2s-section"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            plot = gr.Plot(label="Student over training", elem_id="results-dynamics")
            plot_csv = gr.DownloadButton("CSV", size="sm", value=None)
        with gr.Column(scale=2, min_width=320):
            note = gr.HTML()
            stats = gr.Dataframe(pd.DataFrame(columns=STATS), label="PGR across seeds, per method (same task and "
                                 "models)", interactive=False, elem_id="results-seed-stats")
            paired = gr.Dataframe(pd.DataFrame(columns=PAIRED), label="Paired with this run's method on the same "
                                  "seeds (other - this)", interactive=False, elem_id="results-paired")

    def show(choice: str):
        run_id = run_id_of(choice)
        try:  # the run, its dynamics, the seed statistics and the paired comparison: one request
            got = source.analysis(run_id, "pgr") if run_id else None
        except Exception as exc:
            return gr.skip(), gr.skip(), notice(message(exc)), gr.skip(), gr.skip()
        if got is None:
            return empty_figure("select a finished run"), None, "", pd.DataFrame(columns=STATS), \
                pd.DataFrame(columns=PAIRED)
        run, dyn, seeds, pairs = got["run"], got["dynamics"], got["seeds"], got["paired"]
        if not pairs.empty:
            pairs = pairs[(pairs["weak"] == run.get("weak")) & (pairs["strong"] == run.get("strong"))]
        return (pdyn.dynamics_figure(dyn, title=f"Training dynamics · {run_id}"),
                csv_file(pdyn.dynamics_data(dyn), f"dynamics-{run_id}"), "",
                stats_view(seeds, run.get("weak"), run.get("strong")), paired_view(pairs))

    run_pick.change(show, run_pick, [plot, plot_csv, note, stats, paired], api_name="dynamics")
    return {"dynamics": plot, "seed_stats": stats, "paired": paired, "_show": show}


def map_split(split: str) -> str:
    """The split the data map draws: test or B (half A is the ceiling's and the weak model's, the student never
    saw it), so a dot clicked while half A is picked opens a test example."""
    return split if split in ("test", "B") else "test"


def _datamap(run_id: str, split: str, df: pd.DataFrame, quad: str | None) -> str:
    return (f'<div class="w2s-help"><b>Data map</b> · student on {split} · {esc(run_id)}</div>'
            + pdyn.datamap_html(df, quad or ALL))


def inspector_section(source: Source, run_pick: Any, split_pick: Any, quadrant: Any, table: Any) -> dict[str, Any]:
    """The picked example's trajectory and the run's data map (an SVG whose dots inspector.build wires to open the
    example: it owns the detail panel). `quadrant` dims the data map's other dots, as it does the scatter's."""
    with gr.Row(equal_height=False):
        with gr.Column(min_width=360):
            example = gr.Textbox(label="Example (pick a row of the table or a dot of a map)", max_lines=1,
                                 elem_id="inspector-example")
            traj = gr.Plot(label="Trajectory", elem_id="inspector-trajectory")
        with gr.Column(min_width=360):
            cart = gr.HTML("", js_on_load=CLICK_JS, elem_id="inspector-cartography")
            cart_csv = gr.DownloadButton("Data map CSV", size="sm", value=None, elem_id="inspector-cartography-csv")
    drawn = gr.State(None)  # the data map's rows as drawn: a quadrant change redraws them without a request

    def trajectory(choice: str, example_id: str):
        run_id = run_id_of(choice)
        if not run_id or not example_id:
            return pdyn.trajectory_figure(pd.DataFrame())
        return pdyn.trajectory_figure(source.trajectory(run_id, example_id.strip()), example_id.strip())

    def picked(choice: str, evt: gr.SelectData):
        row = evt.row_value or []
        if not row:
            return gr.skip(), gr.skip()
        return str(row[0]), trajectory(choice, str(row[0]))

    def cartography(choice: str, split: str, quad: str = ALL):
        run_id = run_id_of(choice)
        if not run_id:
            return '<div class="w2s-empty">Pick a run to see its data map.</div>', None, None
        split = map_split(split)
        try:
            df = source.cartography(run_id, split)
        except Exception as exc:
            return notice(message(exc)), None, None
        return _datamap(run_id, split, df, quad), csv_file(df, f"datamap-{run_id}-{split}") if len(df) else None, df

    def dim(choice: str, split: str, quad: str, df: pd.DataFrame | None):
        run_id = run_id_of(choice)
        if df is None or not run_id:
            return gr.skip()
        return _datamap(run_id, map_split(split), df, quad)

    inputs = [run_pick, split_pick, quadrant]
    run_pick.change(cartography, inputs, [cart, cart_csv, drawn], api_name="cartography")
    split_pick.input(cartography, inputs, [cart, cart_csv, drawn], api_visibility="private")
    quadrant.change(dim, [*inputs, drawn], cart, api_visibility="private", trigger_mode="always_last")
    table.select(picked, [run_pick], [example, traj], api_visibility="private")
    example.submit(trajectory, [run_pick, example], traj, api_name="trajectory")
    return {"example": example, "trajectory": traj, "cartography": cart, "cartography_csv": cart_csv,
            "_trajectory": trajectory}
