"""Fixtures every test folder shares: offline environment, tiny locally built models, a temp database."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import EngineProcess, bpe_tokenizer, build_arch_model, build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")
# Engines started by tests spawn every worker cold: a warm zygote costs ~6 CPU s per engine, and most tests run
# one or two runs per engine. tests/engine/run/test_zygote.py turns it on.
os.environ.setdefault("W2S_WARM_WORKERS", "0")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    from engine.tasks.toy import VOCAB

    root = tmp_path_factory.mktemp("models")
    return {
        "weak": str(build_tiny_model(root / "weak", VOCAB, n_embd=16, n_layer=1, seed=1)),
        "strong": str(build_tiny_model(root / "strong", VOCAB, n_embd=32, n_layer=2, seed=2)),
    }


@pytest.fixture
def store(tmp_path):
    from engine.server.store import Store

    s = Store(tmp_path / "runs.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """The real engine (`w2s serve` in a subprocess, one worker) on its own data directory, shared by the tests."""
    home = tmp_path_factory.mktemp("home")
    proc = EngineProcess(home, home / "runs.duckdb", workers=1)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def chat_models(tmp_path_factory) -> dict[str, str]:
    """Tiny bf16 checkpoints of hub architectures with a byte-level BPE tokenizer: `qwen2` (a ChatML chat template),
    `qwen2_plain` (the same weights, no template) and `bert` (an encoder, [CLS] A [SEP] B [SEP])."""
    import shutil

    root = tmp_path_factory.mktemp("chat")
    corpus = ["Question: what is two plus two? Answer: four.", "the film was good", "the film was bad",
              "is it safe? yes it is safe. no it is not.", "hello world the answer is 12"] * 10
    out = {"qwen2": str(build_arch_model(root / "qwen2", "qwen2", bpe_tokenizer(corpus), hidden=16)),
           "bert": str(build_arch_model(root / "bert", "bert", bpe_tokenizer(corpus, encoder=True, chat=False)))}
    plain = shutil.copytree(out["qwen2"], root / "qwen2_plain")
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    out["qwen2_plain"] = str(plain)
    return out
