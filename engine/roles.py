"""The roles of a run's stages and the per-role training overrides a config's `train.roles` holds.

    train: {lr: 1e-5, roles: {weak: {lr: 5e-5, lora: false}, student: {lora: true}}}
    role_family("student_noconflict")        # "student": a stage role without an entry of its own falls back

The papers train each model differently (delta learning: DPO at 5e-8, its SFT baseline at 5e-6; weak-to-strong
reasoning: the weak models fully finetuned, LoRA on the strong one), so any training setting can be overridden
for one role; engine.config.TrainConfig.for_role resolves them. Standard library only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

# The roles a `train.roles` entry may name. weak_teacher's reference policy (the student on human labels) is its
# ceiling; delta's SFT baseline is sft; bootstrap's and via's models are intermediate.
ROLES = ("weak", "student", "ceiling", "stage1", "sft", "intermediate", "rejected", "base")
_FAMILY = {"stage1": "student", "sft": "student", "base": "student", "rejected": "weak"}


def role_family(role: str) -> str:
    """student_noconflict / student_plain / stage1 / sft -> student, intermediate2_fold0 -> intermediate, ..."""
    return next((f for f in ("intermediate", "student") if role.startswith(f)), _FAMILY.get(role, role))


def did_you_mean(name: Any, options: Any) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f"; did you mean '{close[0]}'?" if close else ";"


def check_overrides(roles: Any, types: dict[str, Any], coerce: Callable[[Any, Any, str], Any],
                    rebuild: Callable[[dict[str, Any]], Any]) -> dict[str, dict[str, Any]]:
    """`train.roles` checked: known roles, known settings (`types`: setting -> annotated type), each value read by
    `coerce(value, type, where)`, and the role's whole settings built by `rebuild(override)`, which raises
    ValueError for a bad combination (QLoRA without LoRA). YAML text such as "{weak: {lr: 1e-4}}", typed into a
    form, is read as YAML."""
    roles = roles or {}
    if isinstance(roles, str):
        import yaml

        roles = yaml.safe_load(roles) or {}
    if not isinstance(roles, dict):
        raise ValueError(f"roles must map a role to its settings, e.g. {{weak: {{lr: 5e-5}}}}; got {roles!r}")
    out = {}
    for role, over in roles.items():
        if role not in ROLES:
            raise ValueError(f"roles: unknown role '{role}'{did_you_mean(role, ROLES)} roles: {', '.join(ROLES)}")
        for key in (over := dict(over or {})):
            if key not in types:
                raise ValueError(f"roles.{role}: unknown setting '{key}'{did_you_mean(key, types)}")
        out[role] = {k: coerce(v, types[k], f"roles.{role}.{k}") for k, v in over.items()}
        try:
            rebuild(out[role])
        except ValueError as exc:
            raise ValueError(f"roles.{role}: {exc}") from None
    return out
