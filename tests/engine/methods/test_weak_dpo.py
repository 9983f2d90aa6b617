"""weak_dpo end to end on the offline world: the weak policy orients half B's pairs and the records carry the margins."""

from __future__ import annotations

import numpy as np

from tests.helpers import outputs, run_preference


def test_weak_dpo_orients_pairs_by_the_weak_policy_and_records_margins(store):
    run_id, s = run_preference(store, "weak_dpo", settings={"weak_dpo": {"po_epochs": 2}})
    assert s["weak_label_acc"] > 0.6
    weak_b = store.predictions_page(run_id, split="B", role="weak", limit=10_000)[0]
    assert s["weak_flipped_pairs"] == int((weak_b["weak_prob"] < 0.5).sum())
    recs = outputs(store, run_id, "weak", split="B")
    assert all({"margin_init", "margin_ref", "margin", "implicit_margin"} <= set(r) for r in recs)
    # DPO on A moved the weak policy: its margins on B are not the untrained ones.
    assert np.mean([abs(r["margin"] - r["margin_init"]) for r in recs]) > 0.01
