"""Figures of the studio: pure DataFrame -> plotly Figure functions, testable without a server.

    fig = accuracy_ladder(runs)             # one row per run: weak_acc, student_acc, ceiling_acc, pgr, ...
    fig = pgr_vs_size(runs)                 # Burns et al.'s grid: a panel per task, a line per method and weak model
    fig = methods_compared(runs)            # a panel per task: per-seed dots + median per method
    fig = training_curves(curves)           # role, name, step, value
    fig = reliability(examples)             # per-example {role}_prob and gold
    fig = quadrants(counts)                 # the 2x2 of weak right/wrong x student right/wrong

Every figure has a `*_data` twin that returns the table drawn, which the studio offers as CSV.
PNG export is plotly's own modebar camera button (kaleido is not installed, so no server-side PNG).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine import api

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
ROLE_COLORS = {"weak": "#E69F00", "student": "#0072B2", "ceiling": "#009E73", "rejected": "#F0C060",
               "base": "#9AA0A6", "stage1": "#56B4E9", "sft": "#CC79A7", "student_noconflict": "#7FB2D9",
               "zeroshot": "#BBBBBB", "fewshot_gold": "#44AA99", "probe_gold": "#117733"}
ROLE_LABELS = {"weak": "weak supervisor", "student": "strong student", "ceiling": "strong ceiling",
               "rejected": "rejected-side model", "base": "student before training", "stage1": "Stage I model",
               "sft": "SFT on chosen", "student_noconflict": "student without conflict",
               "zeroshot": "strong zero-shot", "fewshot_gold": "strong few-shot, gold demos",
               "probe_gold": "probe on gold labels"}
# The ladder's rungs, bottom to top; the middle ones appear when a method reports them (<role>_acc).
LADDER_ROLES = ("weak", "rejected", "base", "zeroshot", "sft", "stage1", "student_noconflict", "student",
                "fewshot_gold", "probe_gold", "ceiling")
QUADRANT_COLORS = {"student_fixed": "#009E73", "student_imitated": "#D55E00", "student_broke": "#CC79A7",
                   "both_right": "#8C8C8C"}
# key: (label, weak right, student right, colour); the definitions are engine.api's, the colours are ours.
QUADRANTS = {k: (q.label, q.weak_right, q.student_right, QUADRANT_COLORS[k]) for k, q in api.QUADRANTS.items()}
MUTED = "#9AA0A6"
SERIES = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
BASE_LAYOUT = dict(
    template="plotly_white", margin=dict(l=56, r=24, t=56, b=48), height=380,
    font=dict(family="Inter, system-ui, -apple-system, Segoe UI, sans-serif", size=13),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    uirevision="keep",  # a figure refreshed by a timer keeps the user's zoom
)


def _fig(title: str, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(**{**BASE_LAYOUT, **layout}, title=dict(text=title, x=0, xanchor="left", font=dict(size=15)))
    return fig


def empty_figure(message: str = "no data yet") -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = _fig("", height=260)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color=MUTED))
    return fig


def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)


# ---------------------------------------------------------------------------------------------- headline
def pgr_warning(weak_acc: float | None, ceiling_acc: float | None, pgr_reason: str | None = None,
                chance: float = 0.5, min_gap: float = 0.1, near_chance: float = 0.05) -> str | None:
    """Why a PGR should not be trusted (None when it can be): undefined, a small gap, or a weak model at chance."""
    if pgr_reason:
        return str(pgr_reason)
    if not (_finite(weak_acc) and _finite(ceiling_acc)):
        return "no PGR yet"
    gap = float(ceiling_acc) - float(weak_acc)
    if gap < min_gap:
        return f"ceiling beats weak by only {gap:.3f} (< {min_gap}): PGR is mostly noise"
    if abs(float(weak_acc) - chance) < near_chance:
        return f"weak model is near chance ({float(weak_acc):.3f}): PGR measures little"
    return None


def fmt_pgr(pgr: float | None, low: float | None = None, high: float | None = None) -> str:
    if not _finite(pgr):
        return "–"
    text = f"{float(pgr):.2f}"
    if _finite(low) and _finite(high):
        text += f" [{float(low):.2f}, {float(high):.2f}]"
    return text


# ---------------------------------------------------------------------------------------------- accuracy ladder
LADDER_COLUMNS = ["run", "seed", "role", "accuracy"]


def ladder_data(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (run, role) with the role's test accuracy."""
    rows = []
    for i, r in enumerate(runs.to_dict("records")):
        for role in LADDER_ROLES:
            value = r.get(f"{role}_acc")
            if _finite(value):
                rows.append({"run": r.get("id", i), "seed": r.get("seed"), "role": role, "accuracy": float(value)})
    return pd.DataFrame(rows, columns=LADDER_COLUMNS)


