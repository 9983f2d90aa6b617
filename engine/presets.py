"""The shipped presets (assets/configs/*.yaml): found by name, listed demo first and the papers' hub setups last,
each with the label and description of its opening comment. engine.config loads them (`w2s run demo`).

    preset_path("demo")      # <assets>/configs/demo.yaml, or None
    presets()                # [{name, label, description, config}, ...]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def preset_path(name: str) -> Path | None:
    """The shipped preset called `name` (assets/configs/<name>.yaml), if there is one."""
    from engine.paths import configs_dir

    path = configs_dir() / f"{name}.yaml"
    return path if name and "/" not in name and path.is_file() else None


HUB_PRESETS = ("burns_", "paper_")  # presets of the papers' own setups: hub models and data, a GPU


def presets() -> list[dict[str, Any]]:
    """The shipped presets, demo first and the hub ones (the papers' setups) last: {name, label, description, config},
    the label and description from the file's opening comment."""
    import yaml

    from engine.paths import configs_dir

    out = []
    order = lambda p: (p.stem != "demo", p.stem.startswith(HUB_PRESETS), p.stem)  # noqa: E731
    for path in sorted(configs_dir().glob("*.yaml"), key=order):
        text = path.read_text()
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            continue
        comment = " ".join(line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#"))
        hint = comment.split(":", 1)[0] if comment else ("offline" if path.stem == "demo" else "")
        out.append({"name": path.stem, "label": f"{path.stem} ({hint.lower()})" if hint else path.stem,
                    "description": comment, "config": config})
    return out
