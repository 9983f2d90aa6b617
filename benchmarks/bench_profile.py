"""Where a cold run's CPU time goes, phase by phase: the profile the performance work starts from.

    .venv/bin/python benchmarks/bench_profile.py                  # world_size, world-xs -> world-l, naive + aux_conf
    .venv/bin/python benchmarks/bench_profile.py --config my.yaml

Runs `w2s run` of the config in a fresh process (cold imports, a fresh database, one torch thread) with the
project's functions wrapped by timers (in this benchmark only). Each CPU second goes to the innermost phase
running (a DuckDB write during training counts as a write, not as training):
imports (torch, transformers with its Trainer, which brings peft and datasets, the engine), data (task loading, splits, tokenization),
model loading, trainer set-up (Trainer construction), training steps, labelling, DuckDB writes, other.
Prints CPU seconds and shares per phase, wall and CPU time of the run, peak memory, and the imports by package
(each package's own modules, and the module that first imported it: what a lighter import would have to avoid).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("imports", "data", "model loading", "trainer set-up", "training steps", "labelling", "DuckDB writes",
          "other")
DEFAULT = {"name": "profile", "task": "world_size", "weak": "world-xs", "strong": "world-l",
           "methods": ["naive", "aux_conf"], "seeds": [0], "train": {"epochs": 10, "batch_size": 32}}


class Phases:
    """Exclusive CPU-time accounting over a stack of phases."""

    def __init__(self):
        self.cpu = dict.fromkeys(PHASES, 0.0)
        self.stack = ["other"]
        self.mark = time.process_time()

    def _switch(self) -> None:
        now = time.process_time()
        self.cpu[self.stack[-1]] += now - self.mark
        self.mark = now

    def wrap(self, owner, attr: str, phase: str) -> None:
        fn = getattr(owner, attr)

        def timed(*a, **k):
            self._switch()
            self.stack.append(phase)
            try:
                return fn(*a, **k)
            finally:
                self._switch()
                self.stack.pop()

        setattr(owner, attr, timed)


def import_all() -> None:
    """What a run imports before its first stage (the imports phase)."""
    import torch  # noqa: F401
    from transformers import AutoModelForSequenceClassification, Trainer  # noqa: F401

    import engine.cli  # noqa: F401
    import engine.ml.loading  # noqa: F401
    import engine.ml.scoring  # noqa: F401
    import engine.run.execute  # noqa: F401
    import engine.server.store  # noqa: F401
    from engine.metrics import summarize_run  # noqa: F401


def imports_by_package(env: dict) -> list[tuple[str, float, str]]:
    """(package, seconds of its own modules, who imported it first) from `python -X importtime` of import_all in a
    process of its own (the timer's overhead stays out of the profile)."""
    done = subprocess.run([sys.executable, "-X", "importtime", __file__, "--imports"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    rows = []  # (own microseconds, depth, module), children before their parent as importtime prints them
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(1)), len(m.group(2)), m.group(3)))
    own: dict[str, float] = {}
    via: dict[str, str] = {}
    for i, (us, depth, name) in enumerate(rows):
        top = name.split(".")[0].lstrip("_")
        own[top] = own.get(top, 0.0) + us / 1e6
        if name.lstrip("_") == top:  # the package itself: the module outside it that imports it is its first importer
            level, by = depth, "(top level: this benchmark, or a lazy import)"
            for _, d, parent in rows[i + 1:]:
                if d < level:
                    level = d
                    if parent.split(".")[0].lstrip("_") != top:
                        by = parent
                        break
            via[top] = by
    return sorted(((k, v, via.get(k, "")) for k, v in own.items()), key=lambda r: -r[1])


def child(config: str, db: str, out: str) -> None:
    phases = Phases()
    phases.stack.append("imports")
    import_all()
    import torch
    import transformers

    import engine.cli
    import engine.ml.loading as loading
    import engine.ml.scoring as scoring
    import engine.run.execute as execute
    import engine.server.store as store

    phases._switch()
    phases.stack.pop()
    torch.set_num_threads(1)
    phases.wrap(execute, "load_splits", "data")
    phases.wrap(scoring, "tokenize", "data")
    phases.wrap(loading, "load_classifier", "model loading")
    phases.wrap(scoring, "predict_batches", "labelling")  # training dynamics included (their own line)
    phases.wrap(transformers.Trainer, "__init__", "trainer set-up")
    phases.wrap(transformers.Trainer, "train", "training steps")
    phases.wrap(store.Store, "_write", "DuckDB writes")
    started = time.perf_counter()
    engine.cli.main(["run", config, "--db", db])
    phases._switch()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(out).write_text(json.dumps({"cpu": phases.cpu, "run_wall": wall, "peak_mib": usage.ru_maxrss / 1024}))
    from engine.ml.callbacks import exit_process

    exit_process(0)  # as `w2s` ends (engine.cli.entry)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="a run config (YAML); default: world_size xs -> l, naive + aux_conf, seed 0")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--imports", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    if args.imports:
        sys.path.insert(0, str(ROOT))
        return import_all()
    with tempfile.TemporaryDirectory(prefix="w2s-profile-") as tmp:
        config = args.config
        if config is None:
            config = str(Path(tmp) / "profile.json")
            Path(config).write_text(json.dumps(DEFAULT))
        out = Path(tmp) / "profile.out"
        env = {**os.environ, "W2S_HOME": tmp, "OMP_NUM_THREADS": "1", "W2S_THREADS": "1", "HF_HUB_OFFLINE": "1",
               "PYTHONPATH": str(ROOT)}
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, __file__, "--child", config, str(Path(tmp) / "runs.duckdb"),
                               str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode:
            raise SystemExit(f"the profiled run failed:\n{done.stderr[-3000:]}")
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, cpu = time.perf_counter() - t0, (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
        res = json.loads(out.read_text())
        packages = imports_by_package(env)
    total = sum(res["cpu"].values())
    print(f"bench_profile: one cold process, wall {wall:.1f} s, CPU {cpu:.1f} s, peak {res['peak_mib']:.0f} MiB")
    print(f"{'phase':<16} {'CPU s':>7} {'share':>6}")
    for name in PHASES:
        print(f"{name:<16} {res['cpu'][name]:>7.2f} {res['cpu'][name] / total:>6.1%}")
    print(f"(interpreter start-up and exit: {cpu - total:.2f} CPU s outside the phases)")
    print("imports by package (its own modules' time, `python -X importtime` in a process of its own; first "
          "imported by):")
    for name, seconds, by in packages[:10]:
        print(f"  {name:<16} {seconds:>5.2f} s  {by}")


if __name__ == "__main__":
    main()
