"""The Ray launcher's log shipping on the real engine (the launcher itself runs inside Ray actors, in
test_ray_cluster.py): text written on a node arrives in the run's log on the engine's machine, in order, in
chunks (posted with the engine's token here: a worker token lives only in the engine that issued it)."""

from __future__ import annotations

from engine.client import EngineClient
from engine.server.backends.ray_launcher import LogShipper
from tests.helpers import toy_config, wait_until


def test_shipped_lines_land_in_the_runs_log_in_order(engine, tiny_models):
    c = engine.client
    run_id = c.submit(toy_config(tiny_models, seed=70, n=120)).run_ids[0]
    c.cancel(run_id)
    worker = EngineClient(c.url, c.info.token, retry_for=5)
    ship = LogShipper(worker, run_id, every=0.05, chunk=1000)
    lines = [f"line {i} é\n" for i in range(400)]  # about 4 KB: several chunks, non-ASCII kept
    for line in lines[:200]:
        ship.write(line)
    wait_until(lambda: "line 199 é" in c.log(run_id, max_bytes=100_000), 10, "the first lines")
    for line in lines[200:]:
        ship.write(line)
    ship.close()
    assert ship.failed is None and ship.seq > 4
    text = c.log(run_id, max_bytes=100_000)  # the run's own worker may have written its lines in between
    positions = [text.index(line) for line in lines]
    assert positions == sorted(positions)
