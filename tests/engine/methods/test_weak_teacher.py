"""weak_teacher (Tao & Li 2024) end to end: implicit-reward labels, agreement, mismatches judged by the world."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import outputs, run_preference


def test_weak_teacher_reports_agreement_and_judges_mismatches_with_the_world(store):
    run_id, s = run_preference(store, "weak_teacher", settings={"weak_teacher": {"labelled_frac": 0.25, "po_epochs": 1}})
    assert s["n_labelled"] == round(0.25 * (s["n_train_a"] + s["n_train_b"]))
    assert 0.5 < s["label_agreement"] <= 1
    # Human labels are the world's truth here: a weak choice that disagrees picks the false fact, never better.
    assert s["mismatch_weak_better"] == 0.0
    assert {"weak_gold_reward", "student_gold_reward", "ceiling_gold_reward", "student_win_rate"} <= set(s)
    recs = outputs(store, run_id, "student")
    assert all("completion" in r and r["gold_score"] in (0.0, 1.0) for r in recs)
    assert s["student_gold_reward"] == pytest.approx(np.mean([r["gold_score"] for r in recs]))
