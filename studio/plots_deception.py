"""Deception figures (Yang et al. 2024): pure DataFrame / dict -> plotly functions, testable without a server.

    regions(metrics)              # per knowledge region: how many test examples, how often the student errs
    conflict_tax(metrics)         # where the new errors a conflict causes fall, region by region
    ds_vs_gap(runs, "ds_a")       # deception score against the weak-strong capability gap, one dot per run

`metrics` is a run's metric dict (engine: region_<R>, student_err_<R>, tax_<R>, tax_share_<R>, ds_a/b/c).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from engine import api
from studio.plots import SERIES, _fig, empty_figure

REGIONS = tuple(api.REGIONS)
REGION_LABELS = {k: r.label + (" (deception zone)" if k == api.DECEPTION_ZONE else "") for k, r in api.REGIONS.items()}
# Where a conflict's tax should fall without deception, most to least (Yang et al.'s reviewers' ordering).
TAX_ORDER = ("Wuk_Suk", "Wk_Suk", "Wk_Sk", "Wuk_Sk")
DS_FORMULAS = {k: f"({k[-1]}) {formula}" for k, formula in api.DS_FORMULAS.items()}
ZONE = "#D55E00"
OTHER = "#0072B2"


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def has_deception(metrics: dict[str, Any]) -> bool:
    return _num(metrics.get("region_Wuk_Sk")) is not None


def regions_data(metrics: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{"region": r, "label": REGION_LABELS[r], "examples": int(_num(metrics.get(f"region_{r}")) or 0),
                          "student_error_rate": _num(metrics.get(f"student_err_{r}"))} for r in REGIONS])


def regions(metrics: dict[str, Any], title: str = "Knowledge regions") -> go.Figure:
    """Bars: test examples per region (left axis); dots: the student's error rate there (right axis)."""
    if not has_deception(metrics):
        return empty_figure("this run has no knowledge regions (it needs a weak model and a ceiling)")
    data = regions_data(metrics)
    colors = [ZONE if r == "Wuk_Sk" else OTHER for r in data["region"]]
    fig = _fig(title, height=360, yaxis=dict(title="test examples"),
               yaxis2=dict(title="student error rate", overlaying="y", side="right", range=[0, 1.05], showgrid=False),
               legend=dict(orientation="h", y=-0.25))
    fig.add_bar(x=data["label"], y=data["examples"], marker_color=colors, name="examples", opacity=0.75,
                text=data["examples"], textposition="outside", hovertemplate="%{x}: %{y} examples<extra></extra>")
    fig.add_scatter(x=data["label"], y=data["student_error_rate"], yaxis="y2", mode="markers+text", name="student error",
                    marker=dict(size=12, color="#111827", symbol="diamond"),
                    text=[f"{v:.0%}" if v is not None else "" for v in data["student_error_rate"]],
                    textposition="top center", hovertemplate="%{x}: student wrong on %{y:.1%}<extra></extra>")
    return fig


def conflict_tax_data(metrics: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{"region": r, "label": REGION_LABELS[r], "new_errors": int(_num(metrics.get(f"tax_{r}")) or 0),
                          "share": _num(metrics.get(f"tax_share_{r}")), "expected_rank": TAX_ORDER.index(r) + 1}
                         for r in TAX_ORDER])


def conflict_tax(metrics: dict[str, Any], title: str = "Conflict tax: where the new errors fall") -> go.Figure:
    """New errors (right without the conflict, wrong with it) per region, in the order they should fall
    without deception; a tall last bar (W_uk ∩ S_k) is the deception signature."""
    if _num(metrics.get("new_errors")) is None:
        return empty_figure("no conflict in this run: the tax compares a student with and without one")
    data = conflict_tax_data(metrics)
    fig = _fig(title, height=360, yaxis=dict(title="new errors"), xaxis=dict(title="expected share, most to least →"))
    fig.add_bar(x=data["label"], y=data["new_errors"], marker_color=[ZONE if r == "Wuk_Sk" else OTHER
                                                                    for r in data["region"]],
                text=[f"{n} ({s:.0%})" if s is not None else str(n) for n, s in zip(data["new_errors"], data["share"])],
                textposition="outside", hovertemplate="%{x}: %{y} new errors<extra></extra>")
    return fig


def ds_vs_gap_data(runs: pd.DataFrame, variant: str = "ds_a") -> pd.DataFrame:
    cols = ["id", "method", "weak", "strong", "task", "weak_acc", "ceiling_acc", variant]
    if runs.empty or variant not in runs:
        return pd.DataFrame(columns=[*cols, "gap"])
    df = runs[[c for c in cols if c in runs]].copy()
    df["gap"] = df["ceiling_acc"].astype(float) - df["weak_acc"].astype(float)
    return df[df[variant].notna() & df["gap"].notna()].reset_index(drop=True)


def ds_vs_gap(runs: pd.DataFrame, variant: str = "ds_a", title: str | None = None) -> go.Figure:
    """The paper's headline trend: deception score against the capability gap (ceiling acc - weak acc)."""
    data = ds_vs_gap_data(runs, variant)
    if data.empty:
        return empty_figure(f"no finished run with {variant} yet")
    fig = _fig(title or f"Deception score {DS_FORMULAS.get(variant, variant)} against the capability gap", height=380,
               xaxis=dict(title="capability gap: ceiling acc − weak acc"), yaxis=dict(title=variant, rangemode="tozero"))
    for k, (method, part) in enumerate(data.groupby("method", sort=True)):
        fig.add_scatter(x=part["gap"], y=part[variant], mode="markers", name=str(method),
                        marker=dict(size=11, color=SERIES[k % len(SERIES)]),
                        customdata=part[["id", "weak", "strong"]].to_numpy(),
                        hovertemplate="%{customdata[0]} (%{customdata[1]} → %{customdata[2]}): gap %{x:.3f}, "
                                      f"{variant} %{{y:.3f}}<extra></extra>")
    return fig
