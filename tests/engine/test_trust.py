"""Trustworthy numbers: a result depends on its config alone, never on the cache, the batch split or the seed.

    .venv/bin/python -m pytest -q tests/test_trust.py

One block per way a result used to depend on something else: the order cached rows come back in (and the two
methods that joined by position, bootstrap and probe_relabel), aux_conf's threshold and the loss under gradient
accumulation, how a reward scorer's scores become probabilities, the test set under another seed, cache keys
(data file content, model content and revision, code versions, the settings each stage reads, sampling that
does not depend on the batch) and the defaults the papers use (dropout off, weak_lr). Runs are real and small:
the tiny models of conftest on toy_sentiment, or the shipped world zoo.
"""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from engine.config import config_from_dict
from engine.server.store import Store
from tests.helpers import NullContext, run_config, small_toy


def predictions(store, run_id) -> dict[tuple[str, str], pd.Series]:
    """{(role, split): p by example id} of every stage of a run."""
    out = {}
    for st in store.run(run_id)["stages"]:
        for split, cols in store.stage_lookup(st["stage_key"]).items():
            out[(st["role"], split)] = pd.Series(cols["prob"], index=cols["id"], dtype=float).sort_index()
    return out


def roles(store, run_id) -> dict[str, dict]:
    return {s["role"]: s for s in store.run(run_id)["stages"]}


# ----------------------------------------------------------------------------- 1, 8: row order; bootstrap, probe
def test_a_cached_stage_returns_its_rows_in_the_order_it_wrote_them(store):
    store.handle({"type": "stage_start", "run_id": "r", "key": "k", "role": "weak", "kind": "classifier",
                  "model": "m", "config": {}})
    ids = ["e9", "e1", "e5", "e3"]
    store.handle({"type": "stage_done", "run_id": "r", "key": "k", "seconds": 0.0,
                  "predictions": {"B": {"id": ids, "prob": [0.9, 0.1, 0.5, 0.3], "gold": [1, 0, 1, 0]}}})
    back = store.stage_lookup("k")["B"]
    assert back["id"] == ids and back["prob"] == [0.9, 0.1, 0.5, 0.3]


def test_bootstrap_with_cached_weak_and_intermediates_trains_the_student_it_would_train_fresh(tmp_path, tiny_models):
    # A rerun that changes only the strong model reuses the weak model and the intermediates from the cache; the
    # student must get the same (cross-fitted) labels as in a run where every stage is fresh.
    other = tiny_models["weak"]
    cfg = small_toy(tiny_models, methods=["bootstrap"], settings={"bootstrap": {"via": [tiny_models["strong"]]}})
    warm, cold = Store(tmp_path / "warm.duckdb"), Store(tmp_path / "cold.duckdb")
    run_config(warm, cfg)
    warm_id, warm_s = run_config(warm, {**cfg, "strong": other})
    cold_id, cold_s = run_config(cold, {**cfg, "strong": other})
    stages = roles(warm, warm_id)
    assert stages["weak"]["cached"] and stages["intermediate1_fold0"]["cached"] and not stages["student"]["cached"]
    assert stages["student"]["stage_key"] == roles(cold, cold_id)["student"]["stage_key"]
    a, b = predictions(warm, warm_id), predictions(cold, cold_id)
    assert np.array_equal(a[("student", "test")].to_numpy(), b[("student", "test")].to_numpy())
    for name in ("student_acc", "pgr", "weak_label_acc", "intermediate1_label_acc"):
        assert warm_s[name] == cold_s[name], name
    # weak_label_acc is the weak model's labels on B against gold, joined by id
    weak_b = a[("weak", "B")]
    gold = warm.con.execute("SELECT example_id, gold FROM examples").df().set_index("example_id")["gold"]
    assert warm_s["weak_label_acc"] == pytest.approx(((weak_b >= 0.5).astype(int) == gold[weak_b.index]).mean())
    warm.close()
    cold.close()


@pytest.mark.parametrize("settings", [{"probe": "knn", "k": 10, "mode": "relabel"},
                                      {"probe": "logreg", "mode": "filter", "contamination": 0.25}])
def test_probe_relabel_reports_against_the_plain_student_it_shares_with_naive(store, tiny_models, settings):
    naive_id, _ = run_config(store, small_toy(tiny_models))
    run_id, s = run_config(store, small_toy(tiny_models, methods=["probe_relabel"], settings={"probe_relabel": settings}))
    stages = roles(store, run_id)
    assert stages["student_plain"]["cached"] and not stages["student"]["cached"]
    assert stages["student_plain"]["stage_key"] == roles(store, naive_id)["student"]["stage_key"]
    p = predictions(store, run_id)
    gold = store.con.execute("SELECT example_id, gold FROM examples").df().set_index("example_id")["gold"]
    plain = p[("student_plain", "test")]
    assert s["plain_student_acc"] == pytest.approx(((plain >= 0.5).astype(int) == gold[plain.index]).mean())
    weak_b = p[("weak", "B")]
    assert s["weak_label_acc"] == pytest.approx(((weak_b >= 0.5).astype(int) == gold[weak_b.index]).mean())
    n_b = s["n_train_b"]
    expected = n_b - round(settings["contamination"] * n_b) if settings["mode"] == "filter" else n_b
    assert s["n_student_train"] == expected and 0 <= s["probe_label_acc"] <= 1


