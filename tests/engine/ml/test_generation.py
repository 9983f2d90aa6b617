"""Generation: stop strings end a completion (and are removed), prompts cut to fit are counted, chat prompts go
through the template, and the backend choice is hf on a machine without CUDA."""

from __future__ import annotations

import pytest

from engine.config import TrainConfig


class Tally:
    def __init__(self):
        self.tally = {}

    def count(self, name, n):
        self.tally[name] = self.tally.get(name, 0) + n

    def progress(self, *a, **k):
        pass

    def check_cancelled(self):
        pass


def _policy(folder):
    from engine.ml.loading import load_policy
    from engine.models import resolve_model

    return load_policy(resolve_model(folder), TrainConfig())


def test_a_stop_string_ends_the_completion_and_is_not_kept(chat_models):
    from engine.ml.generation import generate

    model, tok = _policy(chat_models["qwen2_plain"])
    prompts = ["the film was", "hello world"]
    cfg = TrainConfig(max_length=64)
    free = generate(model, tok, prompts, 24, cfg)
    # a stop string taken from the middle of the first free completion (the untrained model babbles)
    stop = free[0][len(free[0]) // 2:len(free[0]) // 2 + 3]
    assert stop.strip() and len(free[0]) > 6
    ctx_free, ctx_stop = Tally(), Tally()
    generate(model, tok, prompts, 24, cfg, ctx=ctx_free)
    stopped = generate(model, tok, prompts, 24, cfg, ctx=ctx_stop, stop=(stop,))
    assert stopped[0] == free[0][:free[0].find(stop)] and stop not in stopped[0]
    assert stopped[1] == (free[1][:free[1].find(stop)] if stop in free[1] else free[1])
    assert ctx_stop.tally["gen_new_tokens"] < ctx_free.tally["gen_new_tokens"]  # generation itself stopped early


def test_prompts_cut_to_fit_are_counted(chat_models):
    from engine.ml.generation import generate

    model, tok = _policy(chat_models["qwen2_plain"])
    long, short = "the film was good " * 20, "hello"
    ctx = Tally()
    generate(model, tok, [long, short, long], 4, TrainConfig(max_length=24), ctx=ctx)
    assert ctx.tally["gen_prompts_truncated"] == 2 and ctx.tally["gen_completions"] == 3


def test_a_chat_prompt_is_generated_from_the_templates_generation_prompt(chat_models):
    import torch

    from engine.ml.generation import generate

    model, tok = _policy(chat_models["qwen2"])
    out = generate(model, tok, ["what is two plus two?"], 6, TrainConfig(max_length=64))
    ids = tok.apply_chat_template([{"role": "user", "content": "what is two plus two?"}], tokenize=True,
                                  add_generation_prompt=True, return_dict=True, return_tensors="pt")
    with torch.no_grad():
        ref = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=[tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")])
    assert out == [tok.decode(ref[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)]
    off = generate(model, tok, ["what is two plus two?"], 6, TrainConfig(max_length=64, chat_template="off"))
    assert off != out or "<|im_start|>" not in off[0]


def test_the_generation_backend_is_hf_without_cuda_and_vllm_is_refused_with_the_fix():
    from engine.config import ConfigError
    from engine.ml.backends import resolve_backend

    assert resolve_backend("auto") == resolve_backend("hf") == "hf"
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        resolve_backend("vllm")