def accuracy_ladder(runs: pd.DataFrame, title: str = "Accuracy ladder") -> go.Figure:
    """Bars at the mean test accuracy of weak / student / ceiling (dots per run when several), PGR above.

    `runs`: one row per run with weak_acc, student_acc, ceiling_acc and optionally pgr, pgr_ci_low,
    pgr_ci_high, pgr_reason. Several rows (seeds of one setup) show their spread as dots and the median PGR.
    """
    data = ladder_data(runs)
    if data.empty:
        return empty_figure("no finished run selected")
    fig = _fig(title, showlegend=False, yaxis=dict(title="test accuracy", rangemode="tozero"),
               margin=dict(l=56, r=24, t=84, b=48))
    means = data.groupby("role", sort=False)["accuracy"].mean()
    roles = [r for r in LADDER_ROLES if r in means.index]
    fig.add_bar(x=[ROLE_LABELS[r] for r in roles], y=[means[r] for r in roles],
                marker_color=[ROLE_COLORS[r] for r in roles], text=[f"{means[r]:.3f}" for r in roles],
                textposition="inside", insidetextanchor="end", textfont=dict(color="white"), name="mean",
                hovertemplate="%{x}: %{y:.4f}<extra></extra>")
    if data["run"].nunique() > 1:
        fig.add_scatter(x=data["role"].map(ROLE_LABELS), y=data["accuracy"], mode="markers", name="runs",
                        marker=dict(color="rgba(0,0,0,0.55)", size=7), customdata=data[["run", "seed"]],
                        hovertemplate="run %{customdata[0]} seed %{customdata[1]}: %{y:.4f}<extra></extra>")
    lo = max(0.0, float(data["accuracy"].min()) - 0.1)
    fig.update_yaxes(range=[math.floor(lo * 20) / 20, min(1.0, float(data["accuracy"].max()) + 0.05)])
    fig.add_annotation(**_pgr_label(runs), xref="paper", yref="paper", x=0, y=1.13, xanchor="left",
                       showarrow=False)
    return fig


def _pgr_label(runs: pd.DataFrame) -> dict:
    """Annotation text/colour for the PGR of one run, or the median over several."""
    recs = runs.to_dict("records")
    pgrs = [float(r["pgr"]) for r in recs if _finite(r.get("pgr"))]
    if len(recs) == 1:
        r = recs[0]
        text = f"PGR {fmt_pgr(r.get('pgr'), r.get('pgr_ci_low'), r.get('pgr_ci_high'))}"
        warning = pgr_warning(r.get("weak_acc"), r.get("ceiling_acc"), r.get("pgr_reason"))
    else:
        text = f"median PGR {fmt_pgr(float(np.median(pgrs)) if pgrs else None)} over {len(pgrs)} of {len(recs)} runs"
        weak = np.nanmean([r.get("weak_acc", np.nan) for r in recs])
        ceiling = np.nanmean([r.get("ceiling_acc", np.nan) for r in recs])
        warning = pgr_warning(weak, ceiling)
    if warning:
        return {"text": f"{text}  ·  {warning}", "font": dict(size=14, color=MUTED)}
    return {"text": f"<b>{text}</b>", "font": dict(size=16, color="#1f2937")}


# ---------------------------------------------------------------------------------------------- across runs
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]


