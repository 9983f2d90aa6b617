"""engine.ml.prompting: the prompt text, and label-word scores equal to an unbatched forward pass per prompt."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.ml.prompting import few_shot_prompts, label_logprobs, label_probs
from tests.helpers import build_tiny_model

WORDS = ["good", "bad", "film", "day", "was", "the", "negative", "positive"]


def test_few_shot_prompts_read_as_the_template():
    prompts = few_shot_prompts(["the film was good", "a bad day"], [[("x y", " positive"), ("z", " negative")], []],
                               "Review: {text} Sentiment: {label}", "\n")
    assert prompts[0] == "Review: x y Sentiment: positive\nReview: z Sentiment: negative\nReview: the film was good " \
                         "Sentiment:"
    assert prompts[1] == "Review: a bad day Sentiment:"


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_tiny_model(tmp_path_factory.mktemp("lm") / "m", WORDS, n_embd=16, n_layer=1, seed=3)
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def _direct(model, tok, prompt, word):
    import torch

    p, full = tok(prompt)["input_ids"], tok(prompt + word)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].float(), -1)
    return float(sum(logp[t - 1, full[t]] for t in range(len(p), len(full))))


def test_label_logprobs_equal_a_forward_pass_per_prompt(lm):
    model, tok = lm
    prompts = ["the film was good", "bad day", "the day was the film was bad", "film"]
    words = [" negative", " positive"]
    got = label_logprobs(model, tok, prompts, words, SimpleNamespace(max_length=64, eval_batch_size=3))
    want = np.array([[_direct(model, tok, p, w) for w in words] for p in prompts])
    assert np.allclose(got, want, atol=1e-5)  # padded batches of mixed lengths change nothing
    p1 = label_probs(got)
    assert np.allclose(p1, np.exp(want[:, 1]) / np.exp(want).sum(1))


def test_a_long_prompt_loses_its_first_tokens(lm):
    model, tok = lm
    prompt = " ".join(["the film was good"] * 10)  # 40 words: the last 7 and the label word are kept
    got = label_logprobs(model, tok, [prompt], [" positive"], SimpleNamespace(max_length=8, eval_batch_size=4))
    assert np.allclose(got[0, 0], _direct(model, tok, "film was good the film was good", " positive"), atol=1e-5)
