"""Final-answer extraction and normalisation for the reasoning tasks (GSM8K's '####', MATH's 'The answer is' and
\\boxed{}), shared by their task files, and MATH's equivalence check (math-verify, imported when first needed).

    gsm8k_answer("... so she has 18 apples.\\n#### 1,800")      # "1800"
    math_answer("... The answer is: $\\frac{1}{2}$")           # "\\frac{1}{2}"
    math_answer("... so the area is \\boxed{12\\pi}.")          # "12\\pi"
    math_equal("\\frac{1}{2}", "0.5")                           # True
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
    """'The answer is: X' (the paper's format; the last one, its \\boxed{} content if it boxes it), else the last
    \\boxed{X}; '' when neither."""
    hits = re.findall(r"[Tt]he answer is:?\s*(.+)", text)
    if hits:
        hit = hits[-1].split("\n")[0]
        boxed = _boxed(hit)
        return normalize_math(boxed if boxed is not None else hit)
    boxed = _boxed(text)
    return normalize_math(boxed) if boxed is not None else ""


def math_equal(gold: str, pred: str, timeout: int = 5) -> bool:
    """Whether two MATH answers are the same mathematically (math-verify, as the MATH evaluators of the
    reasoning papers compare them: "\\frac12" = "\\frac{1}{2}" = "0.5", "x(x+2)" = "x^2+2x", "{1,2}" = "{2,1}").
    Equal normalised text needs no parsing. math-verify bounds its parsing time with signal.alarm, which works only
    in the main thread (where workers run stages); elsewhere its timeout is off rather than an error."""
    if not gold or not pred:
        return False
    if normalize_math(gold) == normalize_math(pred):
        return True
    try:
        from math_verify import parse, verify
    except ImportError:
        raise ImportError("comparing MATH answers needs math-verify: pip install math-verify==0.9.0 "
                          "antlr4-python3-runtime==4.13.2 (in requirements.txt)") from None
    import logging
    import threading

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "Timeout is disabled" once per call off-main-thread
    limit = timeout if threading.current_thread() is threading.main_thread() else None
    try:
        parsed_gold = parse(f"${gold}$", parsing_timeout=limit)
        parsed_pred = parse(f"${pred}$", parsing_timeout=limit)
        return bool(parsed_gold and parsed_pred and verify(parsed_gold, parsed_pred, timeout_seconds=limit))
    except Exception:  # a parse that times out or an expression sympy cannot compare: not shown to be equal
        return False
