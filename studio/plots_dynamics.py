"""Figures of training dynamics: accuracy over training split by the weak label, one example's trajectory, and
the data map (cartography) of a run's examples. Each takes the engine's table as a DataFrame (engine.client
dynamics / trajectory / cartography) and returns a Plotly figure; `*_data` return what the figure draws.

    dynamics_figure(source.dynamics(run_id))            # Burns et al.: generalise first, then fit the errors
    trajectory_figure(source.trajectory(run_id, ex))    # p(gold) over steps, student and ceiling
    cartography_figure(source.cartography(run_id))      # mean confidence vs variability, by final quadrant
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

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


def cartography_figure(cart: pd.DataFrame, title: str = "Data map (mean confidence vs variability)") -> go.Figure:
    """Swayamdipta et al.'s map: per example the mean p(label) over training against its standard deviation,
    coloured by the weak-vs-student quadrant at the end of training."""
    if cart is None or cart.empty:
        return empty_figure("no training dynamics stored for this run")
    fig = _fig(title, xaxis_title="variability (sd of p(label) over training)",
               yaxis_title="confidence (mean p(label))", yaxis=dict(range=[0, 1.02]))
    for key, (label, _, _, color) in QUADRANTS.items():
        part = cart[cart["quadrant"] == key]
        if part.empty:
            continue
        fig.add_trace(go.Scattergl(x=part["variability"], y=part["confidence"], mode="markers", name=label,
                                   marker=dict(color=color, size=6, opacity=0.75), customdata=part["example_id"],
                                   hovertemplate="%{customdata}<br>confidence %{y:.3f}, variability %{x:.3f}"
                                                 "<extra>" + label + "</extra>"))
    return fig
