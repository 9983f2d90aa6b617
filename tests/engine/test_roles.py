"""Roles and the per-role overrides of `train.roles` (engine/roles.py); TrainConfig.for_role is in test_config."""

from __future__ import annotations

import pytest

from engine.roles import ROLES, check_overrides, role_family


def test_stage_roles_fall_back_to_their_family():
    assert [role_family(r) for r in ("weak", "student_noconflict", "student_plain", "stage1", "sft", "ceiling",
                                     "intermediate2_fold0", "rejected", "base")] == [
        "weak", "student", "student", "student", "student", "ceiling", "intermediate", "weak", "student"]
    assert {"weak", "student", "ceiling", "stage1", "sft", "intermediate"} <= set(ROLES)


def test_overrides_are_read_and_checked():
    types = {"lr": float, "lora": bool}
    seen = []
    out = check_overrides("{weak: {lr: 1e-4}, student: {lora: yes}}", types,
                          lambda v, tp, where: tp(v) if tp is float else v in (True, "yes"), seen.append)
    assert out == {"weak": {"lr": 1e-4}, "student": {"lora": True}} and seen == list(out.values())
    assert check_overrides(None, types, None, None) == {} and check_overrides("", types, None, None) == {}
    with pytest.raises(ValueError, match="must map a role"):
        check_overrides([1], types, None, None)

    def refuse(over):
        raise ValueError("lora must be on")

    with pytest.raises(ValueError, match="roles.student: lora must be on"):
        check_overrides({"student": {"lora": False}}, types, lambda v, tp, w: v, refuse)
