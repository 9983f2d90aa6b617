"""Cross-fitting through intermediate models, shared by `bootstrap` (classifiers) and `weak_rm` (`via`, reward models).

    p, identity = relay(exp, ids_b, p_weak, f"{weak.key}:B", ["world-s"], fit)

Each intermediate model is trained on one fold of B with the previous labels and labels the other fold, both ways
(two trainings per model), so every example's relayed label comes from a model that never trained on it. `fit`
trains one fold: fit(step, k, model, train_ids, train_p1, identity, other_split, other_ids) -> a StageResult whose
preds[other_split] covers other_ids. Every label is joined by example id, never by position, so a cached
intermediate gives the same labels as a fresh one; the relayed labels' identity names both folds' stage keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def relay(exp: Any, ids: list[str], p1: np.ndarray, identity: str, models: list[str], fit: Callable[..., Any],
          on_step: Callable[[int, np.ndarray], None] | None = None) -> tuple[np.ndarray, str]:
    """Labels on `ids` relayed through `models` (weakest first); returns (p(class 1) in the order of `ids`,
    identity). `on_step(step, p1)` sees the labels after each model."""
    folds = (ids[0::2], ids[1::2])
    for k in (0, 1):
        exp.add_split(f"B_fold{k}", folds[k])
    by_id = dict(zip(ids, np.asarray(p1, dtype=np.float64)))
    for step, model in enumerate(models, start=1):
        keys, relayed = [], {}
        for k in (0, 1):
            other = f"B_fold{1 - k}"
            result = fit(step, k, model, folds[k], np.array([by_id[i] for i in folds[k]]), f"{identity}|fold{k}",
                         other, folds[1 - k])
            relayed.update(zip(folds[1 - k], result.preds[other].aligned(folds[1 - k])))
            keys.append(result.key)
        by_id, identity = relayed, f"xfit({keys[0]},{keys[1]})"
        if on_step is not None:
            on_step(step, np.array([by_id[i] for i in ids]))
    return np.array([by_id[i] for i in ids]), identity
