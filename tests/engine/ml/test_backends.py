"""The optional vLLM backend as far as a CPU machine can check it: which backend runs, the request vLLM gets (the HF
path's prompts, stop strings and per-row seeds) and the worker's message when vLLM is missing. Generation with vLLM
itself needs a CUDA machine (benchmarks/bench_gpu.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.ml.backends import WORKER, resolve_backend, vllm_interpreter, vllm_request
from engine.ml.generation import Sampling, _row_seed


def test_a_configured_vllm_venv_is_found_but_auto_stays_on_hf_without_cuda(monkeypatch, tmp_path):
    monkeypatch.setenv("W2S_VLLM_PYTHON", str(tmp_path / "venv" / "bin" / "python"))
    assert vllm_interpreter() == str(tmp_path / "venv" / "bin" / "python")
    assert resolve_backend("auto") == "hf"  # no CUDA here
    monkeypatch.delenv("W2S_VLLM_PYTHON")
    assert vllm_interpreter() is None  # this venv has no vllm (it cannot install beside the pins)


def test_the_vllm_request_holds_the_same_prompts_stops_and_per_row_seeds(monkeypatch):
    monkeypatch.setenv("W2S_VLLM_MEMORY", "0.3")
    sampling = Sampling(n=3, temperature=0.7, top_p=0.9, top_k=50, seed=4)
    rows = [[1, 2, 3], [4, 5]]
    seeds = [[_row_seed(4, key, j) for j in range(3)] for key in ("a", "b")]
    req = vllm_request("/m", rows, seeds, 16, sampling, ("Question:",), [2, 7], 512)
    assert [r["prompt_ids"] for r in req["rows"]] == [[1, 2, 3]] * 3 + [[4, 5]] * 3
    assert [r["seed"] for r in req["rows"]] == seeds[0] + seeds[1]
    assert (req["temperature"], req["top_p"], req["top_k"], req["max_tokens"]) == (0.7, 0.9, 50, 16)
    assert req["stop"] == ["Question:"] and req["stop_token_ids"] == [2, 7] and req["gpu_memory_utilization"] == 0.3
    greedy = vllm_request("/m", rows, [[0], [0]], 16, None, (), [2], 512)
    assert greedy["temperature"] == 0.0 and len(greedy["rows"]) == 2


@pytest.mark.skipif(vllm_interpreter() is not None, reason="vllm is installed here")
def test_the_worker_says_how_to_install_vllm_when_it_is_missing(tmp_path):
    (tmp_path / "req.json").write_text(json.dumps({"model": "m", "rows": []}))
    done = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "req.json"), str(tmp_path / "out.json")],
                          capture_output=True, text=True)
    assert done.returncode == 3 and "W2S_VLLM_PYTHON" in done.stderr
