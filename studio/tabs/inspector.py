"""Inspector tab: a run's test examples, one by one, sorted into the 2x2 of weak right/wrong x student right/wrong.

Click a cell of the 2x2 (or pick it in the radio) to see the examples where the student fixed the
supervisor's error, imitated it, broke a right label, or where both were right. Search the text, sort
by confidence or by how far the student moved from its supervisor, page through 200 rows at a time,
open one example, export the filtered slice as CSV, and compare with a second run on the same examples.

    parts = build(source)        # inside a gr.Blocks; returns the named components

A finished run's per-example table is fetched once and kept (it cannot change), so every filter, sort
and page is a pandas operation on at most a few tens of thousands of rows.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from engine import api
from studio.common import csv_file, esc, notice, run_id_of, run_label
from studio.plots import QUADRANTS
from studio.source import Source, message
from studio.tabs import dynamics

PAGE = 200
ALL = "all"
QUADRANT_CHOICES = [("all examples", ALL)] + [(label, key) for key, (label, *_rest) in QUADRANTS.items()]
SORTS = {
    "example id": None,
    "disagreement |student − weak| (high first)": "disagreement",
    "weak confidence (high first)": "weak_conf",
    "weak confidence (low first)": "-weak_conf",
    "student confidence (high first)": "student_conf",
    "student confidence (low first)": "-student_conf",
}
SHOWN = ["example", "text", "gold", "weak", "weak conf", "student", "student conf", "ceiling", "ceiling conf",
         "quadrant"]
SHORT = {k: q.short for k, q in api.QUADRANTS.items()}
DECEPTION = "deception"
REGION_NAMES = {k: r.label for k, r in api.REGIONS.items()}
REGION_CHOICES = [("all regions", ALL), *[(v, k) for k, v in REGION_NAMES.items()],
                  ("deception cases: W_uk ∩ S_k, student wrong", DECEPTION)]
WIDTHS = ["9%", "26%", "4%", "6%", "6%", "7%", "7%", "7%", "7%", "9%", "12%"]
CLICK_JS = """
element.addEventListener('click', (e) => {
  const cell = e.target.closest('[data-quadrant]');
  if (cell) { trigger('click', {quadrant: cell.dataset.quadrant}); }
  const region = e.target.closest('[data-region]');
  if (region) { trigger('click', {region: region.dataset.region}); }
});
"""


def enrich(df: pd.DataFrame) -> pd.DataFrame:
    """Add confidences (of the predicted class), the quadrant and the student-weak disagreement."""
    df = df.copy()
    for role in ("weak", "student", "ceiling"):
        if f"{role}_prob" in df:
            p = df[f"{role}_prob"].astype(float)
            df[f"{role}_conf"] = np.maximum(p, 1 - p)
    if {"weak_correct", "student_correct"} <= set(df.columns):
        w = df["weak_correct"].astype("boolean")
        s = df["student_correct"].astype("boolean")
        q = pd.Series(pd.NA, index=df.index, dtype="object")
        for key, (_, wr, sr, _) in QUADRANTS.items():
            q[(w == wr) & (s == sr)] = key
        df["quadrant"] = q
    if {"weak_prob", "student_prob"} <= set(df.columns):
        df["disagreement"] = (df["student_prob"].astype(float) - df["weak_prob"].astype(float)).abs()
    for role in ("weak", "student", "ceiling"):  # preference runs: the margin each model put between the responses
        if f"{role}_output" in df:
            margins = df[f"{role}_output"].map(_margin)
            if margins.notna().any():
                df[f"{role}_margin"] = margins
    return df


def _margin(record: Any) -> float | None:
    if not isinstance(record, str) or not record:
        return None
    try:
        value = json.loads(record).get("margin")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def join_other(df: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Columns of a second run's student on the same examples: other_prob, other_correct, runs_disagree."""
    if other is None or other.empty or "student_prob" not in other:
        return df
    o = other.set_index("example_id")
    df = df.copy()
    df["other_prob"] = df["example_id"].map(o["student_prob"])
    df["other_correct"] = df["example_id"].map(o["student_correct"]) if "student_correct" in o else pd.NA
    a = df["student_prob"].astype(float) >= 0.5
    b = df["other_prob"].astype(float) >= 0.5
    df["runs_disagree"] = (a != b) & df["other_prob"].notna()
    return df


