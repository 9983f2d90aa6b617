"""Fixtures every test folder shares: offline environment, tiny locally built models, a temp database."""

from __future__ import annotations

import os

import pytest

from tests.helpers import EngineProcess, build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")


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
