"""GPU check: the offline presets (a preference and a reasoning one among them) in bf16 autocast, generating with
transformers' `generate` and with vLLM, printing wall time, finetuning examples/s, generated tokens/s, peak GPU
memory and the headline accuracies (the two backends draw different samples from the same seeds).

    .venv/bin/python benchmarks/bench_gpu.py               # demo, preference, delta, weak_teacher, reasoning
    .venv/bin/python benchmarks/bench_gpu.py --presets reasoning --backends hf vllm --json out.json
    W2S_VLLM_PYTHON=.venv-vllm/bin/python .venv/bin/python benchmarks/bench_gpu.py    # vLLM from its own venv

Every run starts from an empty database (no stage is reused). Peak memory is this process's (training and HF
generation); vLLM runs in its own process with W2S_VLLM_MEMORY of the GPU. On a machine without CUDA it prints
why and exits 0 (`make bench` runs it everywhere).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PRESETS = ("demo", "preference", "delta", "weak_teacher", "reasoning")
GENERATES = {"delta", "weak_teacher", "reasoning"}  # presets whose methods generate text (the backend matters)


def facts(store, run_id: str) -> dict[str, float]:
    """The run's stage facts summed over its stages (tokens, seconds) or averaged (examples/s)."""
    rows = store.con.execute(
        "SELECT m.name, m.value FROM run_stages rs JOIN metrics m ON m.stage_key = rs.stage_key "
        "WHERE rs.run_id = ? AND m.step IS NULL AND NOT rs.cached", [run_id]).fetchall()
    out: dict[str, list[float]] = {}
    for name, value in rows:
        out.setdefault(name, []).append(float(value))
    speeds = [v for k, vs in out.items() if k.endswith("_samples_per_second") for v in vs]
    return {"train_ex_per_s": sum(speeds) / len(speeds) if speeds else 0.0,
            "gen_tokens": sum(out.get("gen_new_tokens", [])), "gen_seconds": sum(out.get("gen_seconds", [])),
            "fp32_share": min(v for k, vs in out.items() if k.endswith("_trainable_fp32") for v in vs)
            if any(k.endswith("_trainable_fp32") for k in out) else None}


def run_preset(name: str, backend: str, seeds: list[int], tmp: Path) -> dict:
    import torch
    import yaml

    from engine.config import config_from_dict, preset_path
    from engine.run.execute import run_local
    from engine.server.store import Store

    data = yaml.safe_load(preset_path(name).read_text())
    data["seeds"] = seeds
    data["train"] = {**(data.get("train") or {}), "generation_backend": backend}
    specs = config_from_dict(data).expand()
    store = Store(tmp / f"{name}-{backend}-{time.time_ns()}.duckdb")
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    summaries, totals = [], {"gen_tokens": 0.0, "gen_seconds": 0.0, "train_ex_per_s": [], "fp32_share": []}
    for spec in specs:
        run_id, status, summary = run_local(spec, store, progress=False)
        if status != "done":
            store.close()
            return {"preset": name, "backend": backend, "error": str(summary)}
        summaries.append(summary)
        f = facts(store, run_id)
        totals["gen_tokens"] += f["gen_tokens"]
        totals["gen_seconds"] += f["gen_seconds"]
        totals["train_ex_per_s"].append(f["train_ex_per_s"])
        if f["fp32_share"] is not None:
            totals["fp32_share"].append(f["fp32_share"])
    wall = time.perf_counter() - t0
    store.close()
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {"preset": name, "backend": backend, "runs": len(specs), "wall_s": round(wall, 1),
            "train_ex_per_s": round(mean(totals["train_ex_per_s"]) or 0, 1),
            "gen_tokens": int(totals["gen_tokens"]),
            "gen_tokens_per_s": round(totals["gen_tokens"] / totals["gen_seconds"], 1) if totals["gen_seconds"]
            else None,
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "trainable_fp32": min(totals["fp32_share"]) if totals["fp32_share"] else None,
            "weak_acc": mean([s.get("weak_acc") for s in summaries if s.get("weak_acc") is not None]),
            "student_acc": mean([s.get("student_acc") for s in summaries if s.get("student_acc") is not None]),
            "ceiling_acc": mean([s.get("ceiling_acc") for s in summaries if s.get("ceiling_acc") is not None])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), help="shipped presets to run")
    ap.add_argument("--backends", nargs="+", default=["hf", "vllm"], choices=["hf", "vllm"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("bench_gpu: skipped, no CUDA device on this machine (torch "
              f"{torch.__version__}, cuda available: False). Run it on a GPU machine.")
        return 0
    from engine.ml.backends import vllm_interpreter

    backends = list(args.backends)
    if "vllm" in backends and vllm_interpreter() is None:
        print("bench_gpu: vLLM is not installed here (and W2S_VLLM_PYTHON is not set): the vllm column is skipped. "
              "Fix: python -m venv .venv-vllm && .venv-vllm/bin/pip install vllm, then W2S_VLLM_PYTHON=...")
        backends.remove("vllm")
    print(f"device {torch.cuda.get_device_name()}, bf16 {torch.cuda.is_bf16_supported()}, "
          f"{torch.cuda.device_count()} GPU(s), torch {torch.__version__}")
    tmp = Path(tempfile.mkdtemp(prefix="w2s-bench-gpu-"))
    rows = []
    for name in args.presets:
        for backend in backends if name in GENERATES else backends[:1]:
            row = run_preset(name, backend, args.seeds, tmp)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    header = ["preset", "backend", "runs", "wall_s", "train_ex_per_s", "gen_tokens", "gen_tokens_per_s", "peak_gib",
              "trainable_fp32", "weak_acc", "student_acc", "ceiling_acc"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join("-" if row.get(h) is None else (f"{row[h]:.3f}" if isinstance(row.get(h), float) and
                                                          h.endswith("acc") else str(row[h])) for h in header)
              if "error" not in row else f"{row['preset']} | {row['backend']} | failed: {row['error']}")
    for name in args.presets:  # vLLM against HF on the same preset
        pair = {r["backend"]: r for r in rows if r["preset"] == name and "error" not in r}
        if {"hf", "vllm"} <= set(pair) and pair["vllm"]["gen_tokens_per_s"] and pair["hf"]["gen_tokens_per_s"]:
            print(f"{name}: vLLM {pair['vllm']['gen_tokens_per_s'] / pair['hf']['gen_tokens_per_s']:.1f}x the "
                  f"generated tokens/s of HF generate, wall {pair['hf']['wall_s'] / pair['vllm']['wall_s']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
