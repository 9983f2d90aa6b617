"""Benchmark of the studio: cold start, and how fast the Inspector answers on a 10,000-example run.

    .venv/bin/python benchmarks/bench_studio.py            # target: every Inspector interaction under 1 s
    .venv/bin/python benchmarks/bench_studio.py --cold-only  # only part 1 (about a minute)

1. cold start, each figure the median of --repeat runs (default 3) beside the 3 s target and the figures before the
   start-up work (3.0 / 4.4 / 6.1 s): `import gradio` as Gradio ships it and `import studio.app` (which skips
   Gradio's stub rewriting, studio.startup) in fresh processes; `python launch.py` until its page answers with the
   studio's own UI (first paint), with an engine already running, and from nothing (the engine is started too);
   `--against DIR` measures another checkout's launch.py interleaved with this one and prints the ratios;
2. a real run with 10,000 test examples (the generated toy task, tiny fresh models, so it trains in
   seconds), then each Inspector interaction through the app's own endpoint, as the browser calls it:
   first open (one page and the grids' counts from the engine), a 2x2 cell, a text search, a sort, the next
   page, the CSV export of the filtered slice, a comparison with a second run on the same examples, and the
   confidence scatter with the rates-by-attribute figure (the only view that reads the whole split); then the
   training-dynamics views (the run stores its default evaluation points): the data map (an SVG of up to 3,000
   test examples and a CSV of all of them), one example's trajectory, and the Results tab's dynamics section.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")


def launch(home: Path, port: int, root: Path = ROOT) -> tuple[subprocess.Popen, float]:
    """Start launch.py; the seconds until its page answers with the studio's UI (the app's config is in the page)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "launch.py"], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "W2S_HOME": str(home),
                                                            "W2S_STUDIO_PORT": str(port)})
    while True:
        try:
            page = httpx.get(f"http://127.0.0.1:{port}", timeout=2)
            if page.status_code == 200 and "Weak-to-Strong Studio" in page.text:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.perf_counter() - t0 > 180:
            raise SystemExit("the studio did not start")
        time.sleep(0.02)


def fresh(code: str, root: Path = ROOT) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
    return time.perf_counter() - t0


