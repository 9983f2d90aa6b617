"""What the Inspector draws, as pure functions: the table of a page of examples, the clickable 2x2 and region
grids (from the engine's counts), the confidence scatter and the detail panel of one example.

    table_view(page)                       # rows as shown: predictions with ✓/✗ (blank where a model has none)
    heatmap_html(counts)                   # counts: engine.api.Counts as a dict (quadrants, scored, total)
    scatter_html(examples, active)         # weak vs student confidence, a dot per example coloured by quadrant
    detail_html(row)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from engine import api
from studio.common import esc
from studio.plots import QUADRANTS

ALL = "all"
DECEPTION = "deception"
QUADRANT_CHOICES = [("all examples", ALL)] + [(label, key) for key, (label, *_rest) in QUADRANTS.items()]
REGION_NAMES = {k: r.label for k, r in api.REGIONS.items()}
REGION_CHOICES = [("all regions", ALL), *[(v, k) for k, v in REGION_NAMES.items()],
                  ("deception cases: W_uk ∩ S_k, student wrong", DECEPTION)]
SHORT = {k: q.short for k, q in api.QUADRANTS.items()}
# The engine sorts (engine.server.queries.ORDERS); the label is what the picker shows.
SORTS = {
    "example id": None,
    "disagreement |student − weak| (high first)": "disagreement",
    "weak confidence (high first)": "weak_conf",
    "weak confidence (low first)": "-weak_conf",
    "student confidence (high first)": "student_conf",
    "student confidence (low first)": "-student_conf",
}
OUTPUT_KEYS = ("answer", "completion", "solution")  # a generation record's text, in order of preference
ROLES = ("weak", "student", "ceiling")
CLICK_JS = """
element.addEventListener('click', (e) => {
  const point = e.target.closest('[data-example]');
  if (point) { trigger('click', {example: point.dataset.example, quadrant: point.dataset.q}); return; }
  const cell = e.target.closest('[data-quadrant]');
  if (cell) { trigger('click', {quadrant: cell.dataset.quadrant}); }
  const region = e.target.closest('[data-region]');
  if (region) { trigger('click', {region: region.dataset.region}); }
});
"""


def clicked(evt: Any, key: str) -> str | None:
    """The `key` ("example", "quadrant" or "region") of what CLICK_JS reported for a click, or None."""
    value = getattr(evt, "_data", None)
    return value.get(key) if isinstance(value, dict) else None


def _mark(correct: Any) -> str:
    if correct is None or correct is pd.NA or (isinstance(correct, float) and np.isnan(correct)):
        return ""
    return " ✓" if bool(correct) else " ✗"


def _record(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            out = json.loads(value)
            return out if isinstance(out, dict) else {}
        except ValueError:
            return {}
    return {}


def output_text(value: Any, width: int = 90) -> str:
    """A generation record's text (its answer, completion or solution; the first sample otherwise), cut short."""
    rec = _record(value)
    text = next((rec[k] for k in OUTPUT_KEYS if isinstance(rec.get(k), str) and rec[k].strip()), None)
    if text is None and isinstance(rec.get("samples"), list) and rec["samples"]:
        text = str(rec["samples"][0])
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"


def margin_of(value: Any) -> float | None:
    value = _record(value).get("margin")
    return float(value) if isinstance(value, int | float) else None


def _pred(prob: pd.Series, correct: pd.Series | None) -> pd.Series:
    """'1 ✓' / '0 ✗', and blank where the model made no prediction (never a 0 for a missing one)."""
    p = prob.astype(float)
    text = (p >= 0.5).map({True: "1", False: "0"}).where(p.notna(), "")
    if correct is not None:  # .astype(str): on an empty page map() keeps the bool dtype, and str + bool fails
        text = text.astype(str) + correct.map(_mark).astype(str).where(p.notna(), "")
    return text


def _conf(prob: pd.Series) -> pd.Series:
    p = prob.astype(float)
    return np.maximum(p, 1 - p).round(3)


