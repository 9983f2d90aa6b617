"""Training curves: a run's curves, one line per stage role, and one curve of several runs overlaid. Pure
DataFrame -> plotly Figure functions, each with a `*_data` twin (the table drawn, smoothed as drawn).

    fig = training_curves(curves, "train_loss", smoothing=0.6)        # curves: role, name, step, value rows
    fig = overlay_curves({"r1 · naive": curves1, "r2 · aux_conf": curves2}, "train_loss", role="student")
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from studio.plots import ROLE_COLORS, SERIES, _fig, empty_figure


def curves_data(curves: pd.DataFrame, name: str = "train_loss", smoothing: float = 0.0) -> pd.DataFrame:
    """Rows of one curve (`name`) per role, with an EMA-smoothed column (de-biased, as TensorBoard does)."""
    cols = ["role", "step", "value", "smoothed"]
    if curves is None or curves.empty or "name" not in curves:
        return pd.DataFrame(columns=cols)
    df = curves[curves["name"] == name].copy()
    order = {r: i for i, r in enumerate(dict.fromkeys([*ROLE_COLORS, *df["role"]]))}
    df = df.sort_values(["role", "step"], key=lambda c: c.map(order) if c.name == "role" else c)
    if df.empty:
        return pd.DataFrame(columns=cols)
    smoothing = min(max(float(smoothing), 0.0), 0.999)
    parts = []
    for _, part in df.groupby("role", sort=False):
        values, out, acc, weight = part["value"].to_numpy(float), [], 0.0, 0.0
        for v in values:
            acc = smoothing * acc + (1 - smoothing) * v
            weight = smoothing * weight + (1 - smoothing)
            out.append(acc / weight)
        parts.append(part.assign(smoothed=out))
    return pd.concat(parts)[cols].reset_index(drop=True)


def training_curves(curves: pd.DataFrame, name: str = "train_loss", smoothing: float = 0.0,
                    title: str | None = None) -> go.Figure:
    """One line per stage role (weak, ceiling, student, ...) of the metric `name` against the training step."""
    data = curves_data(curves, name, smoothing)
    if data.empty:
        return empty_figure(f"no {name} points yet")
    fig = _fig(title or f"Training curves: {name}", xaxis=dict(title="step"), yaxis=dict(title=name))
    for i, (role, part) in enumerate(data.groupby("role", sort=False)):
        add_curve(fig, part, role, ROLE_COLORS.get(role, SERIES[(i + 3) % len(SERIES)]), smoothing, raw_opacity=0.3)
    return fig


def add_curve(fig: go.Figure, part: pd.DataFrame, label: str, color: str, smoothing: float, raw_opacity: float):
    """One curve of `curves_data` rows: its smoothed line, over its raw points drawn faint when smoothing is on."""
    if smoothing > 0:
        fig.add_scatter(x=part["step"], y=part["value"], mode="lines", line=dict(color=color, width=1),
                        opacity=raw_opacity, showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=part["step"], y=part["smoothed"], mode="lines", name=label, line=dict(color=color, width=2),
                    hovertemplate=f"{label} step %{{x}}: %{{y:.4f}}<extra></extra>")


def overlay_data(curves: dict[str, pd.DataFrame], name: str = "train_loss", role: str = "student",
                 smoothing: float = 0.0) -> pd.DataFrame:
    """One curve (`name` of stage `role`) of each run, smoothed as training_curves smooths: run, step, value,
    smoothed."""
    parts = []
    for label, df in curves.items():
        data = curves_data(df, name, smoothing)
        data = data[data["role"] == role]
        if not data.empty:
            parts.append(data.drop(columns="role").assign(run=label))
    if not parts:
        return pd.DataFrame(columns=["run", "step", "value", "smoothed"])
    return pd.concat(parts)[["run", "step", "value", "smoothed"]].reset_index(drop=True)


def overlay_curves(curves: dict[str, pd.DataFrame], name: str = "train_loss", role: str = "student",
                   smoothing: float = 0.0, title: str | None = None) -> go.Figure:
    """The same metric of the same stage role across runs, one colour per run (raw points faint under the EMA)."""
    data = overlay_data(curves, name, role, smoothing)
    if data.empty:
        return empty_figure(f"no {role} {name} points in the chosen runs")
    fig = _fig(title or f"{name} of the {role} · {data['run'].nunique()} runs", xaxis=dict(title="step"),
               yaxis=dict(title=name))
    for i, (label, part) in enumerate(data.groupby("run", sort=False)):  # fainter raw points: many runs overlap
        add_curve(fig, part, label, SERIES[i % len(SERIES)], smoothing, raw_opacity=0.25)
    return fig
