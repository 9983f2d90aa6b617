"""Helpers the tests share: tiny models built from a config and saved locally (no network), the real engine
(`w2s serve`) and studio (`w2s studio`) as subprocesses polled until they answer, and small configs.

    from tests.helpers import EngineProcess, build_tiny_model, toy_config
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.client import EngineClient, EngineError, find_engine

ROOT = Path(__file__).resolve().parents[1]


def toy_config(tiny_models, seed: int = 0, epochs: float = 2, n: int = 200, **over) -> dict:
    """A one-run config on the generated toy task with the two tiny models (seconds per run)."""
    cfg = {"task": {"name": "toy_sentiment", "n": n}, "weak": tiny_models["weak"], "strong": tiny_models["strong"],
           "methods": ["naive"], "seeds": [seed], "train": {"epochs": epochs, "lr": 1e-3, "batch_size": 16}}
    cfg.update(over)
    return cfg


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


# ----------------------------------------------------------------------------- real processes
def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within 20 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EngineProcess:
    """`w2s serve` in a subprocess, polled until it answers."""

    def __init__(self, home: Path, db: Path, workers: int = 1, public: bool = False, env: dict | None = None):
        self.home, self.db = home, db
        home.mkdir(parents=True, exist_ok=True)
        self.log = (home / f"serve-{time.time_ns()}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--db", str(db), "--port", "0", "--workers", str(workers),
             "--grace", "3", *(["--public"] if public else [])], cwd=ROOT,
            env={**os.environ, "W2S_HOME": str(home), **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = find_engine(home)
            if info is not None and info.pid == self.proc.pid:
                self.client = EngineClient(info.url, info.token, info=info)
                try:
                    self.client.health()
                    return
                except EngineError:
                    pass
            assert self.proc.poll() is None, f"engine exited: {Path(self.log.name).read_text()}"
            time.sleep(0.1)
        raise AssertionError("engine did not answer within 60 s")

    def stop(self) -> None:
        terminate(self.proc)
        self.client.close()
        self.log.close()


def wait_until(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def gone(pid: int) -> bool:
    """The process has exited (an orphan nobody reaps stays a zombie: that counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return "State:\tZ" in status


def read_db(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioProcess:
    """`python launch.py` on its own data directory: it starts an engine there (none runs yet) and the Gradio
    app; `client` is a gradio_client.Client on the app, `engine` an engine client on the engine it started."""

    def __init__(self, home: Path, workers: int = 1, timeout: float = 120, stop_engine: bool = True,
                 public: bool = False, env: dict | None = None):
        from gradio_client import Client

        self.home, self.port, self.stop_engine = home, free_port(), stop_engine
        self.url = f"http://127.0.0.1:{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        self.log = (home / f"studio-{time.time_ns()}.log").open("wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "launch.py", *(["--public"] if public else [])], cwd=ROOT, stdout=self.log,
            stderr=subprocess.STDOUT, env={**os.environ, "W2S_HOME": str(home), "W2S_STUDIO_PORT": str(self.port),
                                           "W2S_WORKERS": str(workers), **(env or {})})
        while True:
            assert self.proc.poll() is None, f"studio exited: {Path(self.log.name).read_text()}"
            assert time.monotonic() - t0 < timeout, f"studio did not answer: {Path(self.log.name).read_text()}"
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.startup_s = time.monotonic() - t0
        info = find_engine(home)
        assert info is not None, "launch.py answered but no engine is registered in its data directory"
        self.engine = EngineClient(info.url, info.token, info=info)
        self.engine_pid = info.pid
        self.db = Path(info.db)
        self.client = Client(self.url, verbose=False)

    def stop(self) -> None:
        """Stop the app, then (unless told not to) the engine, and wait until the engine let go of the database."""
        terminate(self.proc)
        if self.stop_engine:
            try:
                self.engine.shutdown()
            except EngineError:
                pass
            wait_until(lambda: gone(self.engine_pid), 30, "the engine to exit")
        self.engine.close()
        self.log.close()
