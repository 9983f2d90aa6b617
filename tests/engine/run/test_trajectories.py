"""engine.run.trajectories: what a Recorder sends and keeps, and that the store's columns read back the same."""

from __future__ import annotations

import numpy as np
import pytest

from engine.run.trajectories import Recorder, Trajectory


class Events:
    """A run context that keeps the events it is sent (the Recorder's only use of a context)."""

    def __init__(self):
        self.sent = []

    def stage_dynamics(self, key, checkpoint, step, epoch, predictions):
        self.sent.append((key, checkpoint, step, epoch, predictions))


def test_a_recorder_sends_each_point_numbered_and_keeps_them():
    ctx = Events()
    rec = Recorder(ctx, "k1", {"test": ["a", "b"], "B": ["c"]})
    rec(5, 1.0, {"test": np.array([0.1, 0.9]), "B": np.array([0.5])})
    rec(10, 2.0, {"test": np.array([0.2, 0.8]), "B": np.array([0.6])})
    assert [(c, s, e) for _, c, s, e, _ in ctx.sent] == [(0, 5, 1.0), (1, 10, 2.0)]
    assert ctx.sent[1][4]["test"] == {"id": ["a", "b"], "prob": [0.2, 0.8]}
    traj = rec.trajectory()
    assert traj.steps == [5, 10] and traj.epochs == [1.0, 2.0]
    assert traj.probs("test", ["b", "a"]).tolist() == [[0.9, 0.1], [0.8, 0.2]]  # joined by id, in the asked order


def test_rows_read_back_into_the_same_trajectory():
    cols = {"checkpoint": [], "step": [], "epoch": [], "split": [], "id": [], "prob": []}
    for c, (step, probs) in enumerate([(4, [0.3, 0.4]), (8, [0.7, None])]):
        for i, p in zip(["x", "y"], probs):
            for name, value in zip(cols, [c, step, c + 1.0, "test", i, p]):
                cols[name].append(value)
    traj = Trajectory.from_rows(cols)
    assert traj.steps == [4, 8] and traj.epochs == [1.0, 2.0]
    got = traj.probs("test", ["x", "y"])
    assert got[0].tolist() == [0.3, 0.4] and got[1, 0] == 0.7 and np.isnan(got[1, 1])
    assert Trajectory.from_rows(None).steps == []
    with pytest.raises(KeyError, match="no training dynamics on split 'B'"):
        traj.probs("B", ["x"])
    with pytest.raises(KeyError, match="1 of 2 examples"):
        traj.probs("test", ["x", "z"])
