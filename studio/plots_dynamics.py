"""Figures of training dynamics: accuracy over training split by the weak label, one example's trajectory, and
the data map (cartography) of a run's examples. Each takes the engine's table as a DataFrame (engine.client
dynamics / trajectory / cartography) and returns a Plotly figure (the data map: a clickable SVG, as the Inspector's
confidence scatter is); `*_data` return what the figure draws.

    dynamics_figure(source.dynamics(run_id))            # Burns et al.: generalise first, then fit the errors
    trajectory_figure(source.trajectory(run_id, ex))    # p(gold) over steps, student and ceiling
    datamap_html(source.cartography(run_id), active)    # SVG: mean confidence vs variability, by final quadrant
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine.api import MAP_AMBIGUOUS, MAP_EASY
from studio.plots import MUTED, QUADRANTS, ROLE_COLORS, _fig, empty_figure


def dynamics_data(dyn: pd.DataFrame, role: str = "student", split: str = "test") -> pd.DataFrame:
    """The student's (or `role`'s) points on `split`: epoch, accuracy, accuracy where the weak label is right and
    where it is wrong, and agreement with the weak labels."""
    if dyn is None or dyn.empty:
        return pd.DataFrame(columns=["epoch", "step", "accuracy", "acc_weak_right", "acc_weak_wrong", "agreement"])
    part = dyn[(dyn["role"] == role) & (dyn["split"] == split)].sort_values("checkpoint")
    return part[["epoch", "step", "accuracy", "acc_weak_right", "acc_weak_wrong", "agreement"]].reset_index(drop=True)


def dynamics_figure(dyn: pd.DataFrame, role: str = "student", split: str = "test",
                    title: str = "Training dynamics") -> go.Figure:
    data = dynamics_data(dyn, role, split)
    if data.empty:
        return empty_figure("no training dynamics stored for this run (train.checkpoints: 0, or a run before them)")
    fig = _fig(f"{title} · {role} on {split}", xaxis_title="epoch", yaxis_title="fraction",
               yaxis=dict(range=[0, 1.02]))
    for col, name, color, dash in (("accuracy", "accuracy", ROLE_COLORS["student"], "solid"),
                                   ("acc_weak_right", "accuracy where the weak label is right", "#009E73", "dot"),
                                   ("acc_weak_wrong", "accuracy where the weak label is wrong", "#D55E00", "dot"),
                                   ("agreement", "agreement with the weak labels", ROLE_COLORS["weak"], "dash")):
        fig.add_trace(go.Scatter(x=data["epoch"], y=data[col], name=name, mode="lines+markers",
                                 line=dict(color=color, dash=dash), customdata=data["step"],
                                 hovertemplate="epoch %{x:.2f} (step %{customdata})<br>%{y:.3f}<extra>" + name +
                                               "</extra>"))
    return fig


def trajectory_figure(traj: pd.DataFrame, example_id: str = "") -> go.Figure:
    """p(gold label) at each evaluation point, one line per role (student, ceiling, weak) that tracked it."""
    if traj is None or traj.empty:
        return empty_figure("pick an example in the table to see its trajectory")
    fig = _fig(f"Trajectory · {example_id}", xaxis_title="epoch", yaxis_title="p(gold label)",
               yaxis=dict(range=[0, 1.02]), height=300)
    for (role, split), part in traj.groupby(["role", "split"], sort=True):
        part = part.sort_values("checkpoint")
        color = ROLE_COLORS.get(role.split("_")[0], MUTED)
        fig.add_trace(go.Scatter(x=part["epoch"], y=part["p_gold"], name=f"{role} ({split})", mode="lines+markers",
                                 line=dict(color=color)))
    fig.add_hline(y=0.5, line=dict(color=MUTED, dash="dot"))
    return fig


def datamap_html(cart: pd.DataFrame, active: str = "all", max_points: int = 3000, width: int = 360,
                 height: int = 300) -> str:
    """Swayamdipta et al.'s data map as a clickable SVG: per example the mean p(label) over training (confidence, y,
    0..1) against its standard deviation (variability, x, 0..max(0.5, the largest)), coloured by the weak-vs-student
    quadrant at the end of training, with faint guides at the easy / ambiguous / hard-to-learn boundaries. Each dot
    carries data-example and data-q (studio.tabs.inspector_view.CLICK_JS turns a click into its example); dots
    outside the `active` quadrant are dimmed. Above `max_points` an evenly spaced subset by example id is drawn."""
    need = {"example_id", "confidence", "variability"}
    if cart is None or cart.empty or not need <= set(cart.columns):
        return '<div class="w2s-empty">No training dynamics stored for this run (train.checkpoints: 0, or a run ' \
               'from before them): no data map to draw.</div>'
    df = cart.dropna(subset=["confidence", "variability"]).sort_values("example_id", kind="stable")
    n = len(df)
    if n > max_points:
        df = df.iloc[np.linspace(0, n - 1, max_points).astype(int)]
    x_max = max(0.5, float(df["variability"].max()) if len(df) else 0.0)
    left, top, right, bottom = 34, 8, width - 8, height - 34

    def sx(v: float) -> float:
        return left + v / x_max * (right - left)

    def sy(c: float) -> float:
        return bottom - c * (bottom - top)

    quads = df["quadrant"] if "quadrant" in df else pd.Series([None] * len(df), index=df.index)
    names = {**{k: (label, color) for k, (label, _, _, color) in QUADRANTS.items()},
             "": ("no final weak and student prediction", MUTED)}
    dots, dimmed, seen = [], [], set()
    for ex, conf, var, q in zip(df["example_id"], df["confidence"], df["variability"], quads):
        q = q if isinstance(q, str) and q in QUADRANTS else ""
        seen.add(q)
        # No final quadrant (a split the weak model or the student did not label at the end): a hollow dot, apart
        # from both-right's grey.
        paint = f'fill="{names[q][1]}"' if q else f'fill="#fff" stroke="{MUTED}"'
        dim = "" if active in ("all", "", None, q) else ' opacity="0.15"'
        ex = html.escape(str(ex))
        dot = (f'<circle cx="{sx(var):.1f}" cy="{sy(conf):.1f}" r="3" {paint}{dim} data-example="{ex}" '
               f'data-q="{q}"><title>{ex}: confidence {conf:.3f}, variability {var:.3f}</title></circle>')
        (dimmed if dim else dots).append(dot)
    dots = dimmed + dots  # the active quadrant's dots drawn last: on top
    grid = "#cbd5e1"
    guides = (f'<line x1="{sx(MAP_AMBIGUOUS):.1f}" y1="{top}" x2="{sx(MAP_AMBIGUOUS):.1f}" y2="{bottom}" '
              f'stroke="{grid}" stroke-dasharray="3 3"/><line x1="{left}" y1="{sy(MAP_EASY):.1f}" '
              f'x2="{sx(MAP_AMBIGUOUS):.1f}" y2="{sy(MAP_EASY):.1f}" stroke="{grid}" stroke-dasharray="3 3"/>'
              f'<text x="{left + 4}" y="{top + 10}" font-size="9" fill="{MUTED}">easy to learn</text>'
              f'<text x="{left + 4}" y="{bottom - 4}" font-size="9" fill="{MUTED}">hard to learn</text>'
              f'<text x="{right - 2}" y="{top + 10}" font-size="9" fill="{MUTED}" text-anchor="end">ambiguous</text>')
    ticks = "".join(f'<text x="{left - 4}" y="{sy(c) + 3:.1f}" font-size="9" fill="#475569" text-anchor="end">'
                    f'{c:g}</text>' for c in (0, 0.5, 1))
    ticks += "".join(f'<text x="{sx(v):.1f}" y="{bottom + 11}" font-size="9" fill="#475569" text-anchor="{anchor}">'
                     f'{v:.2g}</text>' for v, anchor in ((0, "middle"), (x_max / 2, "middle"), (x_max, "end")))
    axes = (f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#94a3b8"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#94a3b8"/>{ticks}'
            f'<text x="{(left + right) / 2}" y="{height - 6}" text-anchor="middle" font-size="11" fill="#475569">'
            'variability (sd of p(label) over training)</text>'
            f'<text x="10" y="{(top + bottom) / 2}" text-anchor="middle" font-size="11" fill="#475569" '
            f'transform="rotate(-90 10 {(top + bottom) / 2})">confidence (mean p(label))</text>')
    legend = " ".join(f'<span class="w2s-legend-item"><svg width="10" height="10"><circle cx="5" cy="5" r="4" '
                      f'fill="{color if k else "#fff"}" stroke="{color}"/></svg> {html.escape(label)}</span>'
                      for k, (label, color) in names.items() if k in seen)
    shown = f"{len(dots):,} of {n:,} examples" if len(dots) < n else f"{n:,} examples"
    return (f'<div class="w2s-scatter w2s-datamap"><svg viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="data map: confidence vs variability over training">{guides}{axes}{"".join(dots)}</svg>'
            f'<div class="w2s-help">{legend}</div><div class="w2s-help">{shown}; click a dot to open it</div></div>')