def _by_task(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with a task column (a frame without one is a single task)."""
    return runs if "task" in runs else runs.assign(task="")


def _panels(title: str, tasks: list[str], **layout) -> go.Figure:
    """One panel per task side by side, sharing the y axis, as Burns et al.'s figures draw one per dataset."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(tasks), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[t or " " for t in tasks] if len(tasks) > 1 or tasks[0] else None)
    fig.update_layout(**{**BASE_LAYOUT, **layout}, title=dict(text=title, x=0, xanchor="left", font=dict(size=15)))
    return fig


def known_sizes(runs: pd.DataFrame, sizes: dict[str, float] | None = None) -> dict[str, float]:
    """Model -> parameter count: `sizes` (the registry's), completed by what the runs measured themselves
    (their weak_params / strong_params metrics), so local folders in a grid get a size axis too."""
    out = dict(sizes or {})
    for role in ("weak", "strong"):
        if f"{role}_params" in runs and role in runs:
            for name, count in zip(runs[role], runs[f"{role}_params"]):
                if name not in out and _finite(count):
                    out[name] = float(count)
    return out


def pgr_vs_size_data(runs: pd.DataFrame, sizes: dict[str, float] | None = None) -> pd.DataFrame:
    """Per (task, method, weak, strong): median PGR over runs, the number of runs and the strong model's size
    (params). Tasks and methods are never pooled: each is its own panel and series."""
    cols = ["task", "method", "weak", "strong", "strong_params", "median_pgr", "n_runs"]
    df = _by_task(runs)
    df = df[df["pgr"].notna()] if "pgr" in df else df.iloc[0:0]
    if df.empty:
        return pd.DataFrame(columns=cols)
    sizes = known_sizes(df, sizes)
    out = (df.groupby(["task", "method", "weak", "strong"], sort=False)["pgr"].agg(["median", "count"]).reset_index()
           .rename(columns={"median": "median_pgr", "count": "n_runs"}))
    out["strong_params"] = [sizes.get(s, np.nan) for s in out["strong"]]
    out["_weak_params"] = [sizes.get(w, np.nan) for w in out["weak"]]
    out = out.sort_values(["task", "method", "_weak_params", "weak", "strong_params", "strong"], na_position="last")
    return out[cols].reset_index(drop=True)


def pgr_vs_size(runs: pd.DataFrame, sizes: dict[str, float] | None = None,
                title: str = "PGR against strong model size") -> go.Figure:
    """Burns et al.'s grid: one panel per task, one line per method (colour) and weak model (dash), x = the
    strong student's parameter count (log axis) when `sizes` knows every strong model, else the strong model
    names in size order; dots = single runs."""
    sizes = known_sizes(runs, sizes)
    data = pgr_vs_size_data(runs, sizes)
    if data.empty:
        return empty_figure("no run with a defined PGR yet")
    numeric = data["strong_params"].notna().all()
    tasks = list(dict.fromkeys(data["task"]))
    methods = list(dict.fromkeys(data["method"]))
    weaks = list(dict.fromkeys(data.sort_values("weak", key=lambda w: w.map(sizes or {}))["weak"]))
    fig = _panels(title, tasks)
    fig.update_yaxes(title_text="PGR", zeroline=True, zerolinecolor="#cbd5e1", col=1)
    fig.update_xaxes(title_text="strong model parameters" if numeric else "strong model",
                     type="log" if numeric else "category")
    df = _by_task(runs)
    df = df[df["pgr"].notna()]
    shown: set[str] = set()
    for col, task in enumerate(tasks, start=1):
        for (method, weak), part in data[data["task"] == task].groupby(["method", "weak"], sort=False):
            color = SERIES[methods.index(method) % len(SERIES)]
            name = f"{method} · weak {weak}"
            x = part["strong_params"] if numeric else part["strong"]
            fig.add_scatter(x=x, y=part["median_pgr"], mode="lines+markers", name=name, legendgroup=name,
                            showlegend=name not in shown, row=1, col=col,
                            line=dict(color=color, width=2, dash=DASHES[weaks.index(weak) % len(DASHES)]),
                            marker=dict(size=9), customdata=part[["strong", "n_runs"]],
                            hovertemplate="strong %{customdata[0]}<br>median PGR %{y:.3f} (%{customdata[1]} runs)"
                                          f"<extra>{task} · {name}</extra>")
            shown.add(name)
            single = df[(df["task"] == task) & (df["method"] == method) & (df["weak"] == weak)]
            sx = single["strong"].map(sizes or {}) if numeric else single["strong"]
            fig.add_scatter(x=sx, y=single["pgr"], mode="markers", showlegend=False, legendgroup=name, row=1, col=col,
                            marker=dict(color=color, size=6, opacity=0.35), hoverinfo="skip")
    fig.add_hline(y=1.0, line=dict(color="#cbd5e1", dash="dot"), row="all", col="all")
    return fig


def methods_data(runs: pd.DataFrame, metric: str = "pgr") -> pd.DataFrame:
    """One row per run with its task, method, seed and `metric`, plus the median of its (task, method)."""
    cols = ["task", "method", "seed", "run", metric, "median"]
    if metric not in runs or runs.empty:
        return pd.DataFrame(columns=cols)
    df = _by_task(runs)
    df = df[df[metric].notna()].copy()
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["run"] = df["id"] if "id" in df else range(len(df))
    df["median"] = df.groupby(["task", "method"])[metric].transform("median")
    return df[cols].sort_values(["task", "method", "seed"]).reset_index(drop=True)


def methods_compared(runs: pd.DataFrame, metric: str = "pgr", title: str | None = None) -> go.Figure:
    """Methods side by side, one panel per task: a dot per seed and a bar at the median (the paper reports
    medians over seeds), each method in its own colour."""
    data = methods_data(runs, metric)
    if data.empty:
        return empty_figure(f"no finished run with {metric} yet")
    tasks = list(dict.fromkeys(data["task"]))
    methods = list(dict.fromkeys(data["method"]))
    colors = {m: SERIES[i % len(SERIES)] for i, m in enumerate(methods)}
    fig = _panels(title or f"Methods compared ({metric}, median over seeds)", tasks, showlegend=False)
    fig.update_yaxes(title_text=metric, col=1)
    for col, task in enumerate(tasks, start=1):
        part = data[data["task"] == task]
        here = list(dict.fromkeys(part["method"]))
        index = {m: i for i, m in enumerate(here)}
        fig.update_xaxes(tickvals=list(range(len(here))), ticktext=here, range=[-0.6, len(here) - 0.4], row=1, col=col)
        medians = part.groupby("method", sort=False)["median"].first()
        fig.add_bar(x=list(range(len(here))), y=[medians[m] for m in here], width=0.6, row=1, col=col,
                    marker_color=[_alpha(colors[m], 0.18) for m in here],
                    marker_line=dict(color=[colors[m] for m in here], width=1.5),
                    text=[f"median {medians[m]:.3f}" for m in here], textposition="outside", name="median",
                    customdata=here, hovertemplate="%{customdata}: median %{y:.4f}" f"<extra>{task}</extra>")
        # Deterministic spread so seeds of one method do not sit on top of each other.
        rank = part.groupby("method").cumcount()
        count = part.groupby("method")["seed"].transform("count")
        x = part["method"].map(index) + (rank - (count - 1) / 2) * (0.4 / count.clip(lower=2))
        fig.add_scatter(x=x, y=part[metric], mode="markers", name="seed", row=1, col=col,
                        marker=dict(color=[colors[m] for m in part["method"]], size=9,
                                    line=dict(color="white", width=1)),
                        customdata=np.c_[part["method"], part["seed"].astype(str), part["run"].astype(str)],
                        hovertemplate="%{customdata[0]} seed %{customdata[1]} (run %{customdata[2]}): %{y:.4f}"
                                      f"<extra>{task}</extra>")
    if metric == "pgr":
        fig.add_hline(y=0.0, line=dict(color="#cbd5e1"), row="all", col="all")
    return fig


def _alpha(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# ---------------------------------------------------------------------------------------------- calibration
def reliability_data(examples: pd.DataFrame, roles: tuple[str, ...] = ("weak", "student", "ceiling"),
                     n_bins: int = 10) -> pd.DataFrame:
    """Per role and confidence bin (lo, hi]: examples, mean confidence max(p, 1-p) and accuracy.

    The same binning as engine.metrics.ece, so sum(|accuracy - confidence| * n) / N is the run's ECE."""
    cols = ["role", "bin_low", "bin_high", "n", "confidence", "accuracy"]
    rows = []
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    for role in roles:
        col = f"{role}_prob"
        if col not in examples or "gold" not in examples:
            continue
        part = examples[[col, "gold"]].dropna()
        if part.empty:
            continue
        p, y = part[col].to_numpy(float), part["gold"].to_numpy(int)
        conf = np.maximum(p, 1 - p)
        correct = ((p >= 0.5) == y).astype(float)
        bins = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
        for b in np.unique(bins):
            mask = bins == b
            rows.append({"role": role, "bin_low": edges[b], "bin_high": edges[b + 1], "n": int(mask.sum()),
                         "confidence": float(conf[mask].mean()), "accuracy": float(correct[mask].mean())})
    return pd.DataFrame(rows, columns=cols)


def reliability(examples: pd.DataFrame, roles: tuple[str, ...] = ("weak", "student", "ceiling"), n_bins: int = 10,
                title: str = "Calibration (reliability diagram)") -> go.Figure:
    """Accuracy against mean confidence per bin, one line per role; marker area grows with the bin's size."""
    data = reliability_data(examples, roles, n_bins)
    if data.empty:
        return empty_figure("no per-example probabilities yet")
    fig = _fig(title, xaxis=dict(title="confidence max(p, 1 − p)", range=[0.45, 1.02]),
               yaxis=dict(title="accuracy", range=[0, 1.02]))
    fig.add_scatter(x=[0.5, 1.0], y=[0.5, 1.0], mode="lines", line=dict(color="#cbd5e1", dash="dash"),
                    name="perfect calibration", hoverinfo="skip")
    total = data.groupby("role")["n"].transform("sum")
    for role, part in data.groupby("role", sort=False):
        share = (part["n"] / total[part.index]).to_numpy()
        fig.add_scatter(x=part["confidence"], y=part["accuracy"], mode="lines+markers", name=role,
                        line=dict(color=ROLE_COLORS.get(role, MUTED), width=2),
                        marker=dict(size=6 + 18 * np.sqrt(share)), customdata=part[["n"]],
                        hovertemplate=f"{role}: conf %{{x:.3f}}, acc %{{y:.3f}} (n=%{{customdata[0]}})<extra></extra>")
    return fig


# ---------------------------------------------------------------------------------------------- quadrants
def quadrant_counts(examples: pd.DataFrame, student: str = "student") -> dict[str, int]:
    """Counts of the 2x2 (weak right?, student right?) from per-example correctness columns."""
    w, s = examples.get("weak_correct"), examples.get(f"{student}_correct")
    if w is None or s is None:
        return {k: 0 for k in QUADRANTS}
    w, s = w.fillna(False).astype(bool), s.fillna(False).astype(bool)
    return {key: int(((w == wr) & (s == sr)).sum()) for key, (_, wr, sr, _) in QUADRANTS.items()}


def quadrants_data(counts: dict[str, int]) -> pd.DataFrame:
    total = sum(counts.values()) or 1
    return pd.DataFrame([{"quadrant": k, "label": QUADRANTS[k][0], "weak_correct": QUADRANTS[k][1],
                          "student_correct": QUADRANTS[k][2], "count": int(counts.get(k, 0)),
                          "share": counts.get(k, 0) / total} for k in QUADRANTS])


def quadrants(counts: dict[str, int], title: str = "Where the student goes with the weak labels") -> go.Figure:
    """The 2x2 heatmap: rows weak right / wrong, columns student right / wrong, each cell its count and label."""
    data = quadrants_data(counts).set_index("quadrant")
    grid = [["both_right", "student_broke"], ["student_fixed", "student_imitated"]]
    z = [[data.loc[k, "share"] for k in row] for row in grid]
    text = [[f"<b>{data.loc[k, 'count']:,}</b><br>{data.loc[k, 'label']}<br>{data.loc[k, 'share']:.1%}" for k in row]
            for row in grid]
    fig = _fig(title, height=320, xaxis=dict(side="top", title=""), yaxis=dict(autorange="reversed"))
    fig.add_heatmap(z=z, x=["student right", "student wrong"], y=["weak right", "weak wrong"], text=text,
                    texttemplate="%{text}", colorscale=[[0, "#f8fafc"], [1, "#93c5fd"]], showscale=False,
                    hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>", xgap=3, ygap=3)
    fig.update_layout(margin=dict(l=90, r=16, t=80, b=16))
    return fig
