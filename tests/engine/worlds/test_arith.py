"""engine.worlds.arith: answers and solutions, and a reduced arithmetic family builds."""

from __future__ import annotations


def test_arith_answers_and_solutions():
    import random

    from engine.worlds.arith import extract_answer, make_problem, question, solution, solve

    p = make_problem(random.Random(3))
    text = solution(p)
    assert extract_answer(text) == str(solve(p)) and question(p).startswith("Q: ") and question(p).endswith(" A:")
    assert extract_answer(" 3 + 4 = 7 . #### 7 . #### 9") == "9" and extract_answer(" 3 + 4 = 7 .") == ""


def test_reduced_arith_family_builds(tmp_path):
    from engine.worlds.arith.build import build_arith_zoo

    manifest = build_arith_zoo(tmp_path, scale=0.01, progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {"s", "l", "manifest.json"}
    assert all(0 <= m["solve_rate"] <= 1 and m["tokens"] > 0 for m in manifest["models"].values())
