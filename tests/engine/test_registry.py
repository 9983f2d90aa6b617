"""engine.registry: lookups that suggest the right name, duplicates refused, every instance loads its package."""

from __future__ import annotations

import pytest

from engine.registry import METHODS, MODELS, SCORERS, TASKS, Registry, UnknownName


def test_unknown_name_suggests_the_closest_and_lists_the_rest():
    with pytest.raises(UnknownName) as err:
        METHODS.get("aux_cnf")
    assert "did you mean 'aux_conf'?" in str(err.value) and "naive" in str(err.value)


def test_a_name_registered_twice_is_refused():
    reg = Registry("thing")
    reg.add("a", object())
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", object())


def test_each_instance_loads_its_package_on_first_lookup():
    assert {"naive", "aux_conf", "bootstrap"} <= set(METHODS.names())
    assert {"world_size", "file", "sciq"} <= set(TASKS.names())
    assert {"world-xs", "world-l", "gpt2"} <= set(MODELS.names())
    assert "world_facts" in SCORERS.names()
    assert TASKS.get("file").registry_name == "file"
