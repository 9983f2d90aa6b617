"""studio.plots_compare: several runs' curves overlaid, fix / imitate rates along an example attribute."""

from __future__ import annotations

import json

import pandas as pd

from studio.plots_compare import numeric_attributes, rates_by_attribute, rates_data


def test_rates_along_an_attribute_count_only_the_weak_errors():
    rows = []
    for i in range(40):
        freq = i // 10  # four values of the attribute
        weak_right = i % 2 == 0
        student_right = weak_right or freq >= 2  # the student fixes weak errors only on frequent entities
        rows.append({"meta": json.dumps({"freq_rank": freq, "entity": f"e{i}", "flag": True}),
                     "weak_correct": weak_right, "student_correct": student_right})
    df = pd.DataFrame(rows)
    assert numeric_attributes(df) == ["freq_rank"]  # booleans and text are not numeric attributes
    data = rates_data(df, "freq_rank")
    assert data["weak_wrong"].tolist() == [5, 5, 5, 5]
    assert data["fix_rate"].tolist() == [0.0, 0.0, 1.0, 1.0] and data["imitate_rate"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert len(rates_by_attribute(df, "freq_rank").data) == 2
