"""engine.dynamics: where the evaluation points fall, the held-out slice, each selection rule on arrays worked out
by hand, and the cartography statistics."""

from __future__ import annotations

import numpy as np
import pytest

from engine.dynamics import (
    cartography,
    cartography_region,
    checkpoint_steps,
    early_stopping,
    holdout_ids,
    n_checkpoints,
    rule_scores,
    select_checkpoint,
)


def test_points_default_to_one_per_epoch_from_five_to_twenty():
    assert n_checkpoints(None, 2) == 5
    assert n_checkpoints(None, 7.5) == 8
    assert n_checkpoints(None, 300) == 20 and n_checkpoints(50, 300) == 50
    assert n_checkpoints(3, 10) == 3 and n_checkpoints(0, 10) == 0


def test_steps_are_evenly_spaced_and_end_at_the_last_step():
    assert checkpoint_steps(40, 5) == [8, 16, 24, 32, 40]
    assert checkpoint_steps(10, 3) == [3, 7, 10]
    assert checkpoint_steps(3, 5) == [1, 2, 3]  # fewer steps than points: every step
    assert checkpoint_steps(40, 0) == [] and checkpoint_steps(0, 5) == []


def test_the_holdout_is_seeded_and_independent_of_order():
    ids = [f"e{i}" for i in range(50)]
    held = holdout_ids(ids, 0.2, seed=0)
    assert len(held) == 10 and held == [i for i in ids if i in set(held)]
    assert set(holdout_ids(list(reversed(ids)), 0.2, seed=0)) == set(held)
    assert set(holdout_ids(ids, 0.2, seed=1)) != set(held)
    assert holdout_ids(ids, 0.0, seed=0) == []


# Three checkpoints on four held-out examples with weak soft labels [0.9, 0.8, 0.2, 0.4] (hard 1, 1, 0, 0).
LABELS = np.array([0.9, 0.8, 0.2, 0.4])
PROBS = np.array([[0.6, 0.4, 0.3, 0.45],   # agreement 3/4 (ex 1 wrong); AUROC: 0.6, 0.4 vs 0.3, 0.45 -> 3/4
                  [0.7, 0.6, 0.4, 0.3],    # agreement 4/4; AUROC 1
                  [0.99, 0.99, 0.01, 0.6]])  # agreement 3/4 (ex 3 wrong); AUROC 1


def test_rule_scores_match_a_hand_computation():
    assert rule_scores(PROBS, LABELS, "agreement").tolist() == [0.75, 1.0, 0.75]
    assert rule_scores(PROBS, LABELS, "auroc").tolist() == [0.75, 1.0, 1.0]
    ce = [float(np.mean(LABELS * np.log(p) + (1 - LABELS) * np.log(1 - p))) for p in PROBS]
    assert np.allclose(rule_scores(PROBS, LABELS, "loss"), ce)
    with pytest.raises(ValueError, match="not one of"):
        rule_scores(PROBS, LABELS, "f1")


def test_selection_takes_the_best_and_the_earliest_of_ties():
    assert select_checkpoint(PROBS, LABELS, "agreement") == 1
    assert select_checkpoint(PROBS, LABELS, "auroc") == 1  # rows 1 and 2 tie at 1.0: stop at the first
    ce = rule_scores(PROBS, LABELS, "loss")
    assert select_checkpoint(PROBS, LABELS, "loss") == int(np.argmax(ce))
    one_class = np.array([0.9, 0.8, 0.7, 0.6])  # AUROC undefined at every point: the last checkpoint
    assert select_checkpoint(PROBS, one_class, "auroc") == 2


def test_early_stopping_reports_the_picked_checkpoints_test_accuracy_and_the_bounds():
    test_probs = np.array([[0.6, 0.6, 0.6], [0.6, 0.4, 0.6], [0.4, 0.4, 0.4]])  # test gold [1, 0, 1]
    test_gold = np.array([1, 0, 1])
    val_gold = np.array([1, 1, 0, 1])  # gold agreement per row: 2/4, 3/4, 4/4 -> the oracle picks row 2
    out = early_stopping([10, 20, 30], [1.0, 2.0, 3.0], PROBS, LABELS, val_gold, test_probs, test_gold, "agreement")
    assert out["selected_step"] == 20 and out["selected_epoch"] == 2.0
    assert out["student_acc_selected"] == pytest.approx(1.0)  # row 1 on test: 1, 0, 1 all right
    assert out["student_acc_oracle"] == pytest.approx(1 / 3) and out["oracle_step"] == 30
    assert out["student_acc_best_test"] == pytest.approx(1.0) and out["best_test_step"] == 20
    assert out["selected_step_auroc"] == 20 and out["n_val"] == 4


def test_cartography_is_the_mean_and_spread_of_p_label():
    probs = np.array([[0.2, 0.5], [0.4, 0.5], [0.6, 0.5]])
    conf, var = cartography(probs, np.array([1, 0]))
    assert np.allclose(conf, [0.4, 0.5]) and np.allclose(var, [np.std([0.2, 0.4, 0.6]), 0.0])
    assert cartography_region(0.9, 0.05) == "easy"
    assert cartography_region(0.1, 0.05) == "hard"
    assert cartography_region(0.5, 0.25) == "ambiguous"
