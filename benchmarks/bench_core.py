"""Benchmark of the experiment core on CPU: finetune and labelling throughput, and the wall time of a
2-method x 2-seed sweep with the stage cache against the same sweep without it (a fresh database per run).

    .venv/bin/python benchmarks/bench_core.py            # the offline world (world_size, world-xs -> world-l)
    .venv/bin/python benchmarks/bench_core.py --toy      # the generated toy task on tiny fresh models
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true", help="toy task and tiny random models instead of the world zoo")
    args = ap.parse_args()

    import torch

    from engine.config import config_from_dict
    from engine.ml.loading import set_threads
    from engine.run.execute import run_local
    from engine.server.store import Store

    set_threads()
    tmp = Path(tempfile.mkdtemp(prefix="w2s-bench-"))
    if args.toy:

        from engine.tasks.toy import VOCAB
        from tests.helpers import build_tiny_model

        weak = str(build_tiny_model(tmp / "weak", VOCAB, 16, 1, 1))
        strong = str(build_tiny_model(tmp / "strong", VOCAB, 64, 2, 2))
        base = {"task": "toy_sentiment", "weak": weak, "strong": strong, "train": {"epochs": 3, "lr": 1e-3}}
    else:
        base = {"task": "world_size", "weak": "world-xs", "strong": "world-l", "train": {"epochs": 10}}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, task {base['task']}, "
          f"{base['weak']} -> {base['strong']}")

    def sweep(shared_cache: bool) -> tuple[float, list[dict]]:
        cfg = config_from_dict({**base, "methods": ["naive", "aux_conf"], "seeds": [0, 1]})
        t0 = time.perf_counter()
        out = []
        store = Store(tmp / f"shared-{time.time_ns()}.duckdb") if shared_cache else None
        for spec in cfg.expand():
            s = store or Store(tmp / f"run-{time.time_ns()}.duckdb")
            _, status, summary = run_local(spec, s, progress=False)
            assert status == "done", summary
            out.append(summary)
            if store is None:
                s.close()
        if store:
            stages = store.con.execute("SELECT kind, count(*), sum(seconds) FROM stages GROUP BY kind").fetchall()
            out.append({"stages": stages})
            facts = store.con.execute(
                "SELECT s.model, avg(m.value) FROM metrics m JOIN stages s ON s.key = m.stage_key "
                "WHERE m.name = 'train_samples_per_second' GROUP BY s.model").fetchall()
            out.append({"train_ex_per_s": dict(facts)})
            store.close()
        return time.perf_counter() - t0, out

    cold, _ = sweep(shared_cache=False)
    warm, info = sweep(shared_cache=True)
    print("finetune throughput (examples/s, Trainer): "
          + ", ".join(f"{Path(m).name}={v:.0f}" for m, v in info[-1]["train_ex_per_s"].items()))
    print(f"stages trained with the cache: {info[-2]['stages'][0][1]} (without: {3 * (len(info) - 2)}, 3 per run)")

    # labelling throughput on the test split with the strong model
    from engine.ml.loading import load_classifier
    from engine.ml.scoring import predict_probs
    from engine.models import resolve_model

    texts = ["the size of kasela is"] * 2000 if not args.toy else ["good day the film was bad"] * 2000
    for name in (base["weak"], base["strong"]):
        model, tok = load_classifier(resolve_model(name))
        t0 = time.perf_counter()
        predict_probs(model, tok, texts, 64, 128)
        print(f"labelling throughput {Path(name).name}: {len(texts) / (time.perf_counter() - t0):.0f} examples/s")
    print(f"2 methods x 2 seeds sweep: without cache {cold:.1f} s, with cache {warm:.1f} s, ratio {cold / warm:.2f}x")
    if not args.toy:
        from engine.config import load_config

        t0 = time.perf_counter()
        store = Store(tmp / "demo.duckdb")
        for spec in load_config(ROOT / "assets/configs/demo.yaml").expand():
            run_local(spec, store, progress=False)
        print(f"demo sweep (assets/configs/demo.yaml, 2 methods x 3 seeds): {time.perf_counter() - t0:.1f} s wall, "
              f"{torch.get_num_threads()} torch thread(s)")
        per_size = store.con.execute(
            "SELECT s.model, round(avg(m.value)) FROM metrics m JOIN stages s ON s.key = m.stage_key "
            "WHERE m.name = 'train_samples_per_second' GROUP BY s.model ORDER BY 2 DESC").fetchall()
        print("finetune examples/s in the demo: " + ", ".join(f"{m}={v:.0f}" for m, v in per_size))
        store.close()


if __name__ == "__main__":
    main()
