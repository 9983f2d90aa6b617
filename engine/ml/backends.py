"""Generation backends: transformers' `generate` everywhere, vLLM on a CUDA machine that has it (optional).

    resolve_backend("auto")        # "vllm" on CUDA with vLLM reachable, else "hf"
    resolve_backend("vllm")        # ConfigError with the fix when it cannot run here
    texts, n_tokens = vllm_generate(model, tok, rows, 256, sampling, seeds, stop, ctx, "stage1: samples")

vLLM takes exactly what the HF path takes (engine.ml.generation.generate builds both): the same prompt token ids
(chat template applied, cut from the left), the same stop strings and end-of-turn tokens, and one request per
(prompt, sample) with that row's own seed, so results are stored identically and never depend on the batch. The
two backends draw different samples from the same seeds (different samplers), so a stage's key names the resolved
backend (engine.run.stages.Experiment.train_identity).

vLLM runs in a subprocess (engine/ml/vllm_worker.py) with the interpreter of $W2S_VLLM_PYTHON, a venv of its own
(no vLLM release installs beside this project's pins: docs in README "Reproducing the papers"), or this one when it
can import vllm. The model being generated from is often a policy just finetuned in memory: it is saved to a
temporary folder first. torch is imported inside functions.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine import paths
from engine.config import ConfigError

WORKER = Path(__file__).with_name("vllm_worker.py")


def vllm_interpreter() -> str | None:
    """The Python that can run vLLM: $W2S_VLLM_PYTHON, else this one if it imports vllm, else None."""
    configured = paths.vllm_python()
    if configured:
        return configured
    return sys.executable if importlib.util.find_spec("vllm") is not None else None


def resolve_backend(setting: str, quantized: bool = False) -> str:
    """`generation_backend` as it runs on this machine: hf, or vllm (auto: when CUDA and vLLM are both there, and
    the model is not a 4-bit QLoRA base, which vLLM would have to re-quantize: those generate with transformers)."""
    if setting in ("hf", None) or (quantized and setting == "auto"):
        return "hf"
    import torch

    cuda, python = torch.cuda.is_available(), vllm_interpreter()
    if setting == "vllm":
        if not cuda:
            raise ConfigError("train.generation_backend=vllm needs a CUDA GPU, and this machine has none. Fix: set "
                              "generation_backend: auto or hf")
        if quantized:
            raise ConfigError("train.generation_backend=vllm cannot generate from a 4-bit QLoRA model. Fix: set "
                              "generation_backend: auto (transformers for that role) or quantization: none")
        if python is None:
            raise ConfigError("train.generation_backend=vllm: vLLM is not installed. Fix: create a venv with vllm "
                              "(python -m venv .venv-vllm && .venv-vllm/bin/pip install vllm) and set "
                              "W2S_VLLM_PYTHON=.venv-vllm/bin/python, or set generation_backend: auto")
        return "vllm"
    if setting != "auto":
        raise ConfigError(f"train.generation_backend={setting!r} is not one of auto, hf, vllm")
    return "vllm" if cuda and python is not None else "hf"


def vllm_request(model_dir: str, rows: list[list[int]], seeds: list[list[int]], max_new_tokens: int, sampling: Any,
                 stop: tuple[str, ...], stop_token_ids: list[int], max_length: int, dtype: str = "auto",
                 tensor_parallel: int = 1) -> dict[str, Any]:
    """The vllm_worker request: one row per (prompt, sample), samples of a prompt next to each other, each with the
    seed the HF path gives it; greedy (temperature 0) without `sampling`."""
    return {"model": model_dir, "dtype": dtype, "max_model_len": max_length, "max_tokens": max_new_tokens,
            "tensor_parallel_size": tensor_parallel,
            "gpu_memory_utilization": paths.vllm_memory(),
            "temperature": float(sampling.temperature) if sampling is not None else 0.0,
            "top_p": float(sampling.top_p) if sampling is not None else 1.0,
            "top_k": int(sampling.top_k) if sampling is not None else 0, "stop": list(stop),
            "stop_token_ids": list(stop_token_ids),
            "rows": [{"prompt_ids": list(ids), "seed": int(seed)} for ids, row in zip(rows, seeds) for seed in row]}


def vllm_generate(model: Any, tok: Any, rows: list[list[int]], max_new_tokens: int, sampling: Any,
                  seeds: list[list[int]], stop: tuple[str, ...], stop_ids: list[int], max_length: int, ctx: Any,
                  stage: str, tensor_parallel: int = 1) -> tuple[list[list[str]], int]:
    """Completions of every prompt (as token ids) from vLLM: ([texts of prompt i], new tokens in all); a model spread
    over GPUs (device_map: auto) is served with tensor parallelism over as many."""
    import torch

    from engine.ml.loading import merged

    python = vllm_interpreter()
    if python is None:
        raise ConfigError("generation_backend resolved to vllm, but no interpreter can import it; set W2S_VLLM_PYTHON")
    with tempfile.TemporaryDirectory(prefix="w2s-vllm-") as folder:
        if ctx is not None:
            ctx.progress(stage, 0, 1, unit="call")
        model = merged(model)
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        request = vllm_request(folder, rows, seeds, max_new_tokens, sampling, stop, stop_ids, max_length,
                               "bfloat16" if dtype == "float32" else dtype, tensor_parallel)
        Path(folder, "request.json").write_text(json.dumps(request))
        device = next(model.parameters()).device
        movable = getattr(model, "hf_device_map", None) is None  # a model spread over GPUs stays where it is
        if movable:
            model.to("cpu")  # the policy gives vLLM its GPU memory while it generates
            torch.cuda.empty_cache()
        try:
            done = subprocess.run([python, str(WORKER), str(Path(folder, "request.json")),
                                   str(Path(folder, "result.json"))], capture_output=True, text=True)
        finally:
            if movable:
                model.to(device)
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[-600:]
            raise RuntimeError(f"vLLM generation failed ({tail}). Fix: set train.generation_backend: hf")
        result = json.loads(Path(folder, "result.json").read_text())
    if ctx is not None:
        ctx.progress(stage, 1, 1, unit="call")
    n = len(seeds[0]) if seeds else 1
    texts = result["texts"]
    return [texts[i * n:(i + 1) * n] for i in range(len(rows))], int(sum(result["tokens"]))
