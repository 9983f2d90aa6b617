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

    def __init__(self, home: Path, db: Path, workers: int = 1, port: int = 0, args: tuple[str, ...] = (),
                 public: bool = False, env: dict | None = None):
        self.home, self.db = home, db
        home.mkdir(parents=True, exist_ok=True)
        self.log = (home / f"serve-{time.time_ns()}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--db", str(db), "--port", str(port), "--workers",
             str(workers), "--grace", "3", *(["--public"] if public else []), *args], cwd=ROOT,
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


class LocalRayCluster:
    """A real Ray cluster on this machine: a head and `nodes - 1` worker nodes, CPU only, each `ray start --block` in
    its own session on free ports under a private temp dir. stop() kills exactly those process groups; never
    `ray stop`, which stops every Ray process on the machine (other clusters included). Token authentication is off
    for its processes and for the engines given `env` (a ~/.ray/auth_token left by any local `ray.init()` would
    otherwise turn it on for some of them and not others)."""

    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

    def __init__(self, nodes: int = 2, cpus: int = 1, memory: int = 3 * 2**30, timeout: float = 120):
        import tempfile

        self.tmp = Path(tempfile.mkdtemp(prefix="w2sray-", dir="/tmp"))  # short: Ray's socket paths have a limit
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.used = {self.port}  # every port handed to a node so far
        self.procs: list[subprocess.Popen] = []
        t0 = time.monotonic()
        try:
            for i in range(nodes):
                self._start(i, cpus, memory, timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0

    def _start(self, i: int, cpus: int, memory: int, timeout: float) -> None:
        ray = Path(sys.executable).with_name("ray")
        ports = self._distinct_ports(3)  # a port the OS just freed can come back at once: never give one twice
        args = [str(ray), "start", "--block", "--disable-usage-stats", f"--num-cpus={cpus}", "--num-gpus=0",
                f"--memory={memory}", f"--object-store-memory={100 * 2**20}",
                f"--dashboard-agent-listen-port={ports[0]}", f"--resources={{\"node{i}\": 1}}"]
        if i == 0:
            args += ["--head", f"--port={self.port}", f"--ray-client-server-port={ports[1]}",
                     f"--dashboard-port={ports[2]}", "--include-dashboard=false", f"--temp-dir={self.tmp}"]
        else:
            args += [f"--address={self.address}"]
        log_path = self.tmp / f"node{i}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
                                    env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)})
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, f"ray start exited: {log_path.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() < deadline, f"ray node {i} did not start: {log_path.read_text()[-3000:]}"
            time.sleep(0.2)

    def _distinct_ports(self, n: int) -> list[int]:
        out: list[int] = []
        while len(out) < n:
            if (port := free_port()) not in self.used:
                self.used.add(port)
                out.append(port)
        return out

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the cluster's own processes: raylets, GCS, agents and the Ray
        worker processes the actors run in (a run's worker, in its own session, is not counted)."""
        groups, total = {p.pid for p in self.procs}, 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in groups:  # pgrp
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def kill_node(self, i: int) -> None:
        """Node i dies at once (its raylet and every worker process on it), as a machine that loses power."""
        import signal

        try:
            os.killpg(self.procs[i].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.procs[i].wait()

    def stop(self) -> None:
        import shutil

        for i in reversed(range(len(self.procs))):
            self.kill_node(i)
        shutil.rmtree(self.tmp, ignore_errors=True)


def fake_run(store, method: str = "naive", seed: int = 0, tags: str | None = None, task: str = "toy_sentiment",
             n_test: int = 4, keys: dict[str, str] | None = None, keep: dict | None = None) -> tuple[str, dict[str, str]]:
    """A finished run written through the store's events, without training: examples, a weak / ceiling / student
    stage each with test predictions, run-level metrics. `keys` names the stage keys (shared keys = a cached stage),
    `keep` maps a role to its kept-weights record. Returns (run id, {role: stage key})."""
    import uuid

    spec = {"name": "fake", "task": task, "weak": "w", "strong": "s", "method": method, "seed": seed,
            "train": {"epochs": 2.0, "keep_weights": bool(keep)}, "method_config": {"aux_coef": 0.5}}
    run_id = store.create_run(spec, status="running", tags=tags)
    ids = [f"e{i}" for i in range(n_test)]
    store.handle({"type": "run_info", "run_id": run_id, "task_version": f"{task}@1", "split_key": "sk",
                  "versions": {}})
    store.handle({"type": "examples", "run_id": run_id, "task_version": f"{task}@1", "split_key": "sk", "examples": {
        "id": ids, "source": [task] * n_test, "text": [f"text {i}" for i in ids], "gold": [i % 2 for i in range(n_test)],
        "meta": ["{}"] * n_test, "split": ["test"] * n_test}})
    keys = dict(keys or {})
    for k, role in enumerate(("weak", "ceiling", "student")):
        key = keys.setdefault(role, uuid.uuid4().hex[:24])
        if store.stage_lookup(key) is not None:
            store.handle({"type": "stage_cached", "run_id": run_id, "key": key, "role": role})
            continue
        store.handle({"type": "stage_start", "run_id": run_id, "key": key, "role": role, "kind": "classifier",
                      "model": "m", "config": {}})
        if keep and role in keep:
            store.handle({"type": "weights_saved", "run_id": run_id, "key": key, "role": role, **keep[role]})
        probs = [round((0.2 + 0.1 * k + 0.15 * i) % 1, 3) for i in range(n_test)]
        store.handle({"type": "stage_done", "run_id": run_id, "key": key, "seconds": 1.0, "predictions": {
            "test": {"id": ids, "prob": probs, "gold": [i % 2 for i in range(n_test)]}}})
    store.handle({"type": "metrics", "run_id": run_id, "rows": [
        {"name": "pgr", "value": 0.5 + seed / 10}, {"name": "student_acc", "value": 0.75},
        {"name": "pgr_reason", "value": "ok"}, {"name": "seed", "value": float(seed)}]})
    store.set_status(run_id, "done")
    return run_id, keys


def run_config(store, cfg: dict):
    """Run the one run `cfg` expands to in this process on `store`; (run id, summary), asserting it finished."""
    from engine.config import config_from_dict
    from engine.run.execute import run_local

    (spec,) = config_from_dict(cfg).expand()
    run_id, status, summary = run_local(spec, store, progress=False)
    assert status == "done", summary
    return run_id, summary


def small_toy(tiny_models, **over) -> dict:
    """The toy task on the two tiny models with a 96-example training pool and 48 test examples (seconds)."""
    cfg = {"task": "toy_sentiment", "weak": tiny_models["weak"], "strong": tiny_models["strong"], "methods": ["naive"],
           "seeds": [0], "n_train": 96, "n_test": 48, "train": {"epochs": 2, "lr": 1e-3, "batch_size": 16}}
    cfg.update(over)
    return cfg


# The preference methods' small world_pref setup (seconds per run) and the per-pair records of a run's role.
SMALL_PREF = {"task": "world_pref", "weak": "world-xs", "strong": "world-s", "n_train": 480, "n_test": 160,
              "seeds": [0], "train": {"epochs": 4, "batch_size": 32}}


def run_preference(store, method: str, **over):
    return run_config(store, {**SMALL_PREF, "methods": [method], **over})


def outputs(store, run_id: str, role: str, split: str = "test") -> list[dict]:
    import json

    df, _ = store.predictions_page(run_id, split=split, role=role, limit=10_000)
    return [json.loads(o) for o in df[f"{role}_output"]]


class NullContext:
    """A run context that drops progress and metrics (for calling a trainer directly)."""

    def progress(self, *a, **k):
        pass

    def check_cancelled(self):
        pass

    def metrics(self, rows):
        pass


# ----------------------------------------------------------------------------- tiny hub-architecture models
# A ChatML-style template, as Qwen2.5-Instruct ships it (system turns left out).
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
ARCHITECTURES = ("gpt2", "qwen2", "llama", "gemma3", "opt", "bert")
_SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "[CLS]", "[SEP]"]


def bpe_tokenizer(corpus: list[str], encoder: bool = False, chat: bool = True, vocab_size: int = 400):
    """A byte-level BPE tokenizer trained on `corpus` (no download), with a pad, BOS / EOS, the chat template's
    special tokens and template; `encoder`: BERT-style [CLS] A [SEP] (B [SEP]) segments instead."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=_SPECIAL,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if encoder:
        cls, sep = tk.token_to_id("[CLS]"), tk.token_to_id("[SEP]")
        tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                          special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        fast = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", cls_token="[CLS]",
                                       sep_token="[SEP]", model_input_names=["input_ids", "token_type_ids",
                                                                             "attention_mask"])
    else:
        fast = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                       eos_token="</s>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def build_arch_model(folder: Path, arch: str, tok, hidden: int = 16, layers: int = 1, seed: int = 0,
                     dtype: str = "bfloat16") -> Path:
    """A randomly initialised tiny model of a real architecture (GPT-2, Qwen2, Llama, Gemma3, OPT, or a BERT
    encoder), saved with `tok` in `dtype` (hub checkpoints of these families are bf16) in the standard HF format."""
    import torch
    import transformers as T

    torch.manual_seed(seed)
    vocab, heads = len(tok), 2
    common = dict(vocab_size=vocab, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                  eos_token_id=tok.eos_token_id)
    configs = {
        "gpt2": lambda: T.GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=1024,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common),
        "qwen2": lambda: T.Qwen2Config(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                       num_attention_heads=heads, num_key_value_heads=1, max_position_embeddings=1024,
                                       **common),
        "llama": lambda: T.LlamaConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                       num_attention_heads=heads, num_key_value_heads=1, max_position_embeddings=1024,
                                       **common),
        "gemma3": lambda: T.Gemma3TextConfig(hidden_size=hidden, intermediate_size=2 * hidden,
                                             num_hidden_layers=layers, num_attention_heads=heads,
                                             num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
                                             sliding_window=64, **common),
        "opt": lambda: T.OPTConfig(hidden_size=hidden, ffn_dim=2 * hidden, num_hidden_layers=layers,
                                   num_attention_heads=heads, word_embed_proj_dim=hidden, max_position_embeddings=1024,
                                   dropout=0.0, **common),
        "bert": lambda: T.BertConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                     num_attention_heads=heads, max_position_embeddings=1024, vocab_size=vocab,
                                     pad_token_id=tok.pad_token_id),
    }
    config = configs[arch]()
    model = (T.AutoModelForMaskedLM if arch == "bert" else T.AutoModelForCausalLM).from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.to(getattr(torch, dtype)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def pretrain_lm(folder: Path, texts: list[str], steps: int = 400, lr: float = 3e-3, seed: int = 0) -> Path:
    """A few AdamW steps of language modelling on `texts` (plus EOS), saved back in the folder's own dtype: enough
    for a tiny model to write the corpus's format (a reasoning run needs answers to compare)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.ml.loading import set_threads

    set_threads()  # one thread unless W2S_THREADS says otherwise: two oversubscribe a small box
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    saved = AutoModelForCausalLM.from_pretrained(folder).dtype
    rows = [tok(t)["input_ids"] + [tok.eos_token_id] for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        batch = [rows[(step * 8 + k) % len(rows)] for k in range(8)]
        width = max(map(len, batch))
        ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in batch])
        labels = torch.tensor([r + [-100] * (width - len(r)) for r in batch])
        loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.to(saved).save_pretrained(folder)
    return folder