def select(df: pd.DataFrame, quadrant: str = ALL, search: str = "", sort: str | None = None,
           only_diff: bool = False, region: str = ALL) -> pd.DataFrame:
    """The filtered, sorted slice: quadrant, knowledge region (or the deception cases), case-insensitive text/id
    search, runs-disagree filter."""
    out = df
    if quadrant and quadrant != ALL and "quadrant" in out:
        out = out[out["quadrant"] == quadrant]
    if region and region != ALL and "region" in out:
        if region == DECEPTION:
            out = out[(out["region"] == api.DECEPTION_ZONE) & ~out["student_correct"].fillna(True).astype(bool)]
        else:
            out = out[out["region"] == region]
    if search:
        needle = search.strip()
        hit = out["text"].astype(str).str.contains(needle, case=False, regex=False)
        hit |= out["example_id"].astype(str).str.startswith(needle)
        out = out[hit]
    if only_diff and "runs_disagree" in out:
        out = out[out["runs_disagree"].fillna(False).astype(bool)]
    key = SORTS.get(sort or "", sort)
    if key:
        col, asc = (key[1:], True) if key.startswith("-") else (key, False)
        if col in out:
            out = out.sort_values([col, "example_id"], ascending=[asc, True], kind="stable")
    else:
        out = out.sort_values("example_id", kind="stable")
    return out


def _mark(correct: Any) -> str:
    if correct is None or correct is pd.NA or (isinstance(correct, float) and np.isnan(correct)):
        return ""
    return " ✓" if bool(correct) else " ✗"


def table_view(page: pd.DataFrame) -> pd.DataFrame:
    """Rows as shown: prediction with ✓/✗, confidence, quadrant label, text cut to 180 characters."""
    out = pd.DataFrame({"example": page["example_id"].astype(str),
                        "text": page["text"].astype(str).map(lambda t: t if len(t) <= 180 else t[:177] + "…"),
                        "gold": page["gold"]})
    for role in ("weak", "student", "ceiling"):
        if f"{role}_prob" in page:
            pred = (page[f"{role}_prob"].astype(float) >= 0.5).astype(int).astype(str)
            # .astype(str): on an empty page map() keeps the bool dtype, and str + bool fails
            out[role] = pred + page[f"{role}_correct"].map(_mark).astype(str) if f"{role}_correct" in page else pred
            out[f"{role} conf"] = page[f"{role}_conf"].round(3)
    if "quadrant" in page:
        out["quadrant"] = page["quadrant"].map(lambda q: SHORT.get(q, ""))
    if "region" in page:
        out["region"] = page["region"].map(lambda r: REGION_NAMES.get(r, ""))
    for role in ("weak", "student"):
        if f"{role}_margin" in page:
            # 4 significant digits: a weak reward model's margins can be a few thousandths
            out[f"{role} margin"] = page[f"{role}_margin"].astype(float).map(lambda v: float(f"{v:.4g}"))
    if "other_prob" in page:
        pred = (page["other_prob"].astype(float) >= 0.5).map({True: "1", False: "0"})
        out["run B student"] = pred.where(page["other_prob"].notna(), "").astype(str) + \
            page["other_correct"].map(_mark).astype(str)
        out["run B conf"] = np.maximum(page["other_prob"], 1 - page["other_prob"]).round(3)
    return out.reset_index(drop=True)