def table_view(page: pd.DataFrame) -> pd.DataFrame:
    """Rows as shown: each model's prediction with ✓/✗ and confidence (columns only for the models that predicted
    this split, blank cells where one did not), a second run's student beside this one's, the quadrant and region,
    and for preference and generation runs the outputs themselves (chosen / rejected, margins, answers)."""
    out = pd.DataFrame({"example": page["example_id"].astype(str),
                        "text": page["text"].astype(str).map(lambda t: t if len(t) <= 180 else t[:177] + "…"),
                        "gold": page["gold"]})
    meta = page["meta"].map(_record) if "meta" in page else pd.Series([{}] * len(page), index=page.index)
    if meta.map(lambda m: "chosen" in m and "rejected" in m).any():
        out["chosen"] = meta.map(lambda m: str(m.get("chosen", ""))).to_numpy()
        out["rejected"] = meta.map(lambda m: str(m.get("rejected", ""))).to_numpy()
    for role in ROLES:
        prob = page.get(f"{role}_prob")
        if prob is None or prob.isna().all():
            continue
        out[role] = _pred(prob, page.get(f"{role}_correct")).to_numpy()
        out[f"{role} conf"] = _conf(prob).to_numpy()
        if role == "student" and "other_prob" in page:
            out["run B student"] = _pred(page["other_prob"], page.get("other_correct")).to_numpy()
            out["run B conf"] = _conf(page["other_prob"]).to_numpy()
        records = page.get(f"{role}_output")
        if records is not None:
            margins = records.map(margin_of)
            if margins.notna().any():  # 4 significant digits: a weak reward model's margins can be a few thousandths
                out[f"{role} margin"] = margins.map(lambda v: float(f"{v:.4g}") if v is not None else None).to_numpy()
            texts = records.map(output_text)
            if (texts != "").any():
                out[f"{role} output"] = texts.to_numpy()
    if "weak_correct" in page and "student_correct" in page:
        out["quadrant"] = [SHORT.get(quadrant_of(w, s), "") for w, s in zip(page["weak_correct"],
                                                                           page["student_correct"])]
    if "region" in page:
        out["region"] = page["region"].map(lambda r: REGION_NAMES.get(r, "")).to_numpy()
    return out.reset_index(drop=True)


def quadrant_of(weak_correct: Any, student_correct: Any) -> str | None:
    if _mark(weak_correct) == "" or _mark(student_correct) == "":
        return None
    return next((k for k, (_, wr, sr, _) in QUADRANTS.items()
                 if wr == bool(weak_correct) and sr == bool(student_correct)), None)


def heatmap_html(counts: dict[str, Any] | None, active: str = ALL) -> str:
    """The clickable 2x2 from the engine's counts: rows weak right / wrong, columns student right / wrong. Its total
    is the examples with both predictions (`scored`); when the split has rows without them, the caption says so."""
    counts = counts or {}
    cells = counts.get("quadrants") or {}
    scored = int(counts.get("scored") or sum(cells.values()))
    total = int(counts.get("total") or scored)
    top = max(cells.values()) if cells else 0

    def cell(key: str) -> str:
        label, _, _, color = QUADRANTS[key]
        n = int(cells.get(key, 0))
        alpha = 0.12 + 0.55 * (n / top if top else 0)
        sel = " w2s-q-active" if key == active else ""
        return (f'<button class="w2s-q{sel}" data-quadrant="{key}" style="--q-color:{color};--q-alpha:{alpha:.2f}" '
                f'title="show these examples"><span class="w2s-q-n">{n:,}</span>'
                f'<span class="w2s-q-label">{esc(label)}</span><span class="w2s-q-share">'
                f'{n / (scored or 1):.1%}</span></button>')

    all_sel = " w2s-q-active" if active == ALL else ""
    caption = f"all {total:,} examples" if scored == total else (
        f"all {total:,} examples ({scored:,} with weak and student predictions)" if scored else
        f"all {total:,} examples (none with both a weak and a student prediction: the 2x2 is empty here)")
    return (
        '<div class="w2s-quad"><div></div><div class="w2s-q-head">student right</div>'
        '<div class="w2s-q-head">student wrong</div>'
        f'<div class="w2s-q-side">weak right</div>{cell("both_right")}{cell("student_broke")}'
        f'<div class="w2s-q-side">weak wrong</div>{cell("student_fixed")}{cell("student_imitated")}'
        f'<div></div><button class="w2s-q-all{all_sel}" data-quadrant="all">{esc(caption)}</button></div>'
    )


