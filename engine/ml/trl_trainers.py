"""The trl trainers with CPU-safe settings: SFT, DPO / length-normalised DPO / SimPO, soft-label reward models.

    policy, tok = load_policy(spec, train_cfg)                  # engine.ml.loading
    policy = sft(policy, tok, prompts, completions, train_cfg, lr, 1.0, seed, ctx, "weak", key)
    strong = lm_finetune(strong, tok, texts, train_cfg, lr, 1.0, seed, ctx, "generative", key)   # plain text
    policy = optimize(policy, tok, pairs, PolicyLoss("dpo", beta=0.1), train_cfg, lr, 3.0, seed, ctx, "weak", key)
    rm, tok = train_reward_model(spec, train_cfg, lr, pairs, p_chosen, LossSpec(), seed, ctx, "weak", key)

trl does the optimisation (conversational rows when the tokenizer has a chat template, engine.ml.chat; trainable
weights in fp32, engine.ml.loading): SFTTrainer on prompt/completion pairs, DPOTrainer (`sigmoid` = DPO,
`sigmoid_norm` = length-normalised DPO) with the reference log-probs precomputed from the in-memory policy,
the experimental CPOTrainer for SimPO, and RewardTrainer with a soft-label loss (SoftRewardTrainer). Every
trainer gets the CPU-safe settings (no bf16 autocast or activation checkpointing on CPU, one thread, no
checkpoints, the run's trackers) and streams progress and curves to the run context. torch, transformers and trl
are imported inside functions: importing this module stays light.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any

import numpy as np

from engine.ml.callbacks import train_with_progress, training_args
from engine.ml.chat import Format
from engine.ml.loading import load_reward_model, lora, merged
from engine.ml.losses import LossSpec, PolicyLoss
from engine.ml.pairs import Pairs
from engine.ml.scoring import reward_ids


def _trl_args(config_cls: type, cfg: Any, lr: float, epochs: float, seed: int, out_dir: str, n_rows: int,
              **extra: Any) -> Any:
    """The shared arguments (engine.ml.callbacks.training_args) plus trl's own activation-checkpointing switch."""
    if any(f.name == "disable_dropout" for f in dataclasses.fields(config_cls)):
        extra.setdefault("disable_dropout", not cfg.train_with_dropout)  # trl's own switch, same meaning
    return training_args(config_cls, cfg, lr, epochs, seed, out_dir, n_rows,
                         activation_checkpointing=bool(cfg.gradient_checkpointing), **extra)


def sft(model: Any, tok: Any, prompts: list[str], completions: list[str], cfg: Any, lr: float, epochs: float,
        seed: int, ctx: Any, stage: str, stage_key: str) -> Any:
    """Supervised finetuning on prompt -> completion (loss on the completion and its EOS), trl's SFTTrainer; through
    the chat template as a user and an assistant turn when the tokenizer has one (engine.ml.chat.Format)."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(seed)
    data = Dataset.from_dict(Format.of(tok, cfg).trl_columns(prompts, completion=completions))
    with tempfile.TemporaryDirectory(prefix="w2s-sft-") as out_dir:
        args = _trl_args(SFTConfig, cfg, lr, epochs, seed, out_dir, len(data), max_length=cfg.max_length)
        trainer = train_with_progress(lambda: SFTTrainer(model=lora(model, cfg, "CAUSAL_LM"), args=args, train_dataset=data,
                                            processing_class=tok),
                         ctx, stage, stage_key, "sft", "sft", "finetuning", stage, cfg.batch_size)
    return merged(trainer.model)


def lm_finetune(model: Any, tok: Any, texts: list[str], cfg: Any, lr: float, epochs: float, seed: int, ctx: Any,
                stage: str, stage_key: str) -> Any:
    """Language-model finetuning on plain text (no labels; loss on every token and the EOS trl appends), trl's
    SFTTrainer on its language-modelling format: Burns et al.'s generative finetuning of the strong model."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    set_seed(seed)
    data = Dataset.from_dict({"text": list(texts)})
    with tempfile.TemporaryDirectory(prefix="w2s-lm-") as out_dir:
        args = _trl_args(SFTConfig, cfg, lr, epochs, seed, out_dir, len(data), max_length=cfg.max_length)
        trainer = train_with_progress(lambda: SFTTrainer(model=lora(model, cfg, "CAUSAL_LM"), args=args,
                                                         train_dataset=data, processing_class=tok),
                                      ctx, stage, stage_key, "generative finetuning", "lm", "finetuning", stage,
                                      cfg.batch_size)
    return merged(trainer.model)