def cold_start(tmp: Path, repeat: int, against: Path | None = None) -> Path:
    """Part 1 (interleaved with the same figures for the checkout `against`, when given); returns a data directory
    whose engine still runs (part 2 uses it)."""
    from engine.client import connect
    from tests.helpers import free_port

    roots = {"this": ROOT, **({"against": against} if against else {})}
    figures = {(name, what): [] for name in roots for what in ("gradio", "studio", "started", "running")}
    for i in range(repeat):
        for name, root in roots.items():  # interleaved, so a change of machine load hits both alike
            figures[name, "gradio"].append(fresh("import gradio", root))
            figures[name, "studio"].append(fresh("import studio.app", root))
            home = tmp / f"{name}{i}"
            for what in ("started", "running"):  # the first launch starts the engine, the second finds it
                proc, seconds = launch(home, free_port(), root)
                figures[name, what].append(seconds)
                stop(proc)
            if name != "this" or i < repeat - 1:
                connect(home).shutdown()

    def fig(what: str, name: str = "this") -> str:
        runs = figures[name, what]
        text = f"{statistics.median(runs):.2f} s"
        if against:
            base = statistics.median(figures["against", what])
            text += f" (against {base:.2f} s: {statistics.median(runs) / base:.2f}x)"
        return text

    print(f"cold start: `import gradio` as shipped {fig('gradio')}; `import studio.app` {fig('studio')} (before: "
          f"3.0 s), each in a fresh process; medians of {repeat}")
    print(f"cold start: launch.py -> first paint, engine already running: {fig('running')} (target: under 3 s; "
          f"before: 4.4 s; runs {', '.join(f'{x:.2f}' for x in figures['this', 'running'])})")
    print(f"cold start: launch.py -> first paint, engine started too: {fig('started')} (before: 6.1 s; runs "
          f"{', '.join(f'{x:.2f}' for x in figures['this', 'started'])})")
    return tmp / f"this{repeat - 1}"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    import argparse

    from gradio_client import Client

    from engine.client import connect
    from engine.tasks.toy import VOCAB
    from tests.helpers import build_tiny_model, free_port

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cold-only", action="store_true", help="measure the cold start only")
    p.add_argument("--repeat", type=int, default=3, help="runs per cold-start figure (the median is printed)")
    p.add_argument("--against", type=Path, help="another checkout (e.g. `git worktree add /tmp/before main`): its "
                   "cold-start figures measured interleaved with these, and the ratios")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="w2s-bench-studio-"))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, data in {tmp}")

    home = cold_start(tmp, args.repeat, args.against.resolve() if args.against else None)
    if args.cold_only:
        connect(home).shutdown()
        return
    port = free_port()
    proc, _ = launch(home, port)

    os.environ["W2S_HOME"] = str(home)
    engine = connect()
    weak = str(build_tiny_model(tmp / "weak", VOCAB, 16, 1, 1))
    strong = str(build_tiny_model(tmp / "strong", VOCAB, 32, 2, 2))
    config = {"task": {"name": "toy_sentiment", "n": 12_600}, "weak": weak, "strong": strong,
              "methods": ["naive", "aux_conf"], "seeds": [0], "test_frac": 0.8, "balance": False,
              "train": {"epochs": 1, "lr": 1e-3, "batch_size": 32, "eval_batch_size": 256}}
    t0 = time.perf_counter()
    ids = engine.submit(config).run_ids
    runs = engine.wait_for(ids, timeout=1800)
    assert all(r.status == "done" for r in runs), [r.error for r in runs]
    n_test = engine.metrics(ids[0])["n_test"]
    print(f"two runs with {n_test:,.0f} test examples each trained in {time.perf_counter() - t0:.0f} s")
    points = engine.dynamics(ids[0]).data
    print(f"training dynamics stored: {len(set(points['checkpoint']))} evaluation points per stage, "
          f"{sum(points['n']):,} rows for the first run")

    app = Client(f"http://127.0.0.1:{port}", verbose=False)
    run, other = ids

    def inspect(quad="all", text="", order="example id", other_id="", page=1):
        return app.predict(run, other_id, "test", quad, "all", text, order, False, page, api_name="/inspect")

    first, out = timed(lambda: inspect(), repeat=1)
    rows = len(out[2]["data"])
    print(f"Inspector, first open of the run ({n_test:,.0f} examples, one page fetched): {first * 1000:.0f} ms "
          f"({rows} rows on the page)")
    steps = [
        ("2x2 cell 'student imitated'", lambda: inspect("student_imitated")),
        ("text search 'good'", lambda: inspect("all", "good")),
        ("sort by disagreement", lambda: inspect("all", "", "disagreement |student − weak| (high first)")),
        ("next page", lambda: inspect(page=2)),
        ("export the filtered slice (CSV)", lambda: app.predict(run, "", "test", "student_fixed", "all", "", "example id",
                                                                False, api_name="/export_slice")),
        ("compare with a second run (first time)", lambda: inspect(other_id=other)),
        ("scatter and rates by attribute (whole split, first time)",
         lambda: app.predict(run, "test", "all", "", api_name="/rates_by_attribute")),
        ("data map of the run (training dynamics)", lambda: app.predict(run, "test", api_name="/cartography")),
        ("one example's trajectory", lambda: app.predict(run, out[2]["data"][0][0], api_name="/trajectory")),
        ("Results: training dynamics and seed statistics", lambda: app.predict(run, api_name="/dynamics")),
    ]
    worst = first
    for label, fn in steps:
        seconds, _ = timed(fn, repeat=1 if "first time" in label else 3)
        worst = max(worst, seconds)
        print(f"Inspector, {label}: {seconds * 1000:.0f} ms")
    print(f"Inspector, slowest interaction: {worst * 1000:.0f} ms (target: under 1,000 ms)")
    stop(proc)
    engine.shutdown()


if __name__ == "__main__":
    main()
