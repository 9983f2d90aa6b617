"""Method registry: one file per method, each a config dataclass plus its stages.

    @METHODS.register("naive")
    class Naive(Method):
        '''Strong student trained on the weak model's soft labels.'''
        Config = NaiveConfig
        def run(self, exp, cfg): ...

The config dataclass drives YAML validation, the CLI, the studio's settings form and the docs table.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.config import MethodConfig
from engine.registry import Registry


class Method:
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    task_kinds: ClassVar[tuple[str, ...]] = ("classification",)
    registry_name: ClassVar[str] = ""

    def run(self, exp: Any, cfg: MethodConfig) -> dict[str, Any]:
        raise NotImplementedError


METHODS: Registry = Registry("method", package="engine.methods")