# ----------------------------------------------------------------------------- 2, 3: the logical batch
def reference_logconf(logits, labels, coef):
    """openai/weak-to-strong's logconf_loss_fn (weak_to_strong/loss.py) after its warm-up, at weight `coef`."""
    logits, labels = logits.float(), labels.float()
    preds = torch.softmax(logits, dim=-1)
    mean_weak = torch.mean(labels, dim=0)
    threshold = torch.quantile(preds[:, 0], mean_weak[1])
    strong_preds = torch.cat([(preds[:, 0] >= threshold)[:, None], (preds[:, 0] < threshold)[:, None]], dim=1)
    target = labels * (1 - coef) + strong_preds.detach() * coef
    return torch.nn.functional.cross_entropy(logits, target, reduction="none").mean()


@pytest.mark.parametrize("grad_accum", [1, 2, 8])
def test_aux_conf_loss_on_a_logical_batch_matches_the_reference_formula(tiny_models, tmp_path, grad_accum):
    from transformers import DataCollatorWithPadding, TrainingArguments

    from engine.config import TrainConfig
    from engine.ml.classifier import _trainer_class
    from engine.ml.loading import load_classifier
    from engine.ml.losses import LossSpec
    from engine.ml.scoring import pooled_logits, tokenize
    from engine.models import resolve_model
    from engine.registry import TASKS

    trainer_cls = _trainer_class()
    examples = TASKS.get("toy_sentiment")().load()["train"][:64]
    rng = np.random.default_rng(0)
    soft = np.clip(np.array([e.label for e in examples]) * 0.6 + 0.2 + rng.normal(0, 0.1, len(examples)), 0, 1)
    torch.manual_seed(0)
    model, tok = load_classifier(resolve_model(tiny_models["strong"]), TrainConfig())
    rows, _ = tokenize(tok, [e.text for e in examples], 64)
    for row, y in zip(rows, soft):
        row["labels"] = float(y)
    batch = 16
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=batch // grad_accum,
                             gradient_accumulation_steps=grad_accum, report_to="none", use_cpu=True, seed=0,
                             data_seed=0, remove_unused_columns=False, label_names=["labels"], disable_tqdm=True)
    trainer = trainer_cls(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tok))
    trainer.loss_spec = LossSpec("aux_conf", aux_coef=0.75, warmup_frac=0.2)
    trainer.state.max_steps, trainer.state.global_step = 10, 5  # past the warm-up: the weight is aux_coef
    micro = list(itertools.islice(iter(trainer.get_train_dataloader()), grad_accum))
    samples, n_items = trainer.get_batch_samples(iter(micro), grad_accum, trainer.args.device)
    model.zero_grad()
    loss = sum(trainer.training_step(model, mb, n_items).item() for mb in samples)
    grads = [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]
    # The reference: every micro-batch's logits stacked, one loss over the logical batch, one backward.
    model.zero_grad()
    logits = torch.cat([pooled_logits(model, mb["input_ids"], mb["attention_mask"]) for mb in micro])
    labels = torch.cat([mb["labels"] for mb in micro]).float()
    ref = reference_logconf(logits, torch.stack([1 - labels, labels], dim=1), coef=0.75)
    ref.backward()
    assert len(labels) == batch
    assert abs(loss - ref.item()) < 1e-6
    ref_grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(ref_grads)
    assert max((g - r).abs().max().item() for g, r in zip(grads, ref_grads)) < 1e-6


def _fit(tiny_models, loss, grad_accum, dropout_model=None, **settings):
    from engine.config import TrainConfig
    from engine.ml.classifier import fit_and_predict
    from engine.models import resolve_model
    from engine.registry import TASKS

    class Curves:
        rows: list = []

        def progress(self, *a, **k):
            pass

        def check_cancelled(self):
            pass

        def metrics(self, rows):
            self.rows = self.rows + rows

    examples = TASKS.get("toy_sentiment")().load()["train"][:96]
    ctx = Curves()
    cfg = TrainConfig(epochs=2, batch_size=16, grad_accum=grad_accum, **settings)
    probs, _ = fit_and_predict(resolve_model(dropout_model or tiny_models["strong"]), cfg, 1e-3,
                               [e.text for e in examples], np.array([float(e.label) for e in examples]), loss,
                               {"test": [e.text for e in examples[:40]]}, 0, ctx, "s", "k")
    return probs["test"], [r["value"] for r in ctx.rows if r["name"] == "train_loss"]


@pytest.mark.parametrize("loss", ["xent", "aux_conf"])
def test_classifier_training_does_not_depend_on_grad_accum(tiny_models, loss):
    from engine.ml.losses import LossSpec

    p1, curve1 = _fit(tiny_models, LossSpec(loss), 1)
    p4, curve4 = _fit(tiny_models, LossSpec(loss), 4)
    assert curve1 == pytest.approx(curve4, rel=1e-5)  # the logged loss is the logical batch's, not 4x it
    assert np.abs(p1 - p4).max() < 1e-5


