"""studio/plots.py: every figure from small hand-made DataFrames, checked against the numbers put in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio import plots


def _run(id="r1", seed=0, method="naive", weak="xs", strong="l", w=0.6, s=0.7, c=0.8, pgr=0.5, lo=0.3, hi=0.7,
         reason=None):
    return dict(id=id, seed=seed, method=method, weak=weak, strong=strong, weak_acc=w, student_acc=s, ceiling_acc=c,
                pgr=pgr, pgr_ci_low=lo, pgr_ci_high=hi, pgr_reason=reason)


def test_ladder_bars_equal_the_accuracies_and_show_pgr_with_interval():
    fig = plots.accuracy_ladder(pd.DataFrame([_run()]))
    bar = fig.data[0]
    assert bar.type == "bar"
    assert list(bar.x) == ["weak supervisor", "strong student", "strong ceiling"]
    assert list(bar.y) == pytest.approx([0.6, 0.7, 0.8])
    assert fig.layout.annotations[0].text == "<b>PGR 0.50 [0.30, 0.70]</b>"


def test_ladder_adds_the_rungs_a_method_reports_in_order():
    row = {**_run(), "stage1_acc": 0.65, "sft_acc": 0.5}
    fig = plots.accuracy_ladder(pd.DataFrame([row]))
    assert list(fig.data[0].x) == ["weak supervisor", "SFT on chosen", "Stage I model", "strong student",
                                   "strong ceiling"]
    assert list(fig.data[0].y) == pytest.approx([0.6, 0.5, 0.65, 0.7, 0.8])


def test_ladder_shows_the_prompting_and_probing_baselines_between_student_and_ceiling():
    row = {**_run(), "zeroshot_acc": 0.55, "fewshot_gold_acc": 0.75, "probe_gold_acc": 0.78}
    fig = plots.accuracy_ladder(pd.DataFrame([row]))
    assert list(fig.data[0].x) == ["weak supervisor", "strong zero-shot", "strong student",
                                   "strong few-shot, gold demos", "probe on gold labels", "strong ceiling"]
    assert list(fig.data[0].y) == pytest.approx([0.6, 0.55, 0.7, 0.75, 0.78, 0.8])
    assert set(plots.ladder_data(pd.DataFrame([row]))["role"]) >= {"zeroshot", "fewshot_gold", "probe_gold"}


def test_ladder_over_seeds_shows_mean_bars_dots_and_median_pgr():
    runs = pd.DataFrame([_run("a", 0, w=0.6, s=0.7, pgr=0.5), _run("b", 1, w=0.6, s=0.74, pgr=0.7),
                         _run("c", 2, w=0.6, s=0.66, pgr=0.3)])
    fig = plots.accuracy_ladder(runs)
    assert fig.data[0].y[1] == pytest.approx(0.7)
    assert len(fig.data[1].y) == 9  # a dot per run and role
    assert "median PGR 0.50 over 3 of 3 runs" in fig.layout.annotations[0].text


@pytest.mark.parametrize("row,needle", [
    (_run(w=0.75, c=0.8, pgr=0.9), "only 0.050"),
    (_run(w=0.52, c=0.9, pgr=0.5), "near chance"),
    (_run(pgr=None, reason="undefined: the ceiling (0.6) does not beat the weak model (0.7)"), "does not beat"),
])
def test_ladder_greys_out_an_untrustworthy_pgr(row, needle):
    ann = plots.accuracy_ladder(pd.DataFrame([row])).layout.annotations[0]
    assert needle in ann.text
    assert ann.font.color == plots.MUTED


def test_pgr_warning_rules():
    assert plots.pgr_warning(0.6, 0.8) is None
    assert "only" in plots.pgr_warning(0.7, 0.75)
    assert "chance" in plots.pgr_warning(0.53, 0.9)
    assert plots.pgr_warning(None, 0.9) == "no PGR yet"


def test_pgr_vs_size_one_line_per_weak_model_ordered_by_size():
    runs = pd.DataFrame([_run("a", weak="xs", strong="l", pgr=0.4), _run("b", seed=1, weak="xs", strong="l", pgr=0.6),
                         _run("c", weak="xs", strong="s", pgr=0.2), _run("d", weak="s", strong="l", pgr=0.8),
                         _run("e", weak="s", strong="l", pgr=None)])
    sizes = {"xs": 5e4, "s": 2e5, "l": 6e5}
    data = plots.pgr_vs_size_data(runs, sizes)
    xs = data[data["weak"] == "xs"]
    assert list(xs["strong"]) == ["s", "l"] and list(xs["median_pgr"]) == pytest.approx([0.2, 0.5])
    assert list(xs["n_runs"]) == [1, 2]
    fig = plots.pgr_vs_size(runs, sizes)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["naive · weak xs", "naive · weak s"]
    assert fig.layout.xaxis.type == "log"
    assert plots.pgr_vs_size(runs).layout.xaxis.type == "category"  # no sizes: names


def test_pgr_vs_size_takes_the_sizes_runs_measured_for_local_folders():
    # A grid of local folders: no registry size, but each run measured its models (weak_params, strong_params).
    runs = pd.DataFrame([{**_run("a", weak="/m/w1", strong="/m/s1", pgr=0.3), "weak_params": 2e3, "strong_params": 9e3},
                         {**_run("b", weak="/m/w1", strong="/m/s2", pgr=0.5), "weak_params": 2e3, "strong_params": 3e4},
                         {**_run("c", weak="/m/w2", strong="/m/s1", pgr=0.1), "weak_params": 4e3, "strong_params": 9e3}])
    assert plots.known_sizes(runs, {"/m/s1": 1e4}) == {"/m/s1": 1e4, "/m/w1": 2e3, "/m/w2": 4e3, "/m/s2": 3e4}
    data = plots.pgr_vs_size_data(runs)
    assert list(data["strong_params"]) == [9e3, 3e4, 9e3] and list(data["weak"]) == ["/m/w1", "/m/w1", "/m/w2"]
    fig = plots.pgr_vs_size(runs)
    assert fig.layout.xaxis.type == "log"
    assert [(t.name, list(t.x)) for t in fig.data if t.mode == "lines+markers"] == [
        ("naive · weak /m/w1", [9e3, 3e4]), ("naive · weak /m/w2", [9e3])]


def test_across_run_figures_draw_a_panel_per_task_and_a_series_per_method():
    # Two tasks x two methods: nothing is pooled, each task its panel, each method its own line and median.
    runs = pd.DataFrame([{**_run("a", 0, "naive", strong="l", pgr=0.2), "task": "sciq"},
                         {**_run("b", 1, "naive", strong="l", pgr=0.4), "task": "sciq"},
                         {**_run("c", 0, "aux_conf", strong="l", pgr=0.9), "task": "sciq"},
                         {**_run("d", 0, "naive", strong="l", pgr=-0.5), "task": "boolq"},
                         {**_run("e", 0, "aux_conf", strong="s", pgr=0.7), "task": "boolq"}])
    data = plots.pgr_vs_size_data(runs, {"xs": 5e4, "s": 2e5, "l": 6e5})
    got = {(r.task, r.method, r.strong): r.median_pgr for r in data.itertuples()}
    assert got == {("sciq", "naive", "l"): pytest.approx(0.3), ("sciq", "aux_conf", "l"): 0.9,
                   ("boolq", "naive", "l"): -0.5, ("boolq", "aux_conf", "s"): 0.7}
    fig = plots.pgr_vs_size(runs, {"xs": 5e4, "s": 2e5, "l": 6e5})
    assert [a.text for a in fig.layout.annotations][:2] == ["boolq", "sciq"]  # one panel per task
    lines = [(t.name, t.xaxis, list(t.y)) for t in fig.data if t.mode == "lines+markers"]
    assert lines == [("aux_conf · weak xs", "x", [0.7]), ("naive · weak xs", "x", [-0.5]),
                     ("aux_conf · weak xs", "x2", [0.9]), ("naive · weak xs", "x2", [pytest.approx(0.3)])]
    meds = plots.methods_data(runs)
    assert meds.groupby(["task", "method"])["median"].first().to_dict() == {
        ("boolq", "aux_conf"): 0.7, ("boolq", "naive"): -0.5, ("sciq", "aux_conf"): 0.9,
        ("sciq", "naive"): pytest.approx(0.3)}
    fig = plots.methods_compared(runs)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [(b.xaxis, list(b.customdata), list(b.y)) for b in bars] == [
        ("x", ["aux_conf", "naive"], [0.7, -0.5]), ("x2", ["aux_conf", "naive"], pytest.approx([0.9, 0.3]))]


def test_methods_compared_median_bar_and_a_dot_per_seed():
    runs = pd.DataFrame([_run("a", 0, "naive", pgr=0.2), _run("b", 1, "naive", pgr=0.4), _run("c", 2, "naive", pgr=0.9),
                         _run("d", 0, "aux_conf", pgr=0.7)])
    fig = plots.methods_compared(runs)
    bar, dots = fig.data
    assert list(bar.customdata) == ["aux_conf", "naive"]
    assert list(bar.y) == pytest.approx([0.7, 0.4])
    assert sorted(dots.y) == pytest.approx([0.2, 0.4, 0.7, 0.9])
    assert list(fig.layout.xaxis.ticktext) == ["aux_conf", "naive"]


def test_reliability_bins_match_the_engine_ece():
    rng = np.random.default_rng(0)
    n = 400
    p = rng.uniform(0, 1, n)
    gold = (rng.uniform(0, 1, n) < p).astype(int)
    examples = pd.DataFrame({"gold": gold, "weak_prob": p, "student_prob": np.clip(p * 1.2 - 0.1, 0, 1)})
    data = plots.reliability_data(examples, roles=("weak", "student"))
    assert data.groupby("role")["n"].sum().to_dict() == {"student": n, "weak": n}
    weak = data[data["role"] == "weak"]
    ece = float((np.abs(weak["accuracy"] - weak["confidence"]) * weak["n"]).sum() / n)
    conf = np.maximum(p, 1 - p)
    correct = ((p >= 0.5) == gold).astype(float)
    edges = np.linspace(0, 1, 11)
    bins = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, 9)
    expected = sum(abs(correct[bins == b].sum() - conf[bins == b].sum()) for b in range(10)) / n
    assert ece == pytest.approx(expected)
    fig = plots.reliability(examples, roles=("weak", "student"))
    assert [t.name for t in fig.data] == ["perfect calibration", "weak", "student"]


def test_quadrants_from_correctness_and_heatmap_text():
    ex = pd.DataFrame({"weak_correct": [True, True, False, False, False],
                       "student_correct": [True, False, True, True, False]})
    counts = plots.quadrant_counts(ex)
    assert counts == {"student_fixed": 2, "student_imitated": 1, "student_broke": 1, "both_right": 1}
    fig = plots.quadrants(counts)
    heat = fig.data[0]
    assert heat.type == "heatmap"
    assert "<b>2</b><br>student fixed weak error" in heat.text[1][0]
    assert plots.quadrants_data(counts)["count"].sum() == 5


def test_empty_inputs_give_a_figure_that_says_so():
    empty = pd.DataFrame(columns=["weak_acc", "student_acc", "ceiling_acc", "pgr", "weak", "strong", "method"])
    for fig in (plots.accuracy_ladder(empty), plots.pgr_vs_size(empty), plots.methods_compared(empty),
                plots.reliability(pd.DataFrame({"gold": []}))):
        assert fig.layout.annotations and fig.layout.annotations[0].text


# ----------------------------------------------------------------------------- deception figures
def test_region_bars_and_conflict_tax_show_the_numbers_put_in():
    from engine.deception import deception_metrics
    from studio import plots_deception as dp

    W, S = [1, 1, 1, 0, 0, 0, 0, 0, 1, 0], [1, 1, 0, 1, 1, 1, 1, 0, 1, 0]
    N, C = [1, 1, 0, 1, 1, 1, 0, 0, 1, 1], [1, 0, 0, 0, 0, 1, 0, 0, 1, 0]
    m = deception_metrics(W, S, C, N)
    fig = dp.regions(m)
    assert list(fig.data[0].y) == [3, 1, 4, 2] and "deception zone" in fig.data[0].x[2]
    assert list(fig.data[1].y) == pytest.approx([1 / 3, 1.0, 3 / 4, 1.0])
    tax = dp.conflict_tax(m)
    assert list(tax.data[0].x) == [dp.REGION_LABELS[r] for r in dp.TAX_ORDER]  # expected order, zone last
    assert list(tax.data[0].y) == [1, 0, 1, 2]
    assert dp.conflict_tax(deception_metrics(W, S, C)).data == ()  # no conflict: an empty figure


def test_ds_vs_gap_plots_one_dot_per_run_at_its_gap():
    from studio import plots_deception as dp

    runs = pd.DataFrame([{"id": "a", "method": "weak_rm", "weak": "xs", "strong": "l", "task": "t", "weak_acc": 0.6,
                          "ceiling_acc": 0.9, "ds_a": 0.4},
                         {"id": "b", "method": "weak_dpo", "weak": "s", "strong": "l", "task": "t", "weak_acc": 0.8,
                          "ceiling_acc": 0.9, "ds_a": 0.1},
                         {"id": "c", "method": "naive", "weak": "s", "strong": "l", "task": "t", "weak_acc": 0.8,
                          "ceiling_acc": 0.9, "ds_a": None}])
    fig = dp.ds_vs_gap(runs, "ds_a")
    xs = sorted(x for trace in fig.data for x in trace.x)
    assert xs == pytest.approx([0.1, 0.3]) and len(fig.data) == 2  # run c has no score: left out
