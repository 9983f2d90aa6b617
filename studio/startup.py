"""Start-up speed: `import gradio` without Gradio rewriting its components' type stubs on every import.

Gradio's component metaclass (gradio.component_meta.ComponentMeta) calls `create_or_modify_pyi` for every component
class it defines: it reads the class's source file, parses it with `ast` and rewrites the `.pyi` stub beside it when
it differs. The stubs are an editor aid that the wheel already ships, and the studio never needs them at run time,
yet this re-parsing is about 40% of `import gradio` (1.5 s of 3.7 s on a 2-core machine). `skip_stub_writing()`
installs a one-shot import hook that turns that function into a no-op the moment gradio.component_meta is loaded,
before any component class exists; nothing else in Gradio changes. It does nothing when Gradio is already imported
(its classes exist by then) or when a later Gradio drops the function.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

MODULE = "gradio.component_meta"


class _Loader(importlib.abc.Loader):
    """Loads gradio.component_meta with its own loader, then swaps the stub writer for a no-op."""

    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        if callable(getattr(module, "create_or_modify_pyi", None)):
            module.create_or_modify_pyi = _no_stub


def _no_stub(*args, **kwargs) -> None:
    return None


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        remove()  # one shot: the next lookups go the ordinary way
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def installed() -> bool:
    return any(isinstance(f, _Finder) for f in sys.meta_path)


def remove() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def skip_stub_writing() -> bool:
    """Install the hook unless Gradio's components are already defined; True when it is (or was) installed."""
    if MODULE in sys.modules:
        return False
    if not installed():
        sys.meta_path.insert(0, _Finder())
    return True
