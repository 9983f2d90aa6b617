"""studio/plots_curves.py: a run's training curves and one curve of several runs overlaid, from hand-made rows."""

from __future__ import annotations

import pandas as pd
import pytest

from studio.plots_curves import curves_data, overlay_curves, overlay_data, training_curves


def test_training_curves_one_line_per_role_with_debiased_ema():
    curves = pd.DataFrame({"role": ["weak"] * 3 + ["student"] * 2, "name": ["train_loss"] * 5,
                           "step": [1, 2, 3, 1, 2], "value": [1.0, 0.5, 0.25, 2.0, 1.0]})
    fig = training_curves(curves)
    assert [t.name for t in fig.data] == ["weak", "student"]  # role order: weak, student, ceiling, others
    assert list(fig.data[0].y) == pytest.approx([1.0, 0.5, 0.25])
    data = curves_data(curves, smoothing=0.5)
    weak = data[data["role"] == "weak"]["smoothed"].tolist()
    assert weak[0] == pytest.approx(1.0)  # de-biased: the first point is not pulled towards 0
    assert weak[1] == pytest.approx((0.25 * 1.0 + 0.5 * 0.5) / 0.75)
    assert training_curves(curves, name="eval_loss").layout.annotations[0].text == "no eval_loss points yet"
    assert training_curves(pd.DataFrame()).layout.annotations[0].text == "no train_loss points yet"


def _curves(offset: float) -> pd.DataFrame:
    return pd.DataFrame({"role": ["student"] * 3 + ["weak"] * 3, "name": ["train_loss"] * 6,
                         "step": [1, 2, 3] * 2, "value": [1 + offset, 0.5 + offset, 0.25 + offset, 9, 9, 9]})


def test_overlay_draws_one_line_per_run_for_the_chosen_stage():
    data = overlay_data({"a": _curves(0), "b": _curves(1)}, role="student")
    assert sorted(data["run"].unique()) == ["a", "b"] and len(data) == 6 and 9 not in data["value"].tolist()
    fig = overlay_curves({"a": _curves(0), "b": _curves(1)}, smoothing=0.5)
    assert [t.name for t in fig.data if t.showlegend is not False] == ["a", "b"]
