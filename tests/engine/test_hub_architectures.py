"""Hub LLM architectures end to end: tiny GPT-2, Qwen2, Llama, Gemma3, OPT and BERT models built from their real
config classes with a chat template, saved in bf16 (as their hub checkpoints are), trained in fp32 by every
trainer and run through `w2s run` for each method family (classification naive / aux_conf, preference weak_dpo,
reasoning progressive_refine on a local GSM8K-format file).

    .venv/bin/python -m pytest -q tests/engine/test_hub_architectures.py            # the fast representative
    .venv/bin/python -m pytest -q -m slow tests/engine/test_hub_architectures.py    # every architecture
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import ARCHITECTURES, bpe_tokenizer, build_arch_model, pretrain_lm

DECODERS = [a for a in ARCHITECTURES if a != "bert"]


def gsm8k_rows(n: int, offset: int = 0) -> list[dict]:
    """GSM8K-format rows (question, worked answer ending in '#### N'); every answer is 7, so a tiny model learns to
    give it and a reasoning run has answers to compare."""
    names = ["Tom", "Ann", "Sam", "Mia", "Leo", "Zoe", "Max", "Ivy"]
    rows = []
    for i in range(offset, offset + n):
        a = 1 + i % 6
        rows.append({"question": f"On day {i} {names[i % 8]} has {a} apples and buys {7 - a} more. How many apples?",
                     "answer": f"{a} + {7 - a} = 7.\n#### 7"})
    return rows


def pair_rows(n: int) -> list[dict]:
    return [{"prompt": f"Is {i} even?", "chosen": " yes" if i % 2 == 0 else " no",
             "rejected": " no" if i % 2 == 0 else " yes"} for i in range(n)]


class HubWorld:
    """Tokenizers, local data files and tiny models of each architecture, built on first use (a weak and a strong
    one, briefly pretrained on the GSM8K-format text, plain and through the chat template)."""

    def __init__(self, root: Path):
        from engine.tasks.toy import VOCAB

        self.root = root
        data = root / "gsm8k"
        data.mkdir()
        (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gsm8k_rows(40)))
        (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gsm8k_rows(8, offset=100)))
        (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pair_rows(60)))
        self.gsm8k, self.pairs = str(data), str(root / "pairs.jsonl")
        texts = [f"Question: {r['question']}\nAnswer: {r['answer']}" for r in gsm8k_rows(40)]
        corpus = [" ".join(VOCAB)] * 5 + texts + [r["prompt"] + r["chosen"] for r in pair_rows(20)]
        self.tok, self.encoder_tok = bpe_tokenizer(corpus), bpe_tokenizer(corpus, encoder=True, chat=False)
        def turn(user: str, assistant: str) -> str:
            return self.tok.apply_chat_template([{"role": "user", "content": user},
                                                 {"role": "assistant", "content": assistant}], tokenize=False)

        rows = gsm8k_rows(40)
        q = [f"Question: {r['question']}\nAnswer:" for r in rows]
        a = [" " + r["answer"] for r in rows]
        # zero-shot and one-shot documents, plain (demonstrations closed by EOS) and through the chat template
        few = [q[i] + a[i] + self.tok.eos_token + q[i + 1] + a[i + 1] for i in range(0, 39, 2)]
        chat = [turn(q[i], a[i]) for i in range(40)] + [turn(q[i] + a[i] + "\n\n" + q[i + 1], a[i + 1])
                                                        for i in range(1, 39, 2)]
        self.lm_texts = texts + few + chat
        self._models: dict[str, dict[str, str]] = {}

    def models(self, arch: str) -> dict[str, str]:
        if arch not in self._models:
            tok = self.encoder_tok if arch == "bert" else self.tok
            built = {"weak": build_arch_model(self.root / arch / "weak", arch, tok, hidden=16, seed=1),
                     "strong": build_arch_model(self.root / arch / "strong", arch, tok, hidden=32, seed=2)}
            if arch != "bert":
                for folder in built.values():
                    pretrain_lm(folder, self.lm_texts)
            self._models[arch] = {k: str(v) for k, v in built.items()}
        return self._models[arch]


@pytest.fixture(scope="session")
def hub_world(tmp_path_factory) -> HubWorld:
    return HubWorld(tmp_path_factory.mktemp("hub"))


def w2s_run(tmp_path: Path, config: dict) -> list[dict]:
    """`w2s run CONFIG` in this process (the CLI's own entry point); the runs' summaries from the database."""
    from engine.cli import main
    from engine.server.store import Store

    tmp_path.mkdir(parents=True, exist_ok=True)
    path, db = tmp_path / "config.yaml", tmp_path / "runs.duckdb"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--db", str(db), "--quiet"]) == 0
    store = Store(db)
    try:
        runs = store.runs()
        failed = runs[runs.status != "done"]
        assert failed.empty, failed[["method", "error"]].to_dict("records")
        out = []
        for run_id in runs.id:
            run = store.run(run_id)
            run["metrics"] = store.run_metrics(run_id)
            facts = store.con.execute("SELECT rs.role, m.name, m.value FROM run_stages rs JOIN metrics m ON "
                                      "m.stage_key = rs.stage_key WHERE rs.run_id = ? AND m.step IS NULL",
                                      [run_id]).fetchall()
            run["facts"] = {}
            for role, name, value in facts:
                run["facts"].setdefault(role, {})[name] = value
            out.append(run)
        return out
    finally:
        store.close()


def configs(world: HubWorld, arch: str) -> dict[str, dict]:
    m = world.models(arch)
    small = {"batch_size": 8, "eval_batch_size": 16, "lr": 1e-3}
    return {
        "classification": {"task": {"name": "toy_sentiment", "n": 96}, "weak": m["weak"], "strong": m["strong"],
                           "methods": ["naive", "aux_conf"], "train": {"epochs": 1, **small}},
        "preference": {"task": {"name": "pairs_file", "path": world.pairs}, "weak": m["weak"], "strong": m["strong"],
                       "methods": ["weak_dpo"], "train": {**small, "max_length": 64},
                       "settings": {"weak_dpo": {"sft_epochs": 1, "po_epochs": 1}}},
        "reasoning": {"task": {"name": "gsm8k", "data_files": world.gsm8k}, "weak": m["weak"], "strong": m["strong"],
                      "methods": ["progressive_refine"],
                      # the weak model learns the answer format at a higher rate (a per-role setting)
                      "train": {**small, "max_length": 256, "roles": {"weak": {"lr": 5e-3}}},
                      "settings": {"progressive_refine": {
                          "icl_k": 1, "n_samples": 8, "temperature": 1.0, "pass_k": 2, "sft_epochs": 2, "po_epochs": 1,
                          "max_new_tokens": 24, "min_conf": 0.01, "tau": 0.01}}},
    }


class Recorder:
    """A run context that keeps the metric rows trainers report (their stage facts)."""

    def __init__(self):
        self.rows, self.tally = [], {}

    def progress(self, *args, **kwargs):
        pass

    def check_cancelled(self):
        pass

    def metrics(self, rows):
        self.rows += rows

    def count(self, name, n):
        self.tally[name] = self.tally.get(name, 0) + n

    def fp32_shares(self) -> dict[str, float]:
        return {r["name"]: r["value"] for r in self.rows if r["name"].endswith("_trainable_fp32")}


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize("arch,lora", [("qwen2", False), ("llama", True), ("gemma3", True),
                                       *[pytest.param(a, lo, marks=pytest.mark.slow) for a, lo in
                                         (("qwen2", True), ("llama", False), ("gemma3", False))]])
def test_every_trainer_optimises_fp32_weights_of_a_bf16_checkpoint(hub_world, arch, lora):
    from engine.config import TrainConfig
    from engine.ml.classifier import fit_and_predict
    from engine.ml.loading import load_policy
    from engine.ml.losses import LossSpec, PolicyLoss
    from engine.ml.pairs import Pairs
    from engine.ml.trl_trainers import optimize, sft, train_reward_model
    from engine.models import resolve_model

    spec = resolve_model(str(build_arch_model(hub_world.root / f"{arch}-bf16", arch, hub_world.tok, hidden=16)))
    from transformers import AutoModelForCausalLM

    assert str(AutoModelForCausalLM.from_pretrained(spec.source).dtype) == "torch.bfloat16"  # as saved
    texts = [f"the film was {w}" for w in ("good", "bad", "fine", "awful")] * 2
    labels = np.array([1.0, 0.0, 1.0, 0.0] * 2)
    pairs = Pairs([str(i) for i in range(4)], ["Is it good?"] * 4, [" yes"] * 4, [" no"] * 4)
    cfg = TrainConfig(batch_size=4, epochs=1, lora=lora, lora_r=2, max_length=64)
    ctx = Recorder()
    fit_and_predict(spec, cfg, 1e-3, texts, labels, LossSpec(), {"t": texts[:2]}, 0, ctx, "s", "k")
    train_reward_model(spec, cfg, 1e-3, pairs, np.ones(4), LossSpec(), 0, ctx, "rm", "k2")
    policy, tok = load_policy(spec, cfg)
    policy = sft(policy, tok, pairs.prompts, pairs.chosen, cfg, 1e-3, 1.0, 0, ctx, "p", "k3")
    optimize(policy, tok, pairs, PolicyLoss("dpo"), cfg, 1e-3, 1.0, 0, ctx, "p", "k4")
    facts = [r for r in ctx.rows if r["name"].endswith("_trainable_fp32")]
    assert len(facts) == 4 and {r["value"] for r in facts} == {1.0}, facts  # LoRA adapters and heads too


def test_small_updates_reach_the_weights_of_a_bf16_checkpoint(hub_world):
    """transformers 5 loads a bf16 checkpoint as bf16; trained there, AdamW steps of lr 1e-5 round away in most
    weights. Loaded as fp32 master weights, five steps move nearly every weight."""
    import torch

    from engine.config import TrainConfig
    from engine.ml.loading import load_policy
    from engine.ml.trl_trainers import sft
    from engine.models import resolve_model

    spec = resolve_model(str(build_arch_model(hub_world.root / "qwen2-lr", "qwen2", hub_world.tok, hidden=32)))
    cfg = TrainConfig(batch_size=4, max_length=64, lr_schedule="constant")
    policy, tok = load_policy(spec, cfg)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    prompts = [f"Question: is {i} small?\nAnswer:" for i in range(20)]
    trained = sft(policy, tok, prompts, [" yes"] * 20, cfg, 1e-5, 1.0, 0, Recorder(), "p", "k")
    changed = [(p.detach() != before[n]).float().mean().item() for n, p in trained.named_parameters()
               if "embed" not in n]  # embeddings of tokens never seen do not move
    assert np.mean(changed) > 0.9 and all(p.dtype == torch.float32 for p in trained.parameters())


# ----------------------------------------------------------------------------- every method family through `w2s run`
def check_runs(runs: list[dict]) -> None:
    """Every run finished, and every stage that trained optimised fp32 weights only."""
    for run in runs:
        assert run["status"] == "done"
        for role, facts in run["facts"].items():
            for name, value in facts.items():
                if name.endswith("_trainable_fp32"):
                    assert value == 1.0, (run["method"], role, name, value)


def test_qwen2_bf16_chat_model_runs_classification_and_reasoning_end_to_end(hub_world, tmp_path):
    """The fast representative of the sweep below: a Qwen2-architecture model saved in bf16 with a chat template."""
    cfgs = configs(hub_world, "qwen2")
    classification = w2s_run(tmp_path / "c", {**cfgs["classification"], "methods": ["naive"]})
    check_runs(classification)
    assert {r["role"] for r in classification[0]["stages"]} == {"weak", "ceiling", "student"}
    (reasoning,) = w2s_run(tmp_path / "r", cfgs["reasoning"])
    check_runs([reasoning])
    m, facts = reasoning["metrics"], reasoning["facts"]
    assert {"stage1_selected", "stage2_pairs", "student_acc", "weak_acc"} <= set(m) and m["stage2_pairs"] >= 2
    # generation went through the chat template: nothing was cut at max_length 256, every completion was counted
    assert facts["weak"]["gen_prompts_truncated"] == 0 and facts["weak"]["gen_completions"] > 0
    assert {"sft_trainable_fp32", "gen_new_tokens"} <= set(facts["weak"])


@pytest.mark.slow
@pytest.mark.parametrize("arch", DECODERS)
@pytest.mark.parametrize("family", ["classification", "preference", "reasoning"])
def test_every_architecture_runs_every_method_family(hub_world, tmp_path, arch, family):
    runs = w2s_run(tmp_path, configs(hub_world, arch)[family])
    check_runs(runs)
    assert len(runs) == len(configs(hub_world, arch)[family]["methods"])


def test_a_bert_encoder_is_a_weak_or_strong_classifier_pooled_by_its_own_head(hub_world, tmp_path):
    import torch

    from engine.config import TrainConfig
    from engine.ml.loading import load_classifier
    from engine.ml.scoring import pooled_logits
    from engine.models import resolve_model

    bert, qwen = hub_world.models("bert"), hub_world.models("qwen2")
    model, tok = load_classifier(resolve_model(bert["weak"]), TrainConfig())
    model.eval()
    enc = tok(["the film was good", "bad"], return_tensors="pt", padding=True)
    with torch.no_grad():
        own = model(**enc).logits  # CLS -> pooler -> classifier, the model's own pooling
        ours = pooled_logits(model, enc["input_ids"], enc["attention_mask"])
        first = pooled_logits(model, enc["input_ids"], enc["attention_mask"], hidden_layer=-1)
        cls = model.bert(**enc).last_hidden_state[:, 0]
    assert torch.allclose(own, ours, atol=1e-6) and torch.allclose(first, cls, atol=1e-6)
    base = configs(hub_world, "qwen2")["classification"]
    runs = w2s_run(tmp_path / "weak", {**base, "weak": bert["weak"], "strong": qwen["strong"], "methods": ["naive"]})
    runs += w2s_run(tmp_path / "strong", {**base, "weak": qwen["weak"], "strong": bert["strong"],
                                          "methods": ["naive"]})
    check_runs(runs)


def test_a_bert_encoder_as_a_policy_is_refused_with_the_fix(hub_world, tmp_path):
    from engine.cli import main

    cfg = {**configs(hub_world, "qwen2")["preference"], "weak": hub_world.models("bert")["weak"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path / "c.yaml"), "--db", str(tmp_path / "r.duckdb"), "--quiet"]) == 1
    from engine.server.store import Store

    store = Store(tmp_path / "r.duckdb")
    error = store.runs().error.iloc[0]
    store.close()
    assert "cannot be loaded as a causal language model" in error and "encoders such as BERT" in error