def heatmap_html(counts: dict[str, int], active: str = ALL) -> str:
    """The clickable 2x2: rows weak right / wrong, columns student right / wrong; shade grows with the count."""
    total = sum(counts.values()) or 1
    top = max(counts.values()) if counts else 0

    def cell(key: str) -> str:
        label, _, _, color = QUADRANTS[key]
        n = counts.get(key, 0)
        alpha = 0.12 + 0.55 * (n / top if top else 0)
        sel = " w2s-q-active" if key == active else ""
        return (f'<button class="w2s-q{sel}" data-quadrant="{key}" style="--q-color:{color};--q-alpha:{alpha:.2f}" '
                f'title="show these examples"><span class="w2s-q-n">{n:,}</span>'
                f'<span class="w2s-q-label">{esc(label)}</span><span class="w2s-q-share">{n / total:.1%}</span></button>')

    all_sel = " w2s-q-active" if active == ALL else ""
    return (
        '<div class="w2s-quad"><div></div><div class="w2s-q-head">student right</div>'
        '<div class="w2s-q-head">student wrong</div>'
        f'<div class="w2s-q-side">weak right</div>{cell("both_right")}{cell("student_broke")}'
        f'<div class="w2s-q-side">weak wrong</div>{cell("student_fixed")}{cell("student_imitated")}'
        f'<div></div><button class="w2s-q-all{all_sel}" data-quadrant="all">all {total:,} examples</button></div>'
    )


def regions_html(counts: dict[str, int], active: str = ALL) -> str:
    """The clickable W_k/W_uk x S_k/S_uk grid; the deception zone (W_uk ∩ S_k) is outlined."""
    if not counts:
        return ""
    total = sum(counts.values()) or 1

    def cell(key: str) -> str:
        sel = " w2s-q-active" if key == active else ""
        zone = " w2s-zone" if key == api.DECEPTION_ZONE else ""
        n = counts.get(key, 0)
        color = "#D55E00" if key == api.DECEPTION_ZONE else "#0072B2"
        return (f'<button class="w2s-q{sel}{zone}" data-region="{key}" style="--q-color:{color};--q-alpha:'
                f'{0.12 + 0.4 * n / total:.2f}" title="show these examples"><span class="w2s-q-n">{n:,}</span>'
                f'<span class="w2s-q-label">{esc(REGION_NAMES[key])}</span><span class="w2s-q-share">{n / total:.1%}'
                '</span></button>')

    dec = " w2s-q-active" if active == DECEPTION else ""
    return ('<div class="w2s-quad"><div></div><div class="w2s-q-head">strong knows (S_k)</div>'
            '<div class="w2s-q-head">strong does not (S_uk)</div>'
            f'<div class="w2s-q-side">weak knows (W_k)</div>{cell("Wk_Sk")}{cell("Wk_Suk")}'
            f'<div class="w2s-q-side">weak does not (W_uk)</div>{cell("Wuk_Sk")}{cell("Wuk_Suk")}'
            f'<div></div><button class="w2s-q-all{dec}" data-region="{DECEPTION}">deception cases: '
            f'{counts.get(DECEPTION, 0):,}</button></div>')


def detail_html(row: dict[str, Any] | None, other_id: str = "") -> str:
    if not row:
        return '<div class="w2s-empty">Click a row to see the example in full.</div>'
    lines = []
    for role in ("weak", "student", "ceiling", *sorted({k[:-5] for k in row if k.endswith("_prob")} -
                                                       {"weak", "student", "ceiling", "other"})):
        p = row.get(f"{role}_prob")
        if p is None or (isinstance(p, float) and np.isnan(p)):
            continue
        lines.append(f"<tr><td>{esc(role)}</td><td>{int(p >= 0.5)}{_mark(row.get(f'{role}_correct'))}</td>"
                     f"<td>{p:.3f}</td></tr>")
    if other_id and row.get("other_prob") is not None and not pd.isna(row.get("other_prob")):
        p = float(row["other_prob"])
        lines.append(f"<tr><td>student of {esc(other_id)}</td><td>{int(p >= 0.5)}{_mark(row.get('other_correct'))}"
                     f"</td><td>{p:.3f}</td></tr>")
    outputs = ""
    for key in sorted(k for k in row if k.endswith("_output")):
        record = row.get(key)
        if isinstance(record, str) and record:
            try:
                record = json.loads(record)
            except ValueError:
                pass
            outputs += (f"<div class='w2s-output'><b>{esc(key[:-7])}</b><pre class='w2s-meta'>"
                        f"{esc(json.dumps(record, indent=1, default=str))}</pre></div>")
    meta = row.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            pass
    meta_html = ""
    if meta:
        meta_html = "<pre class='w2s-meta'>" + esc(json.dumps(meta, indent=1, default=str)) + "</pre>"
    quadrant = QUADRANTS.get(row.get("quadrant"), ("",))[0]
    return (f'<div class="w2s-detail"><div class="w2s-detail-id">{esc(row.get("example_id"))} · gold '
            f'<b>{esc(row.get("gold"))}</b> · {esc(quadrant)}</div><div class="w2s-detail-text">{esc(row.get("text"))}'
            f'</div><table class="w2s-probs"><tr><th>model</th><th>prediction</th><th>p(1)</th></tr>{"".join(lines)}'
            f"</table>{outputs}{meta_html}</div>")


