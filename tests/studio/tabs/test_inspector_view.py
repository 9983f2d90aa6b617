"""studio.tabs.inspector_view: absent predictions stay blank, counts come from the engine, outputs get columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from studio.tabs.inspector_view import heatmap_html, scatter_html, table_view


def test_half_b_shows_no_student_or_ceiling_and_never_a_zero_for_them():
    page = pd.DataFrame({"example_id": ["a", "b"], "text": ["x", "y"], "gold": [1, 0], "meta": ["{}", "{}"],
                         "weak_prob": [0.9, 0.8], "weak_correct": [True, False], "student_prob": [np.nan, np.nan],
                         "student_correct": [None, None], "ceiling_prob": [np.nan, np.nan],
                         "ceiling_correct": [None, None]})
    view = table_view(page)
    assert "student" not in view and "ceiling" not in view and view["weak"].tolist() == ["1 ✓", "1 ✗"]
    assert view["quadrant"].tolist() == ["", ""]


def test_the_2x2_caption_agrees_with_the_rows_and_says_what_it_counts():
    counts = {"total": 120, "scored": 0, "quadrants": {"both_right": 0, "student_fixed": 0, "student_imitated": 0,
                                                       "student_broke": 0}}
    html = heatmap_html(counts)
    assert "all 120 examples (none with both a weak and a student prediction" in html
    full = {"total": 10, "scored": 10, "quadrants": {"both_right": 6, "student_fixed": 2, "student_imitated": 1,
                                                     "student_broke": 1}}
    assert "all 10 examples<" in heatmap_html(full) and ">6<" in heatmap_html(full)


def test_preference_and_generation_outputs_get_columns_and_compare_sits_beside_the_student():
    page = pd.DataFrame({"example_id": ["a"], "text": ["the size of X is"], "gold": [1],
                         "meta": [json.dumps({"chosen": " big .", "rejected": " small ."})],
                         "weak_prob": [0.4], "weak_correct": [False], "weak_output": [json.dumps({"margin": -0.0021})],
                         "student_prob": [0.7], "student_correct": [True],
                         "student_output": [json.dumps({"answer": "42", "solution": "so 42"})],
                         "other_prob": [0.2], "other_correct": [False]})
    view = table_view(page)
    cols = list(view.columns)
    assert view.loc[0, "chosen"] == " big ." and view.loc[0, "rejected"] == " small ."
    assert view.loc[0, "weak margin"] == -0.0021 and view.loc[0, "student output"] == "42"
    assert cols.index("run B student") == cols.index("student conf") + 1 and view.loc[0, "run B student"] == "0 ✗"


def test_the_scatter_draws_a_clickable_dot_per_example_in_its_quadrant_colour():
    df = pd.DataFrame({"example_id": [f"e{i}" for i in range(5)], "weak_prob": [0.9, 0.2, 0.6, 0.1, 0.5],
                       "student_prob": [0.95, 0.8, 0.3, 0.2, np.nan], "weak_correct": [True, False, True, False, True],
                       "student_correct": [True, True, False, False, None]})
    html = scatter_html(df)
    assert html.count("<circle") == 4 and 'data-example="e1"' in html and 'data-q="student_fixed"' in html
    assert html.count('opacity="0.15"') == 0 and scatter_html(df, "student_fixed").count('opacity="0.15"') == 3


def test_a_click_reports_its_key_and_nothing_else():
    from types import SimpleNamespace

    from studio.tabs.inspector_view import clicked

    evt = SimpleNamespace(_data={"example": "e1", "quadrant": "student_fixed"})
    assert clicked(evt, "example") == "e1" and clicked(evt, "quadrant") == "student_fixed"
    assert clicked(evt, "region") is None
    assert clicked(SimpleNamespace(_data=None), "example") is None and clicked(SimpleNamespace(), "example") is None
    assert clicked(SimpleNamespace(_data="e1"), "example") is None
