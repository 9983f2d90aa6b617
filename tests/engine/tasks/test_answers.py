"""engine.tasks._answers: GSM8K and MATH answers extracted from real-format strings, numbers normalised."""

from __future__ import annotations

import pytest

from engine.tasks._answers import gsm8k_answer, math_answer, normalize_number


# ----------------------------------------------------------------------------- answers
@pytest.mark.parametrize("text,expected", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
    ("He pays 1,200 + 600 = $1,800.\n#### 1,800", "1800"),
    ("The total is $18.00\n#### $18.00", "18"),
    ("so the answer is negative\n#### -4.", "-4"),
    ("#### 3.50", "3.5"),
    ("no marker here: 42", ""),
])
def test_gsm8k_answers(text, expected):
    assert gsm8k_answer(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("The slope is $\\frac{1}{2}$.\nThe answer is: \\frac{1}{2}", "\\frac{1}{2}"),
    ("Thus the area is $\\boxed{12\\pi}$.", "12\\pi"),
    ("We get $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$", "(3,\\frac{\\pi}{2})"),
    ("So $x = \\boxed{\\dfrac{3}{4}}$", "\\frac{3}{4}"),
    ("The answer is 1,000.", "1000"),
    ("nothing boxed", ""),
])
def test_math_answers(text, expected):
    assert math_answer(text) == expected


def test_normalize_number():
    assert [normalize_number(x) for x in ("1,234", "$5", "2.50", "7.", "x")] == ["1234", "5", "2.5", "7", "x"]


def test_a_boxed_answer_after_the_answer_is_is_read_as_its_content():
    assert math_answer("So the answer is $\\boxed{12}$.") == "12"
    assert math_answer("The answer is: $\\boxed{\\frac{1}{2}}$") == "\\frac{1}{2}"


@pytest.mark.parametrize("gold,pred,same", [
    ("\\frac{1}{2}", "\\frac12", True), ("\\frac{1}{2}", "0.5", True), ("x^2+2x", "x(x+2)", True),
    ("\\{1,2\\}", "\\{2,1\\}", True), ("12\\pi", "12\\pi", True), ("3\\%", "0.03", True), ("1800", "1,800", True),
    ("[0,1)", "[0,1]", False), ("12", "13", False), ("\\frac{1}{2}", "", False), ("", "", False),
])
def test_math_answers_compare_by_equivalence(gold, pred, same):
    from engine.tasks._answers import math_equal

    assert math_equal(gold, pred) is same


def test_math_equivalence_works_outside_the_main_thread():
    """math-verify's timeouts use signal.alarm, which raises in a thread: there they are off instead."""
    import threading

    from engine.tasks._answers import math_equal

    out = []
    thread = threading.Thread(target=lambda: out.append((math_equal("\\frac{1}{2}", "0.5"), math_equal("2", "3"))))
    thread.start()
    thread.join()
    assert out == [(True, False)]


def test_hendrycks_math_grades_by_equivalence_and_gsm8k_stops_at_the_next_question():
    from engine.registry import TASKS

    math, gsm8k = TASKS.get("hendrycks_math"), TASKS.get("gsm8k")
    assert math.same_answer("\\frac{1}{2}", math.extract_answer("so $x = \\boxed{0.5}$"))
    assert "Question:" in gsm8k.stop and "Question:" in math.stop
    assert gsm8k.max_length >= 1024 and math.max_length >= 2048  # room for few-shot prompts and a solution
