"""Generate with vLLM from a request file, in a process of its own (standard library and vLLM only).

    python engine/ml/vllm_worker.py request.json result.json

No vLLM release installs beside this project's pinned stack, so vLLM lives in a venv of its own
(W2S_VLLM_PYTHON) and this script is all that runs there; a process per call also hands every byte of GPU memory
back when it exits. The request (engine.ml.backends.vllm_request) holds the model folder, one row per completion
with its prompt token ids and its seed, and the shared settings: max_tokens, temperature (0 = greedy), top_p,
top_k (0 = off), stop strings and stop token ids. The result holds each row's text and number of new tokens.
"""

from __future__ import annotations

import json
import sys


def run(request: dict) -> dict:
    from vllm import LLM, SamplingParams

    llm = LLM(model=request["model"], tokenizer=request["model"], dtype=request.get("dtype", "auto"), seed=0,
              gpu_memory_utilization=request.get("gpu_memory_utilization", 0.5),
              max_model_len=request.get("max_model_len"), tensor_parallel_size=request.get("tensor_parallel_size", 1))
    shared = {"max_tokens": request["max_tokens"], "temperature": request["temperature"], "top_p": request["top_p"],
              "top_k": request["top_k"] if request["top_k"] > 0 else -1, "stop": request["stop"] or None,
              "stop_token_ids": request["stop_token_ids"] or None, "skip_special_tokens": True}
    params = [SamplingParams(seed=row["seed"], **shared) for row in request["rows"]]
    prompts = [{"prompt_token_ids": row["prompt_ids"]} for row in request["rows"]]
    outputs = llm.generate(prompts, params, use_tqdm=False)
    return {"texts": [o.outputs[0].text for o in outputs], "tokens": [len(o.outputs[0].token_ids) for o in outputs]}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: vllm_worker.py REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        request = json.load(f)
    try:
        import vllm  # noqa: F401
    except ImportError:
        print(f"vllm is not installed for {sys.executable}; install it there (pip install vllm) or point "
              "W2S_VLLM_PYTHON at a venv that has it", file=sys.stderr)
        return 3
    result = run(request)
    with open(argv[1], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
