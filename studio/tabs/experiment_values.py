"""What the Experiment tab's pickers hold, as config values: the seeds text box and the weak / strong model pickers
(several models make a weak x strong grid).

    parse_seeds("0-4")                   # [0, 1, 2, 3, 4], or a message naming the problem
    one_or_list(model_names(["a", "b"])) # ["a", "b"]; one model is written as text
"""

from __future__ import annotations

import re
from typing import Any


def parse_seeds(text: Any, limit: int = 1000) -> list[int] | str:
    """'0, 1, 2' or '0-4' -> [0, 1, 2(, 3, 4)]; a message when the text is not a list of whole numbers or names
    more than `limit` seeds (a range is measured before it is expanded: '0-999999999' must not stall the page)."""
    items: list[int] = []
    for part in re.split(r"[,\s]+", str(text or "").strip()):
        if not part:
            continue
        m = re.fullmatch(r"(-?\d+)\s*-\s*(\d+)", part) or re.fullmatch(r"(\d+)\.\.(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi - lo + 1 + len(items) > limit:
                return (f"seeds: {part} is {max(0, hi - lo + 1):,} seeds; at most {limit:,} per sweep here. "
                        "Write fewer, e.g. 0-4")
            items.extend(range(lo, hi + 1))
            continue
        if re.fullmatch(r"-?\d+", part):
            items.append(int(part))
        else:
            return f"seeds: '{part}' is not a whole number; write e.g. 0, 1, 2 or 0-4"
        if len(items) > limit:
            return f"seeds: {len(items):,} seeds; at most {limit:,} per sweep here"
    return items or "seeds: give at least one seed, e.g. 0"


def model_names(value: Any) -> list[str]:
    """The models a weak / strong picker holds: several (a grid) or one; text from an API call counts as one."""
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if v is not None and str(v).strip()]


def one_or_list(names: list[str]) -> str | list[str]:
    """How a config writes the models: one name as text, several as a list (a weak x strong grid)."""
    return names[0] if len(names) == 1 else names if names else ""