def test_reward_model_training_does_not_depend_on_grad_accum():
    from engine.config import TrainConfig
    from engine.ml.losses import LossSpec
    from engine.ml.pairs import Pairs
    from engine.ml.scoring import reward_scores
    from engine.ml.trl_trainers import train_reward_model
    from engine.models import resolve_model
    from engine.registry import TASKS


    pairs = Pairs.of(TASKS.get("world_pref")().load()["train"][:64])
    soft = np.linspace(0.3, 0.9, len(pairs))
    out = []
    for grad_accum in (1, 4):
        cfg = TrainConfig(epochs=2, batch_size=16, grad_accum=grad_accum)
        rm, tok = train_reward_model(resolve_model("world-xs"), cfg, 1e-3, pairs, soft, LossSpec("aux_conf"), 0,
                                     NullContext(), "weak", "k")
        out.append(np.concatenate(reward_scores(rm, tok, pairs, cfg)))
    assert np.abs(out[0] - out[1]).max() < 1e-4


# ----------------------------------------------------------------------------- 4: one declared transform per scorer
def test_a_reward_scorer_is_always_cut_at_zero(tmp_path, store):
    """A reward model whose scores all fall in [0, 1] is still read through a sigmoid: P(right) = s(score)."""
    from transformers import GPT2ForSequenceClassification

    from engine.ml.scorers import get_scorer
    from engine.models import resolve_model
    from engine.plan import load_splits
    from engine.run.context import LocalContext
    from engine.run.policy_stages import generation_stage
    from engine.run.stages import Experiment

    folder = shutil.copytree(resolve_model("world-xs").source, tmp_path / "rm")  # its tokenizer files
    rm = GPT2ForSequenceClassification.from_pretrained(folder, num_labels=1)
    with torch.no_grad():  # every response scores 0.3: the final norm outputs ones, the head sums 0.3 / width
        rm.transformer.ln_f.weight.zero_()
        rm.transformer.ln_f.bias.fill_(1.0)
        rm.score.weight.fill_(0.3 / rm.config.n_embd)
    rm.save_pretrained(folder)
    (spec,) = config_from_dict({"task": "world_gen", "weak": "world-xs", "strong": "world-xs", "n_train": 16,
                                "n_test": 8, "methods": ["delta"]}).expand()
    version, splits = load_splits(spec)
    run_id = store.create_run(spec.to_dict(), status="running")
    exp = Experiment(spec, LocalContext(store, run_id, show_progress=False), splits, version, "sk")
    ids = exp.ids("test")
    result = generation_stage(exp, "weak", "world-xs", {"test": (ids, exp.texts(ids))},
                              get_scorer(f"reward_model:{folder}"), 4)
    scores = np.array([r["gold_score"] for r in result.output("test", ids)])
    assert np.allclose(scores, 0.3, atol=1e-4)
    assert np.allclose(result.preds["test"].aligned(ids), 1 / (1 + np.exp(-scores)))  # 0.574, not 0.3


def test_scorers_declare_their_scale_and_a_wrong_declaration_is_an_error():
    from engine.ml.scorers import ScorerError, as_prob, get_scorer
    from engine.registry import SCORERS

    assert {n: SCORERS.get(n).scale for n in SCORERS.names()} == {
        "world_facts": "probability", "reward_model": "logit", "toxic_words": "probability",
        "classifier": "probability", "answer_match": "probability"}
    assert as_prob(get_scorer("toxic_words:guard"), [0.0, 1.0]).tolist() == [0.0, 1.0]
    with pytest.raises(ScorerError, match="declares probability scores but gave 1.7"):
        as_prob(get_scorer("toxic_words:guard"), [0.2, 1.7])


# ----------------------------------------------------------------------------- 5: one test set per task version
@pytest.mark.parametrize("pools", ["carved", "given"])
def test_the_test_set_is_the_same_for_every_seed(pools):
    from engine.tasks.base import Example, split_examples

    train = [Example(f"e{i}", f"x {i}", int(i % 3 == 0)) for i in range(300)]  # unbalanced: balancing drops rows
    test = [Example(f"t{i}", f"t {i}", int(i % 4 == 0)) for i in range(100)]
    source = {"train": train} if pools == "carved" else {"train": train, "test": test}
    splits = [split_examples(source, seed, n_test=30, balance=True) for seed in (0, 1, 2)]
    tests = [[e.id for e in s.test] for s in splits]
    assert tests[0] == tests[1] == tests[2] and len(tests[0]) == 30
    assert len({tuple(e.id for e in s.a) for s in splits}) == 3  # the seed still picks the halves
    assert all(not {e.id for e in s.test} & {e.id for e in s.a + s.b} for s in splits)


def test_a_run_records_which_test_set_it_scored_on(store, tiny_models):
    sets = {run_config(store, small_toy(tiny_models, seeds=[seed]))[1]["test_set"] for seed in (0, 1)}
    assert len(sets) == 1 and len(sets.pop()) == 16
