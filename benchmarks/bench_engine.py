"""Benchmark of the engine server: event ingest, a large predictions page, and overhead against in-process runs.

    .venv/bin/python benchmarks/bench_engine.py            # the offline world (world_size, world-xs -> world-l)
    .venv/bin/python benchmarks/bench_engine.py --toy      # the generated toy task on tiny fresh models

1. ingest: a worker's events posted through the API into DuckDB: per-example prediction rows/s
   (stage_done batches) and metric rows/s (batched small events);
2. latency of GET /api/runs/{id}/predictions for a 10,000-row page (3 roles, wide);
3. overhead: the same one-run config through the engine (submit -> done: worker start, imports, events), with
   its worker spawned cold and forked from the warm zygote (engine.run.zygote), against
   engine.run.execute.run_local in this already-warm process and against a `w2s run` subprocess.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")


def start_engine(home: Path, workers: int):
    from engine.client import EngineClient, EngineError, find_engine

    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--workers", str(workers)], cwd=ROOT,
                            env={**os.environ, "W2S_HOME": str(home)}, stdout=subprocess.DEVNULL,
                            stderr=(home / "serve.log").open("wb") if home.mkdir(parents=True, exist_ok=True) is None
                            else None)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        info = find_engine(home)
        if info is not None and info.pid == proc.pid:
            client = EngineClient(info.url, info.token, timeout=120, info=info)
            try:
                client.health()
                return proc, client, time.perf_counter() - t0
            except EngineError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"engine did not start; see {home / 'serve.log'}")


def stop_engine(proc, client) -> None:
    client.shutdown()
    proc.wait(timeout=30)


def bench_ingest(base: dict, tmp: Path, n: int) -> None:
    proc, client, startup = start_engine(tmp / "ingest", workers=0)  # 0 slots: the run stays queued, we post
    print(f"engine start (process up, DB open, answering): {startup:.2f} s")
    run_id = client.submit(base).run_ids[0]
    ids = [f"ex{i:06d}" for i in range(n)]
    seq = 0

    def post(events):
        nonlocal seq
        client.post_events(run_id, "bench", seq, events)
        seq += 1

    post([{"type": "run_info", "task_version": "bench", "split_key": "benchsplit", "versions": {}},
          {"type": "examples", "task_version": "bench", "split_key": "benchsplit",
           "examples": {"id": ids, "source": ["bench"] * n, "text": [f"text number {i}" for i in range(n)],
                        "gold": [i % 2 for i in range(n)], "meta": ["{}"] * n, "split": ["test"] * n}}])
    seconds = []
    for k, role in enumerate(("weak", "ceiling", "student")):
        key = f"benchstage{k}"
        probs = [((i * 7919 + k * 104729) % 1000) / 1000 for i in range(n)]
        post([{"type": "stage_start", "key": key, "role": role, "kind": "classifier", "model": "m", "config": {}}])
        t0 = time.perf_counter()
        post([{"type": "stage_done", "key": key, "seconds": 0.0,
               "predictions": {"test": {"id": ids, "prob": probs, "gold": [i % 2 for i in range(n)]}}}])
        seconds.append(time.perf_counter() - t0)
    rows = 3 * n
    print(f"prediction rows ingested through the API: {rows:,} in {sum(seconds):.2f} s = "
          f"{rows / sum(seconds):,.0f} rows/s (3 stage_done events of {n:,} rows, each one transaction)")
    metric_rows, t0 = 0, time.perf_counter()
    for b in range(40):
        post([{"type": "metrics", "rows": [{"stage_key": "benchstage0", "name": "train_loss", "step": b * 250 + j,
                                            "value": 0.5} for j in range(250)]}])
        metric_rows += 250
    dt = time.perf_counter() - t0
    print(f"metric rows ingested: {metric_rows:,} in {dt:.2f} s = {metric_rows / dt:,.0f} rows/s (batches of 250)")

    for label, kwargs in (("10,000-row predictions page (3 roles)", {}),
                          ("10,000-row page, quadrant student_imitated", {"quadrant": "student_imitated"})):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            page = client.predictions(run_id, limit=10_000, **kwargs)
            times.append(time.perf_counter() - t0)
        print(f"API latency, {label}: median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms "
              f"({len(page.data['example_id']):,} rows of {page.total:,}, {len(page.columns)} columns)")
    t0 = time.perf_counter()
    client.run(run_id)
    print(f"API latency, GET /api/runs/{{id}}: {(time.perf_counter() - t0) * 1000:.1f} ms")
    stop_engine(proc, client)


def bench_overhead(base: dict, tmp: Path) -> None:
    import yaml

    from engine.config import config_from_dict
    from engine.ml.loading import set_threads
    from engine.run.execute import run_local
    from engine.server.store import Store

    set_threads()
    spec = config_from_dict(base).expand()[0]
    run_local(spec, Store(tmp / "warmup.duckdb"), progress=False)  # imports and first-call costs out of the way
    t0 = time.perf_counter()
    _, status, out = run_local(spec, Store(tmp / "local.duckdb"), progress=False)
    local = time.perf_counter() - t0
    assert status == "done", out

    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(base))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.cli", "run", str(cfg_path), "--db", str(tmp / "cli.duckdb"),
                    "--quiet"], cwd=ROOT, env={**os.environ, "W2S_HOME": str(tmp / "cli")}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = time.perf_counter() - t0

    os.environ["W2S_WARM_WORKERS"] = "0"  # every worker spawned cold: today's baseline
    proc, client, _ = start_engine(tmp / "engine-cold", workers=1)
    t0 = time.perf_counter()
    (run,) = client.wait_for(client.submit(base).run_ids)
    cold = time.perf_counter() - t0
    assert run.status == "done", run.error
    stop_engine(proc, client)

    os.environ["W2S_WARM_WORKERS"] = "1"  # the first worker starts the zygote; the measured run is forked from it
    proc, client, _ = start_engine(tmp / "engine-warm", workers=1)
    (first,) = client.wait_for(client.submit({**base, "seeds": [99]}).run_ids)
    assert first.status == "done", first.error
    wait_for_zygote(proc.pid)
    t0 = time.perf_counter()
    (run,) = client.wait_for(client.submit(base).run_ids)
    warm = time.perf_counter() - t0
    assert run.status == "done", run.error
    stop_engine(proc, client)
    print(f"one run, in-process run_local (warm process): {local:.2f} s")
    print(f"one run, `w2s run` subprocess (imports included): {cli:.2f} s")
    print(f"one run, engine submit -> done, worker spawned cold (imports, events over HTTP): {cold:.2f} s "
          f"= {cold / local:.2f}x in-process")
    print(f"one run, engine submit -> done, worker forked from the warm zygote: {warm:.2f} s "
          f"= {warm / local:.2f}x in-process (+{warm - local:.2f} s; cold/warm {cold / warm:.2f}x)")


def wait_for_zygote(engine_pid: int, timeout: float = 120) -> None:
    """Until the engine's worker zygote listens (it binds its socket once its imports are done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"engine.run.zygote" in args and Path(args[-2].decode()).exists():
                return
        time.sleep(0.2)
    raise SystemExit("the worker zygote did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="toy task and tiny random models instead of the world zoo")
    ap.add_argument("--rows", type=int, default=20_000, help="test examples (prediction rows per stage) to ingest")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="w2s-bench-engine-"))
    if args.toy or not (ROOT / "assets" / "zoo" / "l" / "config.json").exists():

        from engine.tasks.toy import VOCAB
        from tests.helpers import build_tiny_model

        weak = str(build_tiny_model(tmp / "weak", VOCAB, 16, 1, 1))
        strong = str(build_tiny_model(tmp / "strong", VOCAB, 32, 2, 2))
        base = {"task": "toy_sentiment", "weak": weak, "strong": strong, "train": {"epochs": 2, "lr": 1e-3}}
    else:
        base = {"task": "world_size", "weak": "world-xs", "strong": "world-l", "train": {"epochs": 10}}
    base.update(methods=["naive"], seeds=[0])
    print(f"task {base['task']}, {base['weak']} -> {base['strong']}, {os.cpu_count()} CPUs, data in {tmp}")
    bench_ingest(base, tmp, args.rows)
    bench_overhead(base, tmp)


if __name__ == "__main__":
    main()
