"""How the student treats weak errors along an example attribute. Pure DataFrame -> plotly Figure functions
(each with a `*_data` twin, the table drawn).

    fig = rates_by_attribute(examples, "freq_rank")   # fix / imitate rates per bin of a numeric meta attribute
    numeric_attributes(examples)                      # the meta keys with numbers in them (entity frequency, ...)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from studio.plots import _fig, empty_figure

RATE_COLUMNS = ["bin", "low", "high", "n", "weak_wrong", "fix_rate", "imitate_rate", "weak_acc", "student_acc"]


def _meta(examples: pd.DataFrame) -> pd.DataFrame:
    if "meta" not in examples or examples.empty:
        return pd.DataFrame(index=examples.index)
    rows = [m if isinstance(m, dict) else (json.loads(m) if isinstance(m, str) and m else {})
            for m in examples["meta"]]
    return pd.DataFrame(rows, index=examples.index)


def numeric_attributes(examples: pd.DataFrame) -> list[str]:
    """Meta keys whose values are numbers (not booleans) on at least half the examples, with more than one value."""
    meta = _meta(examples)
    out = []
    for col in meta.columns:
        values = meta[col]
        numbers = values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        if numbers.mean() >= 0.5 and values[numbers].nunique() > 1:
            out.append(str(col))
    return out


def rates_data(examples: pd.DataFrame, attribute: str, n_bins: int = 6) -> pd.DataFrame:
    """Per bin of a numeric meta attribute (quantile bins; one bin per value when there are few): examples, how
    many the weak model got wrong, and among those the share the student fixed / imitated, plus both accuracies."""
    meta = _meta(examples)
    if attribute not in meta or not {"weak_correct", "student_correct"} <= set(examples.columns):
        return pd.DataFrame(columns=RATE_COLUMNS)
    x = pd.to_numeric(meta[attribute], errors="coerce")
    w = examples["weak_correct"].astype("boolean")
    s = examples["student_correct"].astype("boolean")
    ok = x.notna() & w.notna() & s.notna()
    x, w, s = x[ok], w[ok].astype(bool), s[ok].astype(bool)
    if x.empty:
        return pd.DataFrame(columns=RATE_COLUMNS)
    if x.nunique() <= n_bins:
        bins = x.rank(method="dense").astype(int) - 1
        edges = sorted(x.unique())
        lows, highs = edges, edges
    else:
        bins = pd.qcut(x, n_bins, labels=False, duplicates="drop")
        lows = [x[bins == b].min() for b in sorted(bins.unique())]
        highs = [x[bins == b].max() for b in sorted(bins.unique())]
    rows = []
    for i, b in enumerate(sorted(bins.unique())):
        m = bins == b
        wrong = m & ~w
        k = int(wrong.sum())
        rows.append({"bin": i, "low": float(lows[i]), "high": float(highs[i]), "n": int(m.sum()), "weak_wrong": k,
                     "fix_rate": float((wrong & s).sum() / k) if k else np.nan,
                     "imitate_rate": float((wrong & ~s).sum() / k) if k else np.nan,
                     "weak_acc": float(w[m].mean()), "student_acc": float(s[m].mean())})
    return pd.DataFrame(rows, columns=RATE_COLUMNS)


def rates_by_attribute(examples: pd.DataFrame, attribute: str, n_bins: int = 6) -> Any:
    """Where the weak model was wrong, how often the student fixed the error and how often it imitated it, along
    `attribute` (e.g. how often the world mentions an entity); dot size = examples in the bin."""
    data = rates_data(examples, attribute, n_bins)
    if data.empty:
        return empty_figure(f"no examples with a numeric '{attribute}' and both weak and student predictions")
    label = [f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}" for lo, hi in zip(data["low"], data["high"])]
    fig = _fig(f"Weak errors the student fixed / imitated, by {attribute}", yaxis=dict(title="share of weak errors",
               range=[0, 1.02]), xaxis=dict(title=attribute, type="category"))
    size = 6 + 14 * np.sqrt(data["weak_wrong"] / max(1, int(data["weak_wrong"].max())))
    for col, name, color in (("fix_rate", "fixed", "#009E73"), ("imitate_rate", "imitated", "#D55E00")):
        fig.add_scatter(x=label, y=data[col], mode="lines+markers", name=name, line=dict(color=color, width=2),
                        marker=dict(size=size), customdata=data[["weak_wrong", "n"]],
                        hovertemplate=f"{name} %{{y:.2f}} of %{{customdata[0]}} weak errors "
                                      "(%{customdata[1]} examples)<extra>%{x}</extra>")
    return fig
