"""When a run's numbers mean little: the warnings shown beside its headline cards, as pure functions.

    notes = run_warnings(metrics, kind="classification")     # [Note("warn", "only 34 test examples: ..."), ...]
    any(n.greys_pgr for n in notes)                          # the PGR card is shown in grey with the reasons

A PGR is a ratio of two small differences, so a small test set, a weak model or ceiling at chance, a tiny gap or
a very wide bootstrap interval make its point value say little; rows the split dropped (repeated ids, training
rows also in the test set, class balancing) are reported so a smaller set is never silent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.plots import pgr_warning

SMALL_TEST = 200      # below this many test examples an accuracy's 95% sampling error passes ±0.07
WIDE_CI = 0.5         # a PGR interval wider than this is "very wide"
NEAR_CHANCE = 0.05    # within this of chance a model's labels (or its ceiling) carry almost no signal
CHANCE = {"classification": 0.5, "preference": 0.5}  # generation: exact-match accuracy has no chance level


@dataclass(frozen=True)
class Note:
    level: str          # "warn" or "info"
    text: str
    greys_pgr: bool = False


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(x):
        return None
    return float(x)


def run_warnings(metrics: dict[str, Any], kind: str | None = "classification") -> list[Note]:
    """Every reason to distrust a run's headline numbers, most serious first."""
    m = {k: _num(v) for k, v in (metrics or {}).items()}
    notes: list[Note] = []
    chance = CHANCE.get(kind or "classification")
    n = m.get("n_test")
    if n is not None and n < SMALL_TEST:
        err = 1.96 * math.sqrt(0.25 / max(n, 1))
        notes.append(Note("warn", f"only {int(n)} test examples: sampling alone moves an accuracy by about "
                                  f"±{err:.2f} (95%), and PGR, a ratio of two such differences, much more", True))
    for role, what in (("weak", "its labels carry almost no signal"), ("ceiling", "the task is not learnable here")):
        acc = m.get(f"{role}_acc")
        if chance is not None and acc is not None and acc < chance + NEAR_CHANCE:
            where = "below" if acc < chance - NEAR_CHANCE else "near"
            notes.append(Note("warn", f"the {role} model is {where} chance ({acc:.3f} vs {chance:.2f}): {what}, so "
                                      "PGR measures little", True))
    reason = pgr_warning(m.get("weak_acc"), m.get("ceiling_acc"), (metrics or {}).get("pgr_reason"),
                         chance=chance if chance is not None else -1.0)
    if reason and "chance" not in reason and reason != "no PGR yet":
        notes.append(Note("warn", reason, True))
    lo, hi = m.get("pgr_ci_low"), m.get("pgr_ci_high")
    if lo is not None and hi is not None and hi - lo > WIDE_CI:
        notes.append(Note("warn", f"PGR's 95% interval [{lo:.2f}, {hi:.2f}] is {hi - lo:.2f} wide: the point value "
                                  "says little; add test examples or seeds", True))
    dropped = {"duplicates": "repeated examples (same id) dropped",
               "overlap": "training examples that are also in the test set dropped",
               "balance": "examples dropped to balance the classes"}
    for key, text in dropped.items():
        count = m.get(f"dropped_{key}")
        if count:
            notes.append(Note("info", f"{int(count):,} {text}"))
    return notes
