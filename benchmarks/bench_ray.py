"""Benchmark of the Ray backend against local subprocesses: the same 8-run weak x strong x seed grid both ways.

    .venv/bin/python benchmarks/bench_ray.py               # 2 weak x 2 strong tiny models x 2 seeds, toy task
    .venv/bin/python benchmarks/bench_ray.py --n 4000      # more data per run

1. subprocess backend: `w2s serve --workers 2` (one run per core), submit the grid, wait until every run is done;
2. Ray backend: a real two-node Ray cluster on this machine (1 CPU per node), `w2s serve --backend ray`, the same
   grid on a fresh database (so neither side reuses the other's stages);
3. per run: mean seconds from start to finish on each backend (the difference is what Ray adds per run: actor
   creation, the extra launcher process, log streaming) and the trained stages' own seconds;
4. an estimate of the wall time with N GPUs (N nodes or workers), from the measured stage and overhead times.
Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")


def grid(models: dict[str, str], n: int, epochs: float) -> dict:
    return {"name": "bench-ray", "task": {"name": "toy_sentiment", "n": n}, "weak": [models["w1"], models["w2"]],
            "strong": [models["s1"], models["s2"]], "methods": ["naive"], "seeds": [0, 1],
            "train": {"epochs": epochs, "lr": 1e-3, "batch_size": 16}}


def sweep(home: Path, config: dict, args: tuple[str, ...], env: dict | None = None) -> dict:
    """Run the grid on a fresh engine; wall time, per-run seconds and the trained stages' seconds."""
    from tests.helpers import EngineProcess, read_db

    eng = EngineProcess(home, home / "runs.duckdb", workers=2, args=args, env=env)
    try:
        t0 = time.perf_counter()
        ids = eng.client.submit(config).run_ids
        runs = eng.client.wait_for(ids, timeout=1800)
        wall = time.perf_counter() - t0
    finally:
        eng.stop()
    bad = [(r.id, r.error) for r in runs if r.status != "done"]
    if bad:
        raise SystemExit(f"runs did not finish: {bad}")
    per_run = [s for (s,) in read_db(eng.db, "SELECT date_diff('millisecond', started, finished) / 1000.0 FROM runs")]
    stages = [s for (s,) in read_db(eng.db, "SELECT seconds FROM stages WHERE status = 'done'")]
    # start-up: from the run's start (worker spawned) to its first stage's start, for the runs whose first stage
    # (weak) they trained themselves, so no wait for another run's stage is counted
    startup = [s for (s,) in read_db(eng.db, """
        SELECT date_diff('millisecond', r.started, s.started) / 1000.0 FROM runs r
        JOIN run_stages rs ON rs.run_id = r.id AND rs.role = 'weak' AND NOT rs.cached
        JOIN stages s ON s.key = rs.stage_key""")]
    return {"wall": wall, "runs": len(ids), "per_run": per_run, "stages": stages, "startup": startup}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="toy task examples per run")
    ap.add_argument("--epochs", type=float, default=4)
    args = ap.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        print("bench_ray: skipped (Ray is not installed: pip install -r requirements-extras.txt)")
        return 0
    from engine.tasks.toy import VOCAB
    from tests.helpers import LocalRayCluster, build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    sizes = {"w1": (16, 1), "w2": (24, 1), "s1": (32, 2), "s2": (48, 2)}
    models = {k: str(build_tiny_model(tmp / "models" / k, VOCAB, n_embd=d, n_layer=n, seed=d))
              for k, (d, n) in sizes.items()}
    config = grid(models, args.n, args.epochs)
    print(f"grid: 2 weak x 2 strong tiny GPT-2 models x 2 seeds = 8 runs, toy_sentiment n={args.n}, "
          f"{args.epochs:g} epochs, 1 torch thread per worker, on {os.cpu_count()} CPU cores")

    local = sweep(tmp / "subprocess", config, ())
    t0 = time.perf_counter()
    cluster = LocalRayCluster(nodes=2, cpus=1)
    print(f"Ray cluster start (head + 1 worker node, 1 CPU each): {time.perf_counter() - t0:.1f} s")
    try:
        idle0, t_idle = cluster.cpu_seconds(), time.perf_counter()
        time.sleep(10)
        idle = (cluster.cpu_seconds() - idle0) / (time.perf_counter() - t_idle)
        busy0 = cluster.cpu_seconds()
        on_ray = sweep(tmp / "ray", config, ("--backend", "ray", "--ray-address", cluster.address), cluster.env)
        busy = cluster.cpu_seconds() - busy0
    finally:
        cluster.stop()

    print(f"\n{'backend':<28} {'wall s':>8} {'mean run s':>11} {'start-up s':>11} {'stage s (sum)':>14}")
    for name, r in (("subprocess (2 workers)", local), ("ray (2 nodes x 1 CPU)", on_ray)):
        print(f"{name:<28} {r['wall']:8.1f} {statistics.mean(r['per_run']):11.2f} "
              f"{statistics.mean(r['startup']):11.2f} {sum(r['stages']):14.1f}")
    overhead = statistics.mean(on_ray["per_run"]) - statistics.mean(local["per_run"])
    start = statistics.mean(on_ray["startup"]) - statistics.mean(local["startup"])
    print(f"\nwall time ratio ray / subprocess: {on_ray['wall'] / local['wall']:.2f}x")
    print(f"Ray's overhead per run: {overhead:+.2f} s of mean run duration, of which {start:+.2f} s before the first "
          "stage starts (actor placement, the Ray worker process, the launcher)")
    print(f"Ray's own processes: {idle:.2f} CPU-s/s idle, {busy:.1f} CPU-s during the sweep "
          f"({busy / on_ray['wall']:.2f} of a core, on a machine with {os.cpu_count()})")
    trained = len(local["stages"])
    print(f"stages trained: {trained} (4 weak + 4 ceiling shared across pairs, 8 students); "
          f"{8 * 3 - trained} reused from the cache")

    # Wall time with N GPUs: the grid's trained stages spread over N workers, each run paying its start-up
    # (worker process and imports, plus Ray's overhead), bounded below by the longest single run.
    work = sum(on_ray["stages"])
    startup = statistics.mean(on_ray["per_run"]) - work / on_ray["runs"]
    longest = max(on_ray["per_run"])
    print("\nestimated wall time with N GPUs (one run per GPU; stage seconds as measured here on one CPU each):")
    for n in (1, 2, 4, 8):
        estimate = max((work + startup * on_ray["runs"]) / n, longest)
        print(f"  N={n}: {estimate:6.1f} s")
    print("(a GPU trains each stage faster than this CPU; the start-up per run stays, so small grids gain less "
          "than N-fold, and past N = 8 runs at once there is nothing left to spread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
