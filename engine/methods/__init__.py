"""Methods: one file per method, each a config dataclass plus its stages (registered in engine.registry.METHODS).

    @METHODS.register("naive")
    class Naive(Method):
        '''Strong student trained on the weak model's soft labels.'''
        Config = NaiveConfig
        def run(self, exp, cfg): ...

The config dataclass drives YAML validation, the CLI, the studio's settings form and the docs table. Shared
pieces (cross-fitting, conflicts) live in private modules, which the registry does not import as methods.
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.config import MethodConfig


class Method:
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    task_kinds: ClassVar[tuple[str, ...]] = ("classification",)
    registry_name: ClassVar[str] = ""

    def run(self, exp: Any, cfg: MethodConfig) -> dict[str, Any]:
        raise NotImplementedError
