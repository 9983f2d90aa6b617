"""Inspector tab: a run's examples, one by one, sorted into the 2x2 of weak right/wrong x student right/wrong.

Click a cell of the 2x2 (or a dot of the confidence scatter) to see the examples where the student fixed the
supervisor's error, imitated it, broke a right label, or where both were right. Search the text, sort by
confidence or by how far the student moved from its supervisor, page through 200 rows at a time, open one
example, export the filtered slice as CSV, compare with a second run on the same examples, and see how the fix
and imitate rates move along any numeric attribute of the examples (the world's entity frequency, ...).

The engine filters, searches, sorts and counts (one request per view: a page plus the grids' counts); the
scatter and the attribute figure read the split's rows once (kept for a finished run).

    tab = build(source)          # inside a gr.Blocks; an InspectorTab of named components and handlers
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from studio.common import Handler, csv_file, esc, notice, run_id_of, run_label
from studio.plots import empty_figure
from studio.plots_compare import numeric_attributes, rates_by_attribute
from studio.source import Source, message
from studio.tabs import dynamics
from studio.tabs.inspector_view import (
    ALL,
    CLICK_JS,
    DECEPTION,
    QUADRANT_CHOICES,
    REGION_CHOICES,
    SORTS,
    clicked,
    detail_html,
    heatmap_html,
    regions_html,
    scatter_html,
    table_view,
)

PAGE = 200
SHOWN = ["example", "text", "gold", "weak", "weak conf", "student", "student conf", "ceiling", "ceiling conf",
         "quadrant"]
SPLITS = [("test", "test"), ("half B (what the student learned from)", "B"),
          ("half A (the weak model's ground truth)", "A")]


@dataclass
class InspectorTab:
    pick: gr.Dropdown
    other: gr.Dropdown
    choices: Handler          # -> the run and compare pickers' finished runs


def build(source: Source) -> InspectorTab:
    with gr.Row(equal_height=True):
        run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, scale=3, elem_id="inspector-pick")
        other_pick = gr.Dropdown([], label="Compare with run (same examples)", allow_custom_value=True, scale=3,
                                 value=None, elem_id="inspector-other")
        split_pick = gr.Dropdown(SPLITS, value="test", label="Split", scale=2, elem_id="inspector-split",
                                 info="B holds each method's training records: weak labels, selections, samples, "
                                      "pairs. Models not scored on a split show no prediction there.")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            heat = gr.HTML(heatmap_html({}), js_on_load=CLICK_JS, elem_id="inspector-heatmap")
            quadrant = gr.Radio(QUADRANT_CHOICES, value=ALL, label="Show", elem_id="inspector-quadrant")
            region_heat = gr.HTML("", js_on_load=CLICK_JS, elem_id="inspector-regions")
            region = gr.Radio(REGION_CHOICES, value=ALL, label="Knowledge region (Yang et al. 2024)",
                              elem_id="inspector-region")
            detail = gr.HTML(detail_html(None), elem_id="inspector-detail")
        with gr.Column(scale=5, min_width=520):
            with gr.Row(equal_height=True):
                search = gr.Textbox(label="Search text", placeholder="words in the example, or an id prefix",
                                    max_lines=1, scale=3)
                sort = gr.Dropdown(list(SORTS), value="disagreement |student − weak| (high first)", label="Sort",
                                   scale=3)
                only_diff = gr.Checkbox(False, label="Only where the two runs' students disagree", scale=2)
            info = gr.HTML(elem_id="inspector-info")
            table = gr.Dataframe(pd.DataFrame(columns=SHOWN), interactive=False, max_height=560, wrap=True,
                                 elem_id="inspector-table")
            with gr.Row(equal_height=True):
                prev_btn = gr.Button("◀ Previous", size="sm", min_width=90)
                page = gr.Number(1, label="Page", precision=0, minimum=1, min_width=80)
                next_btn = gr.Button("Next ▶", size="sm", min_width=90)
                export_btn = gr.Button("Export filtered CSV", size="sm", min_width=150)
            export_file = gr.File(label="Filtered slice", visible=False, height=60, elem_id="inspector-export")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            scatter = gr.HTML("", js_on_load=CLICK_JS, elem_id="inspector-scatter")
        with gr.Column(scale=3, min_width=420):
            attribute = gr.Dropdown([], label="Fix / imitate rates against", allow_custom_value=True,
                                    elem_id="inspector-attribute",
                                    info="A numeric attribute of the examples' metadata.")
            rates = gr.Plot(label="Weak errors fixed / imitated", elem_id="inspector-rates")

    dyn = dynamics.inspector_section(source, run_pick, split_pick, quadrant, table)  # trajectory and data map

    # ---------------------------------------------------------------- handlers
    def query(run_id: str, other_id: str, split: str, quad: str, region_pick: str, text: str, order: str,
              diff: bool) -> dict:
        return dict(split=split or "test", quadrant=quad if quad and quad != ALL else None,
                    region=region_pick if region_pick not in (ALL, DECEPTION, None, "") else None,
                    deception=region_pick == DECEPTION, search=(text or "").strip() or None,
                    order=SORTS.get(order or "", order) or None,
                    compare=other_id if other_id and other_id != run_id else None, disagree=bool(diff and other_id))

    def inspect(choice: str, other: str, split: str, quad: str, region_pick: str, text: str, order: str, diff: bool,
                page_no: float):
        """One page of the filtered slice, the 2x2 and region counts, and a line saying what is shown: one request."""
        run_id, other_id = run_id_of(choice), run_id_of(other)
        if not run_id:
            return heatmap_html({}), "", pd.DataFrame(columns=SHOWN), notice("Pick a run.", "info"), 1
        page_no = max(1, int(page_no or 1))
        args = query(run_id, other_id, split, quad, region_pick, text, order, diff)
        try:
            rows, matching, counts = source.inspect(run_id, offset=(page_no - 1) * PAGE, limit=PAGE, counts=True,
                                                    **args)
            pages = max(1, -(-matching // PAGE))
            if page_no > pages:  # past the end (the filter shrank): the last page
                page_no = pages
                rows, matching, counts = source.inspect(run_id, offset=(page_no - 1) * PAGE, limit=PAGE,
                                                        counts=True, **args)
        except Exception as exc:
            return heatmap_html({}), "", pd.DataFrame(columns=SHOWN), notice(message(exc)), 1
        counts = counts or {}
        total = int(counts.get("total") or 0)
        if not total:
            return heatmap_html({}), "", pd.DataFrame(columns=SHOWN), notice(
                f"run {run_id} has no {split or 'test'} predictions yet", "info"), 1
        what = next((label for label, key in QUADRANT_CHOICES if key == quad), "all examples")
        if region_pick and region_pick != ALL:
            what += " · " + next((label for label, key in REGION_CHOICES if key == region_pick), region_pick)
        notes = []
        if counts.get("compared") == 0:
            notes.append(notice(f"run {other_id} shares no {split or 'test'} example with {run_id} (another task, "
                                "split or seed); compare runs of the same task and seed", "warn"))
        predicted = counts.get("predicted") or {}
        missing = [r for r in ("weak", "student", "ceiling") if r in predicted and not predicted[r]]
        if missing:
            notes.append(notice(f"on this split {' and '.join(missing)} made no prediction (not scored here): "
                                "their columns are left out, never shown as 0" + (
                                    "; the 2x2 needs a weak and a student prediction" if quad and quad != ALL
                                    and "student" in missing else ""), "info"))
        line = (f'<div class="w2s-info"><b>{matching:,}</b> of {total:,} examples · {esc(what)}'
                f'{" · matching “" + esc(text) + "”" if text else ""} · page {page_no} of {pages}</div>')
        if not matching:
            notes.append(notice("No example matches these filters: clear the search or pick another cell.", "info"))
        return (heatmap_html(counts, quad), regions_html(counts, region_pick), table_view(rows),
                line + "".join(notes), page_no)

    def first_page(*args):
        return inspect(*args[:-1], 1)

    def new_split(choice, other, split, quad, region_pick, *rest):
        """Another split is another population: its 2x2 and regions start unfiltered."""
        out = inspect(choice, other, split, ALL, ALL, *rest[:-1], 1)
        return (*out, ALL if quad != ALL else gr.skip(), ALL if region_pick != ALL else gr.skip())

    def step(delta: int):
        def fn(*args):
            return inspect(*args[:-1], int(args[-1] or 1) + delta)
        return fn

    def overview(choice: str, split: str, quad: str, attr: str):
        """The scatter and the attribute figure of the whole split (its rows are read once for a finished run)."""
        run_id = run_id_of(choice)
        if not run_id:
            return "", gr.update(choices=[]), empty_figure("pick a run")
        try:
            df = source.examples(run_id, split=split or "test")
        except Exception as exc:
            return notice(message(exc)), gr.update(choices=[]), empty_figure("no examples")
        names = numeric_attributes(df)
        attr = attr if attr in names else (next((n for n in names if "freq" in n), names[0] if names else None))
        fig = rates_by_attribute(df, attr) if attr else empty_figure("the examples carry no numeric attribute")
        return scatter_html(df, quad or ALL), gr.update(choices=names, value=attr), fig

    def pick_cell(evt: gr.EventData):
        q = clicked(evt, "quadrant")
        return q if q in {k for _, k in QUADRANT_CHOICES} else gr.skip()

    def pick_dot(choice: str, other: str, split: str, evt: gr.EventData):
        example, q = clicked(evt, "example"), clicked(evt, "quadrant")
        if not example:
            return gr.skip(), gr.skip()
        return (q if q in {k for _, k in QUADRANT_CHOICES} else gr.skip()), example_detail(choice, other, split,
                                                                                          example)

    def pick_map_dot(choice: str, other: str, split: str, evt: gr.EventData):
        """A dot of the data map: its id in the Example field, its trajectory, and its detail (on the map's split)."""
        example = clicked(evt, "example")
        if not example:
            return gr.skip(), gr.skip(), gr.skip()
        return example, dyn["_trajectory"](choice, example), example_detail(choice, other, dynamics.map_split(split),
                                                                             example)

    def pick_region(evt: gr.EventData):
        r = clicked(evt, "region")
        return r if r in {k for _, k in REGION_CHOICES} else gr.skip()

    def example_detail(choice: str, other: str, split: str, example_id: str) -> str:
        run_id, other_id = run_id_of(choice), run_id_of(other)
        rows, _, _ = source.inspect(run_id, split=split or "test", search=example_id, limit=50,
                                    compare=other_id if other_id and other_id != run_id else None)
        hit = rows[rows["example_id"].astype(str) == str(example_id)] if not rows.empty else rows
        return detail_html(hit.iloc[0].to_dict() if len(hit) else None, other_id)

    def show_detail(choice: str, other: str, split: str, evt: gr.SelectData):
        row = evt.row_value or []
        return example_detail(choice, other, split, str(row[0])) if row else gr.skip()

    def export(choice: str, other: str, split: str, quad: str, region_pick: str, text: str, order: str, diff: bool):
        run_id, other_id = run_id_of(choice), run_id_of(other)
        if not run_id:
            return gr.update(visible=False)
        rows, _, _ = source.inspect(run_id, limit=100_000, **query(run_id, other_id, split, quad, region_pick, text,
                                                                   order, diff))
        return gr.update(value=csv_file(rows, f"{run_id}-{split or 'test'}-{quad}"), visible=True)

    def reset():
        """A new run, comparison or split: the detail and the exported file belonged to the old one."""
        return detail_html(None), gr.update(value=None, visible=False)

    def choices():
        df = source.runs(status="done")
        opts = [(run_label(r), r["id"]) for r in df.to_dict("records")]
        return gr.update(choices=opts), gr.update(choices=[("none", ""), *opts])

    filters = [run_pick, other_pick, split_pick, quadrant, region, search, sort, only_diff]
    outs = [heat, region_heat, table, info, page]
    for trigger in (run_pick.change, other_pick.change, quadrant.change, region.change, sort.input,
                    only_diff.input, search.submit):
        trigger(first_page, [*filters, page], outs, api_visibility="private")
    split_pick.input(new_split, [*filters, page], [*outs, quadrant, region], api_visibility="private")
    for trigger in (run_pick.change, other_pick.change, split_pick.input):
        trigger(reset, None, [detail, export_file], api_visibility="private", queue=False)
    for trigger in (run_pick.change, split_pick.input, quadrant.change):
        trigger(overview, [run_pick, split_pick, quadrant, attribute], [scatter, attribute, rates],
                api_visibility="private", trigger_mode="always_last")
    attribute.input(overview, [run_pick, split_pick, quadrant, attribute], [scatter, attribute, rates],
                    api_name="rates_by_attribute")
    page.submit(inspect, [*filters, page], outs, api_name="inspect")
    prev_btn.click(step(-1), [*filters, page], outs, api_visibility="private")
    next_btn.click(step(+1), [*filters, page], outs, api_visibility="private")
    heat.click(pick_cell, None, quadrant, api_visibility="private", queue=False)
    scatter.click(pick_dot, [run_pick, other_pick, split_pick], [quadrant, detail], api_visibility="private")
    dyn["cartography"].click(pick_map_dot, [run_pick, other_pick, split_pick],
                             [dyn["example"], dyn["trajectory"], detail], api_visibility="private")
    region_heat.click(pick_region, None, region, api_visibility="private", queue=False)
    table.select(show_detail, [run_pick, other_pick, split_pick], detail, api_visibility="private")
    export_btn.click(export, filters, export_file, api_name="export_slice")
    refresh.click(choices, None, [run_pick, other_pick], api_visibility="private")
    return InspectorTab(pick=run_pick, other=other_pick, choices=Handler(choices, [], [run_pick, other_pick]))
