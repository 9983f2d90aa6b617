"""Named reads behind the training-dynamics views and the statistics across seeds: a mixin of the Store.

    store.dynamics_lookup(key)                     # a finished stage's evaluation points (the worker's cache read)
    store.dynamics_summary(run_id)                 # per role, split and checkpoint: accuracy split by weak right /
                                                   # wrong, agreement with the weak labels
    store.trajectory(run_id, example_id)           # one example's p(1) over the steps, every role that tracked it
    store.cartography(run_id, split="test")        # per example: mean confidence and variability over training
    store.seed_values("pgr")                       # finished runs with their config and one metric (statistics)

The dynamics table holds p(1) per (stage, split, checkpoint, example); the weak model's own labels come from its
stored predictions (split B labels the student's training rows and the held-out slice `val`), gold from the
examples table.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from engine.api import MAP_AMBIGUOUS, MAP_EASY, QUADRANTS

# Swayamdipta et al. 2020's regions of a data map, as SQL on (confidence, variability); engine.dynamics has the same.
REGION_SQL = (f"CASE WHEN variability >= {MAP_AMBIGUOUS} THEN 'ambiguous' WHEN confidence >= {MAP_EASY} THEN 'easy' "
              "ELSE 'hard' END")
QUADRANT_CASE = "CASE " + " ".join(
    f"WHEN weak_correct = {str(q.weak_right).lower()} AND correct = {str(q.student_right).lower()} THEN '{k}'"
    for k, q in QUADRANTS.items()) + " END"
# The weak model's labels of a split: the held-out slice of B is labelled with the rest of B.
WEAK_SPLIT = "CASE WHEN d.split = 'val' THEN 'B' ELSE d.split END"


class AnalysisQueries:
    _df: Any
    _rows: Any

    # ------------------------------------------------------------------ the worker's cache read
    def dynamics_lookup(self, key: str) -> dict[str, list] | None:
        """A finished stage's evaluation points as columns (checkpoint, step, epoch, split, id, prob) in the order
        they were written, or None when the stage is absent or unfinished."""
        if not self._rows("SELECT 1 FROM stages WHERE key = ? AND status = 'done'", [key]):
            return None
        df = self._df("SELECT checkpoint, step, epoch, split, example_id AS id, prob FROM dynamics WHERE stage_key = ? "
                      "ORDER BY checkpoint, split, position", [key])
        return {c: df[c].tolist() for c in df.columns}

    # ------------------------------------------------------------------ the studio's views
    def _dynamics_cte(self) -> str:
        """Every role's evaluation points of run ? with gold and the weak model's label and correctness."""
        return f"""
            WITH rs AS (SELECT role, stage_key FROM run_stages WHERE run_id = ?),
            run AS (SELECT task_version FROM runs WHERE id = ?),
            wk AS (SELECT p.split, p.example_id, p.prob >= 0.5 AS weak_label, p.correct AS weak_correct
                   FROM predictions p JOIN rs ON rs.stage_key = p.stage_key AND rs.role = 'weak'),
            pts AS (
                SELECT rs.role, d.split, d.checkpoint, d.step, d.epoch, d.example_id, d.prob, e.gold,
                       (d.prob >= 0.5) = (e.gold = 1) AS correct, wk.weak_label, wk.weak_correct
                FROM dynamics d JOIN rs ON rs.stage_key = d.stage_key
                JOIN examples e ON e.task_version = (SELECT task_version FROM run) AND e.example_id = d.example_id
                LEFT JOIN wk ON wk.split = {WEAK_SPLIT} AND wk.example_id = d.example_id)
        """

    def dynamics_summary(self, run_id: str) -> pd.DataFrame:
        """Per role, split and checkpoint: step, epoch, examples, accuracy, accuracy where the weak label is right
        and where it is wrong (with their counts), and agreement with the weak labels (the student's first
        generalising, then fitting its supervisor's errors: Burns et al.)."""
        return self._df(f"""{self._dynamics_cte()}
            SELECT role, split, checkpoint, any_value(step) AS step, any_value(epoch) AS epoch, count(*) AS n,
                   avg(correct::INTEGER) AS accuracy,
                   avg(correct::INTEGER) FILTER (WHERE weak_correct) AS acc_weak_right,
                   avg(correct::INTEGER) FILTER (WHERE NOT weak_correct) AS acc_weak_wrong,
                   count(*) FILTER (WHERE NOT weak_correct) AS n_weak_wrong,
                   avg(((prob >= 0.5) = weak_label)::INTEGER) AS agreement
            FROM pts GROUP BY role, split, checkpoint ORDER BY role, split, checkpoint""", [run_id, run_id])

    def trajectory(self, run_id: str, example_id: str) -> pd.DataFrame:
        """One example's p(1) and p(gold) at every evaluation point of every role that tracked it."""
        return self._df(f"""{self._dynamics_cte()}
            SELECT role, split, checkpoint, step, epoch, prob,
                   CASE WHEN gold = 1 THEN prob ELSE 1 - prob END AS p_gold, gold, weak_label
            FROM pts WHERE example_id = ? ORDER BY role, split, checkpoint""", [run_id, run_id, example_id])

    def cartography(self, run_id: str, split: str = "test", role: str = "student", label: str = "gold"
                    ) -> pd.DataFrame:
        """Per example of `split` that `role` tracked: the mean over checkpoints of p(label) (confidence), its
        standard deviation (variability), the data-map region, and the final correctness and weak-vs-student
        quadrant. `label`: gold, or weak (the weak model's hard label: what the student was taught on B)."""
        if label not in ("gold", "weak"):
            raise ValueError(f"label '{label}' is not one of gold, weak")
        target = "gold = 1" if label == "gold" else "weak_label"
        splits = ("B", "val") if split == "B" else (split,)
        marks = ", ".join("?" for _ in splits)
        return self._df(f"""{self._dynamics_cte()},
            per AS (
                SELECT example_id, any_value(split) AS split, count(*) AS points,
                       avg(CASE WHEN {target} THEN prob ELSE 1 - prob END) AS confidence,
                       coalesce(stddev_pop(CASE WHEN {target} THEN prob ELSE 1 - prob END), 0) AS variability,
                       arg_max(prob, checkpoint) AS final_prob, arg_max(correct, checkpoint) AS correct,
                       any_value(weak_correct) AS weak_correct, any_value(gold) AS gold
                FROM pts WHERE role = ? AND split IN ({marks}) AND ({target}) IS NOT NULL GROUP BY example_id)
            SELECT *, {REGION_SQL} AS region, {QUADRANT_CASE} AS quadrant FROM per ORDER BY example_id""",
                        [run_id, run_id, role, *splits])

    # ------------------------------------------------------------------ statistics across seeds
    def seed_values(self, metric: str, task: str | None = None, visible_to: str | None = None) -> pd.DataFrame:
        """Finished runs with their config (JSON text) and the run-level value of `metric` (NaN when the run has
        none or it is undefined), oldest first; `visible_to`: that owner's runs and the public ones."""
        where, params = ["r.status = 'done'"], [metric]
        if task:
            where.append("r.task = ?")
            params.append(task)
        if visible_to is not None:
            where.append("(r.owner = ? OR r.public)")
            params.append(visible_to)
        df = self._df(f"""
            SELECT r.id, r.task, r.weak, r.strong, r.method, r.seed, r.sweep, r.created, r.config,
                   max(m.value) AS value
            FROM runs r LEFT JOIN metrics m ON m.run_id = r.id AND m.stage_key IS NULL AND m.name = ?
            WHERE {' AND '.join(where)} GROUP BY ALL ORDER BY r.created""", params)
        df["config"] = [json.loads(c) if isinstance(c, str) else {} for c in df["config"]]
        return df
