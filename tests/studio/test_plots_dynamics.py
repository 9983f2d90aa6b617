"""studio.plots_dynamics: the figures draw the engine's tables as they are (values checked trace by trace, the data
map's SVG dot by dot)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from studio.plots import MUTED, QUADRANTS
from studio.plots_dynamics import datamap_html, dynamics_data, dynamics_figure, trajectory_figure

DYN = pd.DataFrame({"role": ["student"] * 3 + ["weak"], "split": ["test"] * 4, "checkpoint": [2, 0, 1, 0],
                    "step": [30, 10, 20, 10], "epoch": [3.0, 1.0, 2.0, 1.0], "n": [10] * 4,
                    "accuracy": [0.8, 0.6, 0.9, 0.7], "acc_weak_right": [0.9, 0.7, 1.0, 1.0],
                    "acc_weak_wrong": [0.5, 0.3, 0.6, 0.0], "n_weak_wrong": [3] * 4,
                    "agreement": [0.8, 0.6, 0.7, 1.0]})


def test_the_dynamics_figure_draws_the_students_points_in_order():
    data = dynamics_data(DYN)
    assert data["epoch"].tolist() == [1.0, 2.0, 3.0] and data["acc_weak_wrong"].tolist() == [0.3, 0.6, 0.5]
    fig = dynamics_figure(DYN)
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["accuracy where the weak label is wrong"] == [0.3, 0.6, 0.5]
    assert by_name["agreement with the weak labels"] == [0.6, 0.7, 0.8]
    assert "no training dynamics" in dynamics_figure(DYN.iloc[:0]).layout.annotations[0].text


def test_the_trajectory_draws_one_line_per_role():
    traj = pd.DataFrame({"role": ["student", "student", "ceiling"], "split": ["test"] * 3, "checkpoint": [1, 0, 0],
                         "epoch": [2.0, 1.0, 1.0], "p_gold": [0.9, 0.4, 0.7]})
    fig = trajectory_figure(traj, "e1")
    assert {t.name: list(t.y) for t in fig.data} == {"ceiling (test)": [0.7], "student (test)": [0.4, 0.9]}


def _dots(html_text: str) -> list[dict]:
    """The data map's dots (circles that carry an example), parsed as XML: attributes, title, position."""
    root = ET.fromstring(html_text)
    return [{**c.attrib, "title": c.find("title").text} for c in root.iter("circle") if "data-example" in c.attrib]


CART = pd.DataFrame({"example_id": ["b", "a", "c<&>\"", "d"], "confidence": [0.2, 0.9, 0.5, 0.75],
                     "variability": [0.1, 0.05, 0.3, 0.0],
                     "quadrant": ["student_imitated", "both_right", "both_right", None]})


def test_the_data_map_draws_a_dot_per_example_where_its_confidence_and_variability_put_it():
    out = datamap_html(CART)
    dots = {d["data-example"]: d for d in _dots(out)}
    assert sorted(dots) == ["a", "b", "c<&>\"", "d"]  # the parser unescapes: the raw id round-trips
    assert 'data-example="c&lt;&amp;&gt;&quot;"' in out and "c<&>" not in out  # escaped in the page
    # Plot area x 34..352 for variability 0..0.5, y 266..8 for confidence 0..1 (width 360, height 300).
    a = (float(dots["a"]["cx"]), float(dots["a"]["cy"]))
    assert a == (round(34 + 0.05 / 0.5 * 318, 1), round(266 - 0.9 * 258, 1))
    assert (float(dots["d"]["cx"]), float(dots["d"]["cy"])) == (34.0, round(266 - 0.75 * 258, 1))
    assert float(dots["b"]["cy"]) > float(dots["a"]["cy"])  # less confident: lower on the map
    assert {k: d["fill"] for k, d in dots.items()} == {"a": QUADRANTS["both_right"][3], "b": QUADRANTS[
        "student_imitated"][3], "c<&>\"": QUADRANTS["both_right"][3], "d": "#fff"}
    assert dots["b"]["data-q"] == "student_imitated" and dots["d"]["data-q"] == "" and dots["d"]["stroke"] == MUTED
    assert dots["a"]["title"] == "a: confidence 0.900, variability 0.050"
    assert "4 examples; click a dot" in out and QUADRANTS["student_imitated"][0] in out  # caption and legend
    assert QUADRANTS["student_fixed"][0] not in out  # the legend names only the quadrants drawn
    assert "easy to learn" in out and "ambiguous" in out and "hard to learn" in out
    assert not any("opacity" in d for d in dots.values())


def test_the_data_map_dims_other_quadrants_and_widens_for_a_large_spread():
    dots = {d["data-example"]: d for d in _dots(datamap_html(CART, active="both_right"))}
    assert [k for k, d in dots.items() if d.get("opacity") == "0.15"] == ["b", "d"]
    wide = CART.assign(variability=[0.1, 0.05, 0.6, 0.0])  # x runs to the largest variability beyond 0.5
    dots = {d["data-example"]: d for d in _dots(datamap_html(wide))}
    assert float(dots["c<&>\""]["cx"]) == 352.0 and float(dots["a"]["cx"]) == round(34 + 0.05 / 0.6 * 318, 1)
    assert "No training dynamics" in datamap_html(CART.iloc[:0])


def test_the_data_map_draws_an_evenly_spaced_subset_by_example_id_above_its_limit():
    cart = pd.DataFrame({"example_id": [f"e{i:04d}" for i in range(1000)][::-1], "confidence": 0.5,
                         "variability": 0.1, "quadrant": "both_right"})
    out = datamap_html(cart, max_points=100)
    ids = [d["data-example"] for d in _dots(out)]
    assert len(ids) == 100 and ids[0] == "e0000" and ids[-1] == "e0999" and ids == sorted(ids)
    assert "100 of 1,000 examples" in out
