"""Benchmark: how long building the offline zoo takes, and pretraining throughput per model size.

    .venv/bin/python benchmarks/bench_zoo.py              # reduced steps (scale 0.1) on the full world, ~30 s
    .venv/bin/python benchmarks/bench_zoo.py --scale 1    # the real build, into a temporary folder (~3-5 min)

Below scale 1 the build runs on the full 1,200-entity world (the vocabulary, hence the output layer,
is full size) with fewer steps, and the full build time is extrapolated per model from seconds per
step. The extrapolation counts each model's fixed start-up (Trainer set-up, recall probe, saving)
once per step-second, so it slightly overestimates. Timings depend on machine load, printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from engine.worlds.facts import zoo_dir
from engine.worlds.facts.build import FULL_WORLD, THREADS, build_zoo
from engine.worlds.pretrain import FAMILY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of the real step counts")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"pretraining with torch threads = {THREADS}")
    with tempfile.TemporaryDirectory(prefix="w2s-bench-zoo-") as out:
        started = time.perf_counter()
        manifest = build_zoo(Path(out), seed=0, scale=args.scale, progress=False, n_entities=FULL_WORLD)
        total = time.perf_counter() - started
    world = manifest["world"]
    print(f"built at scale {args.scale} ({world['entities']} entities, vocab {world['vocab_size']}) "
          f"in {total:.1f} s wall, world and tokenizer included")
    print(f"{'size':<5}{'params':>9}{'steps':>7}{'build s':>9}{'tokens/s':>10}{'full steps':>12}{'est. full s':>13}")
    estimate = 0.0
    for name, entry in manifest["models"].items():
        full_steps = FAMILY[name].steps
        full_s = entry["build_s"] / entry["steps"] * full_steps
        estimate += full_s
        print(f"{name:<5}{entry['params']:>9,}{entry['steps']:>7}{entry['build_s']:>9.1f}{entry['tokens_per_s']:>10,}"
              f"{full_steps:>12}{full_s:>13.0f}")
    label = "measured" if args.scale == 1 else "extrapolated"
    print(f"full zoo build, {label}: {estimate:.0f} s ({estimate / 60:.1f} min)")
    shipped = zoo_dir() / "manifest.json"
    if shipped.is_file():
        recorded = json.loads(shipped.read_text())
        per_model = ", ".join(f"{n} {m['build_s']} s" for n, m in recorded["models"].items())
        print(f"shipped zoo as recorded in its manifest: {recorded['build_s']} s ({per_model})")


if __name__ == "__main__":
    main()