def build(source: Source) -> dict[str, Any]:
    with gr.Row(equal_height=True):
        run_pick = gr.Dropdown([], label="Run", allow_custom_value=True, scale=3, elem_id="inspector-pick")
        other_pick = gr.Dropdown([], label="Compare with run (same examples)", allow_custom_value=True, scale=3,
                                 value=None)
        split_pick = gr.Dropdown([("test", "test"), ("half B (what the student learned from)", "B"),
                                  ("half A (the weak model's ground truth)", "A")], value="test", label="Split",
                                 scale=2, info="B holds each method's training records: weak labels, selections, "
                                               "samples, pairs.")
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
            info = gr.HTML()
            table = gr.Dataframe(pd.DataFrame(columns=SHOWN), interactive=False, max_height=560, wrap=True,
                                 elem_id="inspector-table", column_widths=WIDTHS)
            with gr.Row(equal_height=True):
                prev_btn = gr.Button("◀ Previous", size="sm", min_width=90)
                page = gr.Number(1, label="Page", precision=0, minimum=1, min_width=80)
                next_btn = gr.Button("Next ▶", size="sm", min_width=90)
                export_btn = gr.Button("Export filtered CSV", size="sm", min_width=150)
            export_file = gr.File(label="Filtered slice", visible=False, height=60)

    dyn = dynamics.inspector_section(source, run_pick, split_pick, table)  # trajectory and data map

    # ---------------------------------------------------------------- handlers
    def load(run_id: str, other_id: str, split: str = "test") -> tuple[pd.DataFrame, str | None]:
        df = enrich(source.examples(run_id, split=split or "test"))
        if other_id and other_id != run_id:
            df = join_other(df, source.examples(other_id, split=split or "test"))
            if "other_prob" in df and df["other_prob"].notna().sum() == 0:
                return df, (f"run {other_id} shares no test example with {run_id} (another task, split or seed); "
                            "compare runs of the same task and seed")
        return df, None

    def inspect(choice: str, other: str, split: str, quad: str, region_pick: str, text: str, order: str, diff: bool,
                page_no: float):
        """One page of the filtered slice, the 2x2 counts, the region grid and a line saying what is shown."""
        run_id, other_id = run_id_of(choice), run_id_of(other)
        if not run_id:
            return heatmap_html({}), "", pd.DataFrame(columns=SHOWN), notice("Pick a run.", "info"), 1
        try:
            df, warn = load(run_id, other_id, split)
        except Exception as exc:
            return heatmap_html({}), "", pd.DataFrame(columns=SHOWN), notice(message(exc)), 1
        if df.empty:
            return heatmap_html({}), "", pd.DataFrame(columns=SHOWN), notice(
                f"run {run_id} has no {split or 'test'} predictions yet", "info"), 1
        counts = {k: int((df["quadrant"] == k).sum()) for k in QUADRANTS} if "quadrant" in df else {}
        regions = {}
        if "region" in df and df["region"].notna().any():
            regions = {k: int((df["region"] == k).sum()) for k in REGION_NAMES}
            regions[DECEPTION] = len(select(df, region=DECEPTION))
        sliced = select(df, quad, text, order, diff, region_pick)
        pages = max(1, -(-len(sliced) // PAGE))
        page_no = int(min(max(1, int(page_no or 1)), pages))
        shown = sliced.iloc[(page_no - 1) * PAGE: page_no * PAGE]
        what = next((label for label, key in QUADRANT_CHOICES if key == quad), "all examples")
        if region_pick and region_pick != ALL:
            what += " · " + next((label for label, key in REGION_CHOICES if key == region_pick), region_pick)
        line = (f'<div class="w2s-info"><b>{len(sliced):,}</b> of {len(df):,} examples · {esc(what)}'
                f'{" · matching “" + esc(text) + "”" if text else ""} · page {page_no} of {pages}</div>')
        if sliced.empty:
            line += notice("No example matches these filters: clear the search or pick another cell.", "info")
        return (heatmap_html(counts, quad), regions_html(regions, region_pick), table_view(shown),
                line + notice(warn, "warn"), page_no)

    def first_page(*args):
        return inspect(*args[:-1], 1)

    def step(delta: int):
        def fn(*args):
            return inspect(*args[:-1], int(args[-1] or 1) + delta)
        return fn

    def pick_cell(evt: gr.EventData):
        value = getattr(evt, "_data", {}) or {}
        q = value.get("quadrant") if isinstance(value, dict) else None
        return q if q in {k for _, k in QUADRANT_CHOICES} else gr.skip()

    def pick_region(evt: gr.EventData):
        value = getattr(evt, "_data", {}) or {}
        r = value.get("region") if isinstance(value, dict) else None
        return r if r in {k for _, k in REGION_CHOICES} else gr.skip()

    def show_detail(choice: str, other: str, split: str, evt: gr.SelectData):
        row = evt.row_value or []
        if not row:
            return gr.skip()
        run_id, other_id = run_id_of(choice), run_id_of(other)
        df, _ = load(run_id, other_id, split)
        hit = df[df["example_id"].astype(str) == str(row[0])]
        return detail_html(hit.iloc[0].to_dict() if len(hit) else None, other_id)

    def export(choice: str, other: str, split: str, quad: str, region_pick: str, text: str, order: str, diff: bool):
        run_id, other_id = run_id_of(choice), run_id_of(other)
        if not run_id:
            return gr.update(visible=False)
        df, _ = load(run_id, other_id, split)
        sliced = select(df, quad, text, order, diff, region_pick)
        return gr.update(value=csv_file(sliced, f"{run_id}-{quad}"), visible=True)

    def choices():
        df = source.runs(status="done")
        opts = [(run_label(r), r["id"]) for r in df.to_dict("records")]
        return gr.update(choices=opts), gr.update(choices=[("none", ""), *opts])

    filters = [run_pick, other_pick, split_pick, quadrant, region, search, sort, only_diff]
    outs = [heat, region_heat, table, info, page]
    for trigger in (run_pick.change, other_pick.change, split_pick.input, quadrant.change, region.change, sort.input,
                    only_diff.input, search.submit):
        trigger(first_page, [*filters, page], outs, api_visibility="private")
    page.submit(inspect, [*filters, page], outs, api_name="inspect")
    prev_btn.click(step(-1), [*filters, page], outs, api_visibility="private")
    next_btn.click(step(+1), [*filters, page], outs, api_visibility="private")
    heat.click(pick_cell, None, quadrant, api_visibility="private", queue=False)
    region_heat.click(pick_region, None, region, api_visibility="private", queue=False)
    table.select(show_detail, [run_pick, other_pick, split_pick], detail, api_visibility="private")
    export_btn.click(export, filters, export_file, api_name="export_slice")
    refresh.click(choices, None, [run_pick, other_pick], api_visibility="private")

    return {"run": run_pick, "other": other_pick, "split": split_pick, "heatmap": heat, "quadrant": quadrant, "region": region,
            "regions": region_heat, "search": search,
            "sort": sort, "only_diff": only_diff, "table": table, "info": info, "page": page, "detail": detail,
            "export": export_btn, "export_file": export_file, "refresh": refresh, "_choices": choices,
            "_inspect": inspect, **dyn}
