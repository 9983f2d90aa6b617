"""A stage's training dynamics in memory: recorded while it trains, or read back from the cache.

    recorder = Recorder(ctx, key, {"B": train_ids, "test": test_ids})   # on_checkpoint of fit_and_predict
    traj = recorder.trajectory()                                       # or Trajectory.from_rows(ctx.dynamics_lookup(key))
    traj.probs("test", ids)                                            # checkpoints x len(ids), joined by example id

Each evaluation point is sent to the run context as it is taken (`stage_dynamics` events: the store writes them as
training goes, and drops them if the stage does not finish), so a cached stage returns exactly the points a fresh
one recorded, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Trajectory:
    """p(1) per split at each evaluation point: `splits[split] = (ids, probs)` with probs checkpoints x ids."""

    steps: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    splits: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    def probs(self, split: str, ids: list[str]) -> np.ndarray:
        """p(1) of each example in `ids` (columns, in that order) at every checkpoint (rows): a join by id."""
        if split not in self.splits:
            raise KeyError(f"no training dynamics on split '{split}' (tracked: {', '.join(self.splits) or 'none'})")
        own, probs = self.splits[split]
        index = {i: k for k, i in enumerate(own)}
        missing = [i for i in ids if i not in index]
        if missing:
            raise KeyError(f"{len(missing)} of {len(ids)} examples have no training dynamics (e.g. {missing[0]!r})")
        return probs[:, [index[i] for i in ids]]

    @classmethod
    def from_rows(cls, cols: dict[str, list] | None) -> Trajectory:
        """From the columns the store returns (checkpoint, step, epoch, split, id, prob; written order)."""
        if not cols or not cols.get("id"):
            return cls()
        steps: dict[int, tuple[int, float]] = {}
        per: dict[str, dict[int, tuple[list[str], list[float]]]] = {}
        for c, step, epoch, split, i, p in zip(cols["checkpoint"], cols["step"], cols["epoch"], cols["split"],
                                               cols["id"], cols["prob"]):
            steps.setdefault(int(c), (int(step), float(epoch)))
            ids, probs = per.setdefault(str(split), {}).setdefault(int(c), ([], []))
            ids.append(i)
            probs.append(np.nan if p is None else float(p))
        order = sorted(steps)
        out = cls([steps[c][0] for c in order], [steps[c][1] for c in order])
        for split, by_point in per.items():
            ids = by_point[order[0]][0]
            rows = []
            for c in order:
                point_ids, probs = by_point.get(c, ([], []))
                lookup = dict(zip(point_ids, probs))
                rows.append([lookup.get(i, np.nan) for i in ids])
            out.splits[split] = (list(ids), np.asarray(rows, dtype=np.float64))
        return out


class Recorder:
    """`on_checkpoint` for engine.ml.classifier.fit_and_predict: sends each point to the context and keeps it."""

    def __init__(self, ctx: Any, key: str, ids: dict[str, list[str]]):
        self.ctx, self.key, self.ids = ctx, key, ids
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.points: dict[str, list[np.ndarray]] = {s: [] for s in ids}

    def __call__(self, step: int, epoch: float, probs: dict[str, np.ndarray]) -> None:
        self.ctx.stage_dynamics(self.key, len(self.steps), int(step), float(epoch),
                                {s: {"id": self.ids[s], "prob": np.asarray(probs[s], dtype=float).tolist()}
                                 for s in self.ids})
        self.steps.append(int(step))
        self.epochs.append(float(epoch))
        for s in self.ids:
            self.points[s].append(np.asarray(probs[s], dtype=np.float64))

    def trajectory(self) -> Trajectory:
        return Trajectory(list(self.steps), list(self.epochs),
                          {s: (list(self.ids[s]), np.vstack(p)) for s, p in self.points.items() if p})
