"""The real studio (and the engine it starts) as subprocesses, shared by the studio tests of this folder."""

from __future__ import annotations

import pytest

from tests.helpers import StudioProcess


@pytest.fixture(scope="package")
def app(tmp_path_factory):
    proc = StudioProcess(tmp_path_factory.mktemp("studio-home"))
    yield proc
    proc.stop()


@pytest.fixture(scope="package")
def small_run(app) -> str:
    """A finished run on the module's app (stages, curves and predictions to show), small enough for seconds."""
    config = {"task": "world_size", "weak": "world-xs", "strong": "world-s", "n_train": 200, "n_test": 100,
              "methods": ["naive", "aux_conf"], "train": {"epochs": 1}}
    runs = app.engine.wait_for(app.engine.submit(config).run_ids, timeout=240)
    assert [r.status for r in runs] == ["done", "done"], [r.error for r in runs]
    return runs[0].id
