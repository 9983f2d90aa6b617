"""studio.plots_dynamics: the figures draw the engine's tables as they are (values checked trace by trace)."""

from __future__ import annotations

import pandas as pd

from studio.plots_dynamics import cartography_figure, dynamics_data, dynamics_figure, trajectory_figure

DYN = pd.DataFrame({"role": ["student"] * 3 + ["weak"], "split": ["test"] * 4, "checkpoint": [2, 0, 1, 0],
                    "step": [30, 10, 20, 10], "epoch": [3.0, 1.0, 2.0, 1.0], "n": [10] * 4,
                    "accuracy": [0.8, 0.6, 0.9, 0.7], "acc_weak_right": [0.9, 0.7, 1.0, 1.0],
                    "acc_weak_wrong": [0.5, 0.3, 0.6, 0.0], "n_weak_wrong": [3] * 4,
                    "agreement": [0.8, 0.6, 0.7, 1.0]})


def test_the_dynamics_figure_draws_the_students_points_in_order():
    data = dynamics_data(DYN)
    assert data["epoch"].tolist() == [1.0, 2.0, 3.0] and data["acc_weak_wrong"].tolist() == [0.3, 0.6, 0.5]
    fig = dynamics_figure(DYN)
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["accuracy where the weak label is wrong"] == [0.3, 0.6, 0.5]
    assert by_name["agreement with the weak labels"] == [0.6, 0.7, 0.8]
    assert "no training dynamics" in dynamics_figure(DYN.iloc[:0]).layout.annotations[0].text


def test_trajectory_and_data_map():
    traj = pd.DataFrame({"role": ["student", "student", "ceiling"], "split": ["test"] * 3, "checkpoint": [1, 0, 0],
                         "epoch": [2.0, 1.0, 1.0], "p_gold": [0.9, 0.4, 0.7]})
    fig = trajectory_figure(traj, "e1")
    assert {t.name: list(t.y) for t in fig.data} == {"ceiling (test)": [0.7], "student (test)": [0.4, 0.9]}
    cart = pd.DataFrame({"example_id": ["a", "b", "c"], "confidence": [0.9, 0.2, 0.5],
                         "variability": [0.05, 0.1, 0.3], "quadrant": ["both_right", "student_imitated",
                                                                       "both_right"]})
    fig = cartography_figure(cart)
    points = {t.name: list(t.customdata) for t in fig.data}
    assert sorted(sum(points.values(), [])) == ["a", "b", "c"] and len(points) == 2
