"""Final-answer extraction and normalisation for the reasoning tasks (GSM8K's '####', MATH's 'The answer is' and
\\boxed{}), shared by their task files. Standard library only.

    gsm8k_answer("... so she has 18 apples.\\n#### 1,800")      # "1800"
    math_answer("... The answer is: $\\frac{1}{2}$")           # "\\frac{1}{2}"
    math_answer("... so the area is \\boxed{12\\pi}.")          # "12\\pi"
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def normalize_number(text: str) -> str:
    """'1,800' -> '1800', '$18.00' -> '18', '3.50' -> '3.5', '-4.' -> '-4'; other text stripped of spaces and a final dot."""
    t = text.strip().replace("$", "").replace(",", "").rstrip(".").strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", t):
        if "." in t:
            t = t.rstrip("0").rstrip(".")
        return t or "0"
    return t


def gsm8k_answer(text: str) -> str:
    """The number after the last '####' ('' when there is none)."""
    if "####" not in text:
        return ""
    tail = text.rsplit("####", 1)[1]
    match = _NUMBER.search(tail)
    return normalize_number(match.group(0)) if match else normalize_number(tail.split("\n")[0])


def _boxed(text: str) -> str | None:
    """The content of the last \\boxed{...}, braces balanced."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None


def normalize_math(text: str) -> str:
    """A MATH answer compared as text: no $, spaces, \\left / \\right, \\! or a final dot; \\dfrac -> \\frac."""
    t = text.strip().strip("$").replace("\\left", "").replace("\\right", "").replace("\\!", "")
    t = t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace(" ", "").rstrip(".")
    return normalize_number(t) if re.fullmatch(r"-?[\d,]+(?:\.\d+)?", t) else t


def math_answer(text: str) -> str:
    """'The answer is: X' (the paper's format; the last one), else the last \\boxed{X}; '' when neither."""
    hits = re.findall(r"[Tt]he answer is:?\s*(.+)", text)
    if hits:
        return normalize_math(hits[-1].split("\n")[0])
    boxed = _boxed(text)
    return normalize_math(boxed) if boxed is not None else ""
