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
