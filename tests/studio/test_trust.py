"""studio.trust: the warnings a meaningless number gets, against the numbers the issue reproduced."""

from __future__ import annotations

from studio.common import headline
from studio.trust import run_warnings

GOOD = {"weak_acc": 0.76, "student_acc": 0.95, "ceiling_acc": 1.0, "pgr": 0.8, "pgr_ci_low": 0.66,
        "pgr_ci_high": 0.9, "n_test": 240, "dropped_duplicates": 0, "dropped_balance": 0}


def test_a_sound_run_gets_no_warning():
    assert run_warnings(GOOD) == []


def test_small_test_set_weak_below_chance_and_a_wide_interval_each_grey_the_pgr():
    bad = {**GOOD, "n_test": 34, "weak_acc": 0.41, "pgr_ci_low": 0.13, "pgr_ci_high": 2.25}
    notes = run_warnings(bad)
    texts = " | ".join(n.text for n in notes)
    assert "only 34 test examples" in texts and "weak model is below chance (0.410" in texts
    assert "[0.13, 2.25] is 2.12 wide" in texts and all(n.greys_pgr for n in notes)
    html = headline(bad, notes)
    assert "w2s-muted" in html and html.count("PGR shown in grey") == 3


def test_a_ceiling_at_chance_and_dropped_rows_are_reported():
    notes = run_warnings({**GOOD, "ceiling_acc": 0.514, "dropped_balance": 120, "dropped_duplicates": 3})
    assert any("ceiling model is near chance" in n.text for n in notes)
    info = [n.text for n in notes if n.level == "info"]
    assert info == ["3 repeated examples (same id) dropped", "120 examples dropped to balance the classes"]


def test_generation_runs_have_no_chance_level():
    notes = run_warnings({**GOOD, "weak_acc": 0.27, "ceiling_acc": 0.59, "pgr": 0.3, "pgr_ci_low": 0.2,
                          "pgr_ci_high": 0.4}, kind="generation")
    assert notes == []  # exact-match accuracy of 0.27 is not "below chance"
