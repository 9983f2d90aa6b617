"""Runs grouped for statistics across seeds: one setup per config (seed aside), methods paired on the same seeds.

    df = store.seed_values("pgr")                   # finished runs: config and one metric
    seed_table(df)                                  # per setup: n, mean and median with intervals (engine.metrics)
    compare_table(df, "naive", "aux_conf")          # per pair of setups that differ only in the method: b - a

A *setup* is everything of a run's config but its seed and name, so runs of one setup differ only by seed and the
statistics never pool tasks, models, settings or methods. Two setups are *paired* when their configs differ only
in the method and its settings: the same task, models, data split and training, so seed s of one and seed s of the
other saw the same halves A and B and the same test set. Where one setup has several finished runs of a seed, the
newest counts. Pure pandas over engine.metrics: the engine's endpoints, `w2s show` and `w2s compare` use it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

from engine.metrics import paired_comparison, seed_summary

NOT_SETUP = ("seed", "name")
NOT_PAIRING = NOT_SETUP + ("method", "method_config")


def _key(config: dict[str, Any], drop: tuple[str, ...]) -> str:
    kept = {k: v for k, v in (config or {}).items() if k not in drop}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _latest(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (setup, seed): the newest run (`df` is oldest first, as AnalysisQueries.seed_values returns)."""
    df = df.assign(setup=[_key(c, NOT_SETUP) for c in df["config"]],
                   pairing=[_key(c, NOT_PAIRING) for c in df["config"]])
    return df.drop_duplicates(["setup", "seed"], keep="last")


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value


SEED_COLUMNS = ["task", "weak", "strong", "method", "setup", "runs", "seeds", "n", "n_undefined", "mean", "mean_ci_low",
                "mean_ci_high", "median", "median_ci_low", "median_ci_high", "median_ci_coverage", "sd"]


def seed_table(df: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per setup: its runs and seeds (comma-separated) and `engine.metrics.seed_summary` of the metric's values."""
    if df.empty:
        return pd.DataFrame(columns=SEED_COLUMNS)
    rows = []
    for setup, part in _latest(df).groupby("setup", sort=False):
        first = part.iloc[0]
        rows.append({"task": first["task"], "weak": first["weak"], "strong": first["strong"], "method": first["method"],
                     "setup": setup, "runs": ",".join(part["id"]), "seeds": ",".join(str(s) for s in part["seed"]),
                     **seed_summary([_clean(v) for v in part["value"]], alpha)})
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


COMPARE_COLUMNS = ["task", "weak", "strong", "a", "b", "setup_a", "setup_b", "seeds", "a_mean", "b_mean", "n_pairs",
                   "n_unpaired", "mean_diff", "diff_ci_low", "diff_ci_high", "median_diff", "wins", "losses", "ties",
                   "sign_p"]


def compare_table(df: pd.DataFrame, a: str, b: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Method `b` (every other method when None) against method `a`, one row per pair of setups that differ only in
    the method: `engine.metrics.paired_comparison` of b - a over their common seeds, with each side's mean there."""
    if df.empty:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    runs = _latest(df)
    rows = []
    for _, group in runs.groupby("pairing", sort=False):
        ours = group[group["method"] == a]
        theirs = group[(group["method"] != a) if b is None else (group["method"] == b)]
        for setup_a, part_a in ours.groupby("setup", sort=False):
            for setup_b, part_b in theirs.groupby("setup", sort=False):
                va = {int(s): _clean(v) for s, v in zip(part_a["seed"], part_a["value"])}
                vb = {int(s): _clean(v) for s, v in zip(part_b["seed"], part_b["value"])}
                stats = paired_comparison(va, vb, alpha)
                both = sorted(s for s in set(va) & set(vb) if va[s] is not None and vb[s] is not None)
                first = part_a.iloc[0]
                rows.append({"task": first["task"], "weak": first["weak"], "strong": first["strong"], "a": a,
                             "b": part_b.iloc[0]["method"], "setup_a": setup_a, "setup_b": setup_b,
                             "seeds": ",".join(map(str, both)),
                             "a_mean": sum(va[s] for s in both) / len(both) if both else None,
                             "b_mean": sum(vb[s] for s in both) / len(both) if both else None, **stats})
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)
