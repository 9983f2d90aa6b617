"""Runs grouped by setup: a run's resolved config flattened to settings, the settings that differ between runs,
one run per (setup, seed) for aggregates, and the diff of two configs. Pure functions over DataFrames and dicts.

    flat = flatten(run["config"])               # {"task": ..., "train.epochs": 10.0, "aux_conf.aux_coef": 0.5, ...}
    differing([flat_a, flat_b, ...])            # the settings whose values differ between those runs
    kept, repeats = one_per_seed(runs)          # the newest done run of each (config_key, seed): what medians count
    diff(config_a, config_b)                    # DataFrame: setting, this run, other run (only where they differ)
    setup_labels(runs)                          # config_key -> "naive · train.epochs=60" for across-run figures

A setup is the engine's `config_key`: the full resolved config minus the seed and the name. Runs of one setup
with different seeds are pooled; two runs of one setup and seed are duplicates and count once.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

NOT_SETUP = ("seed", "name")
SHOWN_ELSEWHERE = ("task", "weak", "strong", "method")  # columns of their own in every runs table
SECTIONS = {"train": "train", "task_config": None, "method_config": None}  # None: prefixed by the task/method name


def flatten(config: dict[str, Any] | None) -> dict[str, Any]:
    """A RunSpec dict as one level of settings: train.*, <task>.* for the task's settings, <method>.* for the
    method's, and the top-level keys as they are."""
    config = config or {}
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECTIONS and isinstance(value, dict):
            prefix = SECTIONS[key] or str(config.get("task" if key == "task_config" else "method") or key)
            out.update({f"{prefix}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _same(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def differing(flats: list[dict[str, Any]], skip: tuple[str, ...] = NOT_SETUP + SHOWN_ELSEWHERE) -> list[str]:
    """Settings with more than one value among the runs that have them (a method's own settings are compared
    between runs of that method only: another method lacking them is no difference), train.* first, then the
    task's and method's, then the rest, each group in name order."""
    if len(flats) < 2:
        return []
    keys = sorted({k for f in flats for k in f} - set(skip))
    out = [k for k in keys if len({_same(f[k]) for f in flats if k in f}) > 1]
    return sorted(out, key=lambda k: (not k.startswith("train."), "." not in k, k))


def show(value: Any) -> Any:
    """A setting as a table cell: numbers and text as they are, lists and mappings as compact JSON."""
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return value


def one_per_seed(runs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The newest finished run of each (config_key, seed), and how many repeats were left out. Runs without a
    config_key (an engine that does not send one) are kept as they are."""
    if runs.empty or "config_key" not in runs:
        return runs, 0
    df = runs.sort_values("created", ascending=False, kind="stable") if "created" in runs else runs
    keyed = df["config_key"].notna()
    kept = pd.concat([df[keyed].drop_duplicates(["config_key", "seed"], keep="first"), df[~keyed]])
    kept = kept.loc[[i for i in runs.index if i in kept.index]]  # the caller's order
    return kept, len(runs) - len(kept)


def diff(a: dict[str, Any] | None, b: dict[str, Any] | None) -> pd.DataFrame:
    """The settings where two run configs differ (seed and name included), as rows setting / this run / other."""
    fa, fb = flatten(a), flatten(b)
    rows = [{"setting": k, "this run": show(fa.get(k, "–")), "other run": show(fb.get(k, "–"))}
            for k in sorted(set(fa) | set(fb)) if _same(fa.get(k, "<absent>")) != _same(fb.get(k, "<absent>"))]
    return pd.DataFrame(rows, columns=["setting", "this run", "other run"])


def setup_labels(runs: pd.DataFrame, skip: tuple[str, ...] = NOT_SETUP + SHOWN_ELSEWHERE) -> dict[str, str]:
    """config_key -> its method plus the settings that set it apart from the other setups of that method among
    `runs` (which need `config` and `config_key` columns): "naive" when a method has one setup, else e.g.
    "naive · train.epochs=60". Models and task are not named: the figures show them on their own."""
    if runs.empty or not {"config", "config_key", "method"} <= set(runs.columns):
        return {}
    labels: dict[str, str] = {}
    for method, part in runs.drop_duplicates("config_key").groupby("method", sort=False):
        flats = {k: flatten(c) for k, c in zip(part["config_key"], part["config"])}
        keys = differing(list(flats.values()), skip)
        for key, flat in flats.items():
            extra = ", ".join(f"{k}={show(flat.get(k, '–'))}" for k in keys)
            labels[key] = f"{method} · {extra}" if extra else str(method)
    return labels


def grouped(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per setup: its key, task, models, method, the runs and seeds it has (repeats counted once in the
    median), statuses, median PGR and student accuracy, and the settings that set it apart."""
    cols = ["setup", "task", "weak → strong", "method", "runs", "seeds", "repeats", "status", "median PGR",
            "median student acc"]
    if runs.empty or "config_key" not in runs:
        return pd.DataFrame(columns=cols)
    labels = setup_labels(runs) if "config" in runs else {}
    rows = []
    for key, part in runs.groupby("config_key", sort=False):
        done, repeats = one_per_seed(part[part["status"] == "done"])
        first = part.iloc[0]
        statuses = part["status"].value_counts()
        rows.append({
            "setup": key, "task": first.get("task"), "weak → strong": f"{first.get('weak')} → {first.get('strong')}",
            "method": labels.get(key, first.get("method")), "runs": len(part),
            "seeds": ", ".join(str(s) for s in sorted(part["seed"].dropna().astype(int).unique())),
            "repeats": repeats, "status": ", ".join(f"{n} {s}" for s, n in statuses.items()),
            "median PGR": round(float(done["pgr"].median()), 3) if "pgr" in done and done["pgr"].notna().any()
            else None,
            "median student acc": round(float(done["student_acc"].median()), 3)
            if "student_acc" in done and done["student_acc"].notna().any() else None,
        })
    return pd.DataFrame(rows, columns=cols)