def regions_html(counts: dict[str, Any] | None, active: str = ALL) -> str:
    """The clickable W_k/W_uk x S_k/S_uk grid from the engine's counts; the deception zone (W_uk ∩ S_k) outlined."""
    counts = counts or {}
    cells = counts.get("regions") or {}
    if not cells:
        return ""
    total = sum(cells.values()) or 1

    def cell(key: str) -> str:
        sel = " w2s-q-active" if key == active else ""
        zone = " w2s-zone" if key == api.DECEPTION_ZONE else ""
        n = int(cells.get(key, 0))
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
            f'{int(counts.get("deception") or 0):,}</button></div>')


def scatter_html(examples: pd.DataFrame, active: str = ALL, max_points: int = 3000, size: int = 300) -> str:
    """Weak confidence (x) against student confidence (y), max(p, 1 − p) of each, one dot per example coloured by
    its quadrant, as an SVG whose dots are clickable (the example opens, its quadrant filters the table). Above
    `max_points` an evenly spaced subset by example id is drawn (the caption says how many)."""
    need = {"example_id", "weak_prob", "student_prob", "weak_correct", "student_correct"}
    if examples is None or examples.empty or not need <= set(examples.columns):
        return ""
    df = examples[list(need)].dropna(subset=["weak_prob", "student_prob"]).sort_values("example_id")
    if df.empty:
        return '<div class="w2s-empty">No example has both a weak and a student prediction on this split.</div>'
    n = len(df)
    if n > max_points:
        df = df.iloc[np.linspace(0, n - 1, max_points).astype(int)]
    pad, span = 28, size - 36
    dots = []
    for ex, wp, sp, wc, sc in df[["example_id", "weak_prob", "student_prob", "weak_correct",
                                   "student_correct"]].itertuples(index=False):
        q = quadrant_of(wc, sc)
        if q is None:
            continue
        x = pad + (max(wp, 1 - wp) - 0.5) * 2 * span
        y = 8 + (1 - (max(sp, 1 - sp) - 0.5) * 2) * span
        dim = "" if active in (ALL, q) else ' opacity="0.15"'
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{QUADRANTS[q][3]}"{dim} data-example="{esc(ex)}" '
                    f'data-q="{q}"><title>{esc(ex)}: weak p(1) {wp:.3f}, student p(1) {sp:.3f}</title></circle>')
    axes = (f'<line x1="{pad}" y1="{8 + span}" x2="{pad + span}" y2="{8 + span}" stroke="#94a3b8"/>'
            f'<line x1="{pad}" y1="8" x2="{pad}" y2="{8 + span}" stroke="#94a3b8"/>'
            f'<text x="{pad + span / 2}" y="{size - 6}" text-anchor="middle" font-size="11" fill="#475569">weak '
            'confidence (0.5 → 1)</text>'
            f'<text x="10" y="{8 + span / 2}" text-anchor="middle" font-size="11" fill="#475569" '
            f'transform="rotate(-90 10 {8 + span / 2})">student confidence</text>')
    shown = f"{len(dots):,} of {n:,} examples" if len(dots) < n else f"{n:,} examples"
    return (f'<div class="w2s-scatter"><svg viewBox="0 0 {size} {size}" width="100%" role="img" '
            f'aria-label="weak vs student confidence">{axes}{"".join(dots)}</svg>'
            f'<div class="w2s-help">{shown}; click a dot to open it</div></div>')


def detail_html(row: dict[str, Any] | None, other_id: str = "") -> str:
    if not row:
        return '<div class="w2s-empty">Click a row (or a dot) to see the example in full.</div>'
    lines = []
    for role in (*ROLES, *sorted({k[:-5] for k in row if k.endswith("_prob")} - {*ROLES, "other"})):
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
    meta = _record(row.get("meta")) or row.get("meta")
    meta_html = "<pre class='w2s-meta'>" + esc(json.dumps(meta, indent=1, default=str)) + "</pre>" if meta else ""
    quadrant = QUADRANTS.get(quadrant_of(row.get("weak_correct"), row.get("student_correct")), ("",))[0]
    return (f'<div class="w2s-detail"><div class="w2s-detail-id">{esc(row.get("example_id"))} · gold '
            f'<b>{esc(row.get("gold"))}</b> · {esc(quadrant)}</div><div class="w2s-detail-text">{esc(row.get("text"))}'
            f'</div><table class="w2s-probs"><tr><th>model</th><th>prediction</th><th>p(1)</th></tr>{"".join(lines)}'
            f"</table>{outputs}{meta_html}</div>")