def optimize(model: Any, tok: Any, pairs: Pairs, loss: PolicyLoss, cfg: Any, lr: float, epochs: float, seed: int,
             ctx: Any, stage: str, stage_key: str) -> Any:
    """Preference optimisation on `pairs` (chosen preferred): DPO / length-normalised DPO with trl's
    DPOTrainer, SimPO with trl's CPOTrainer (loss simpo, no behaviour-cloning term), ORPO with ORPOTrainer."""
    from datasets import Dataset
    from transformers import set_seed

    set_seed(seed)
    data = Dataset.from_dict(Format.of(tok, cfg).trl_columns(pairs.prompts, chosen=pairs.chosen,
                                                             rejected=pairs.rejected))
    policy = lora(model, cfg, "CAUSAL_LM")
    with tempfile.TemporaryDirectory(prefix="w2s-po-") as out_dir:
        if loss.kind == "orpo":
            os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer

            args = _trl_args(ORPOConfig, cfg, lr, epochs, seed, out_dir, len(data), beta=loss.beta,
                             max_length=cfg.max_length)
            factory = lambda: ORPOTrainer(model=policy, args=args, train_dataset=data, processing_class=tok)  # noqa: E731
        elif loss.kind == "simpo":
            os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
            from trl.experimental.cpo import CPOConfig, CPOTrainer

            args = _trl_args(CPOConfig, cfg, lr, epochs, seed, out_dir, len(data), loss_type="simpo", cpo_alpha=0.0,
                             beta=loss.beta, simpo_gamma=loss.gamma, max_length=cfg.max_length)
            factory = lambda: CPOTrainer(model=policy, args=args, train_dataset=data, processing_class=tok)  # noqa: E731
        else:
            from trl import DPOConfig, DPOTrainer

            # The reference log-probs are computed once, at init, from the in-memory policy: with ref_model=None
            # trl would otherwise reload the reference from the model's folder, i.e. the weights before any SFT.
            args = _trl_args(DPOConfig, cfg, lr, epochs, seed, out_dir, len(data), beta=loss.beta,
                             loss_type=["sigmoid_norm" if loss.kind == "dpo_norm" else "sigmoid"],
                             max_length=cfg.max_length, precompute_ref_log_probs=True,
                             precompute_ref_batch_size=cfg.eval_batch_size)
            factory = lambda: DPOTrainer(model=policy, args=args, train_dataset=data, processing_class=tok)  # noqa: E731
        trainer = train_with_progress(factory, ctx, stage, stage_key, loss.kind, "train", "preference-training", stage,
                         cfg.batch_size)
    return merged(trainer.model)


def _soft_reward_trainer():
    import torch
    from trl import RewardTrainer

    from engine.ml.classifier import logical_batch_trainer
    from engine.ml.scoring import pooled_logits

    class SoftRewardTrainer(logical_batch_trainer(RewardTrainer)):
        """RewardTrainer on soft preference labels p = P(chosen better), with the Burns et al. losses.

        RewardTrainer's only per-pair input is `margin`, a shift inside -log s(r_c - r_r - m) whose optimum is
        still an infinite gap, so it cannot express "chosen is better with probability 0.7". The `margin`
        column (whitelisted and collated by trl) carries p instead, and the loss is the 2-class cross-entropy
        on [r_rejected, r_chosen] against [1 - p, p], i.e. Bradley-Terry with a soft target (engine/ml/losses.py;
        `aux_conf` adds the confidence term), averaged over the logical batch (engine.ml.classifier.logical_batch_trainer:
        aux_conf's threshold and the mean span every micro-batch of a step). Rewards are pooled at the last real
        token from the attention mask.

        `reverse_alpha` > 0 is Yang et al.'s explicit conflict: + alpha * softplus(r_c - r_r) on the pairs the
        model currently ranks backwards (chosen, i.e. the ground truth's better side, scored lower), a term
        that pays the model for staying wrong where it already is.
        """

        reverse_alpha: float = 0.0

        def batch_rows(self, batch):
            return sum(len(b["margin"]) for b in batch)

        def student_logits(self, model, inputs):
            rewards = pooled_logits(model, inputs["input_ids"], inputs["attention_mask"])[:, 0]
            r_chosen, r_rejected = torch.chunk(rewards, 2)
            return torch.stack([r_rejected, r_chosen], dim=-1), inputs["margin"]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logits, p_chosen = self.student_logits(model, inputs)
            loss = self.logical_loss(model, logits, p_chosen)
            r_rejected, r_chosen = logits[:, 0], logits[:, 1]
            if self.reverse_alpha > 0:
                gap = r_chosen - r_rejected
                term = torch.nn.functional.softplus(gap) * (gap.detach() < 0)
                loss = loss + self.reverse_alpha * term.sum() / (self._logical_rows if model.training and
                                                                 self._logical_rows else len(term))
            mode = "train" if model.training else "eval"
            with torch.no_grad():
                self._metrics[mode]["accuracy"].append(((r_chosen > r_rejected) == (p_chosen >= 0.5).to(
                    r_chosen.device)).float().mean().item())
                self._metrics[mode]["margin"].append((r_chosen - r_rejected).mean().item())
            return (loss, {"logits": logits}) if return_outputs else loss

    return SoftRewardTrainer


def train_reward_model(spec: Any, cfg: Any, lr: float, pairs: Pairs, p_chosen: np.ndarray, loss: LossSpec,
                       seed: int, ctx: Any, stage: str, stage_key: str, reverse_alpha: float = 0.0) -> tuple[Any, Any]:
    """A reward model finetuned from `spec` on pairs with soft labels P(chosen better) (1.0 = ground truth);
    `reverse_alpha`: the explicit-conflict term (SoftRewardTrainer)."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import RewardConfig

    set_seed(seed)
    model, tok = load_reward_model(spec, cfg)
    # Tokenised here, truncated from the left, so that no pair is dropped (RewardTrainer drops over-long pairs).
    data = Dataset.from_dict({
        "chosen_ids": [reward_ids(tok, p, c, cfg.max_length) for p, c in zip(pairs.prompts, pairs.chosen)],
        "rejected_ids": [reward_ids(tok, p, r, cfg.max_length) for p, r in zip(pairs.prompts, pairs.rejected)],
        "margin": [float(x) for x in p_chosen],
    })
    trainer_cls = _soft_reward_trainer()
    with tempfile.TemporaryDirectory(prefix="w2s-rm-") as out_dir:
        args = _trl_args(RewardConfig, cfg, lr, cfg.epochs, seed, out_dir, len(data), max_length=None)

        def factory():
            trainer = trainer_cls(model=model, args=args, train_dataset=data, processing_class=tok)
            trainer.loss_spec, trainer.reverse_alpha = loss, reverse_alpha
            return trainer

        trainer = train_with_progress(factory, ctx, stage, stage_key, "reward model", "train", "training", spec.name, cfg.batch_size)
    return trainer.model, tok


