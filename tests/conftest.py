"""Shared fixtures: tiny models built from a config and saved locally (no network), temp databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")


def build_tiny_model(folder: Path, vocab: list[str], n_embd: int = 32, n_layer: int = 1, seed: int = 0) -> Path:
    """A word-level tokenizer and a randomly initialised tiny GPT-2, saved in the standard HF format."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    words = ["<|endoftext|>", "<pad>", "<unk>"] + sorted(set(vocab))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<unk>", pad_token="<pad>")
    cfg = GPT2Config(vocab_size=len(words), n_positions=64, n_embd=n_embd, n_layer=n_layer, n_head=2,
                     bos_token_id=0, eos_token_id=0, pad_token_id=1, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    folder.mkdir(parents=True, exist_ok=True)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


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
    from engine.store import Store

    s = Store(tmp_path / "runs.duckdb")
    yield s
    s.close()
