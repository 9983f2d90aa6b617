"""engine.reading: the same reads, with the same shapes, from the database file and through a running engine."""

from __future__ import annotations

import pytest

from engine.config import config_from_dict
from engine.reading import EngineReader, ReadError, StoreReader, open_store
from engine.run.execute import run_local
from tests.helpers import toy_config


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, tiny_models):
    path = tmp_path_factory.mktemp("reading") / "runs.duckdb"
    store = open_store(path)
    run_id, status, _ = run_local(config_from_dict(toy_config(tiny_models, epochs=1, n=80)).expand()[0], store,
                                  progress=False)
    assert status == "done"
    yield StoreReader(store), run_id
    store.close()


def test_file_and_engine_answer_with_the_same_shapes(local_run, engine, tiny_models):
    local, local_id = local_run
    remote = EngineReader(engine.client)
    (run,) = engine.client.wait_for(engine.client.submit(toy_config(tiny_models, epochs=1, n=80)).run_ids, 120)
    assert run.status == "done"
    assert set(local.runs().columns) <= set(remote.runs().columns)  # the engine adds live progress columns
    page_l, total_l = local.predictions(local_id, limit=7)
    page_r, total_r = remote.predictions(run.id, limit=7)
    assert list(page_l.columns) == list(page_r.columns) and len(page_l) == len(page_r) == 7
    assert total_l == total_r == local.metrics(local_id)["n_test"]
    assert local.run(local_id)["status"] == remote.run(run.id)["status"] == "done"
    assert local.run("nope") is None and remote.run("nope") is None


def test_a_database_held_by_another_process_is_a_one_line_error(engine):
    with pytest.raises(ReadError, match="in use by another process"):
        open_store(engine.db)


def test_with_no_engine_running_a_command_never_loads_the_http_stack(tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = ("import sys; import engine.cli, engine.reading; "
            f"assert engine.reading.engine_client({str(tmp_path / 'runs.duckdb')!r}) is None; "
            "print(sorted(m for m in ('httpx', 'httpcore', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**os.environ, "W2S_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"  # `w2s run` without an engine: ~100 modules and 5 MiB fewer
