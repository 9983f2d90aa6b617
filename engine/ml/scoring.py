"""How a model scores text: class logits pooled at the last real token, p(class 1), activations, summed
log-probs of completions, preference margins and reward-model scores.

    logits = pooled_logits(model, batch["input_ids"], batch["attention_mask"])
    p1 = predict_probs(model, tok, texts, batch_size=64, max_length=512)
    p1 = predict_batches(model, batches, len(texts))              # batches = padded_batches(...): tokenized once
    logp = pair_margins(policy, tok, pairs, train_cfg)           # summed log-probs and token counts per side
    z = margin(logp, mean=False)                                 # chosen-minus-rejected (DPO); mean=True: SimPO
    r_chosen, r_rejected = reward_scores(rm, tok, pairs, train_cfg)

Scoring mirrors the trainers' tokenisation (engine.ml.pairs), so a margin measured here is the one the loss saw.
Decoder classifiers are pooled at the last *real* token found from the attention mask: the library's own pooling
looks for the pad token id, which breaks when pad == eos or text holds it. torch is imported inside functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.ml.chat import Format
from engine.ml.pairs import Pairs, length_batches, pad_rows


def _hf_model(model: Any) -> Any:
    """The transformers *ForSequenceClassification module, under a peft wrapper if there is one."""
    from peft import PeftModel

    return model.base_model.model if isinstance(model, PeftModel) else model


def last_token_index(attention_mask: Any) -> Any:
    """Index of the last real token per row, from the attention mask (right or left padding)."""
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(dim=1)


def pooled_logits(model: Any, input_ids: Any, attention_mask: Any, hidden_layer: int | None = None) -> Any:
    """Class logits (fp32) pooled at the last real token (decoder models with a `score` head); encoder models
    use their own head's pooling. With `hidden_layer`, that layer's hidden state at the last real token (decoders)
    or the first token (encoders) instead."""
    import torch

    hf = _hf_model(model)
    head = getattr(hf, "score", None)
    if head is None and hidden_layer is None:  # an encoder (BERT-like): its own head pools (CLS -> pooler)
        return model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
    backbone = getattr(hf, hf.base_model_prefix)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=hidden_layer is not None)
    # Decoders summarise a text in its last real token; an encoder in its first ([CLS]), as its own head reads it.
    idx = last_token_index(attention_mask) if head is not None else torch.zeros_like(attention_mask[:, 0])
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    if hidden_layer is not None:
        return out.hidden_states[hidden_layer][rows, idx]
    hidden = out[0][rows, idx]
    return head(hidden.to(head.weight.dtype if hasattr(head, "weight") else hidden.dtype)).float()


def tokenize(tok: Any, texts: list[str], max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenize, truncating from the left (the end of a prompt carries the answer being judged);
    returns the encodings and how many texts were truncated."""
    tok.truncation_side = "left"
    full = tok(texts, truncation=False, add_special_tokens=True)["input_ids"]
    truncated = sum(len(ids) > max_length for ids in full)
    enc = tok(texts, truncation=True, max_length=max_length, add_special_tokens=True)
    return [{"input_ids": i, "attention_mask": m} for i, m in zip(enc["input_ids"], enc["attention_mask"])], truncated


def pad_batch(tok: Any, rows: list[dict[str, list[int]]]) -> tuple[Any, Any]:
    """`tokenize` rows padded as `tok.pad` pads them (the longest row, the tokenizer's pad id and side): input_ids
    and attention_mask, without tok.pad's BatchEncoding round trip (about 1 ms a batch, 30% of a small model's
    training step)."""
    return pad_rows([r["input_ids"] for r in rows], tok.pad_token_id, left=tok.padding_side == "left")


class PadCollator:
    """Trainer's data collator for `tokenize` rows with soft `labels`: what DataCollatorWithPadding(tok) returns
    for them (input_ids, attention_mask, float labels), through pad_batch."""

    def __init__(self, tok: Any):
        self.tok = tok

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids, mask = pad_batch(self.tok, rows)
        return {"input_ids": ids, "attention_mask": mask,
                "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.float32)}


def padded_batches(tok: Any, texts: list[str], batch_size: int, max_length: int) -> list[tuple[list[int], Any, Any]]:
    """`texts` tokenized once and padded into batches of similar length: [(positions in `texts`, input_ids,
    attention_mask)]. A finetune that labels the same texts at every evaluation point builds these once."""
    rows, _ = tokenize(tok, texts, max_length)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    out = []
    for b in range(math.ceil(len(rows) / batch_size)):
        idx = order[b * batch_size : (b + 1) * batch_size]
        out.append((idx, *pad_batch(tok, [rows[i] for i in idx])))
    return out


def predict_batches(model: Any, batches: list[tuple[list[int], Any, Any]], n: int, ctx: Any = None,
                    stage: str = "predict") -> np.ndarray:
    """p(class 1) for each of the `n` texts that `batches` (padded_batches) hold."""
    import torch

    out = np.zeros(n, dtype=np.float64)
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():  # not inference_mode: this also runs between training steps
        for b, (idx, input_ids, attention_mask) in enumerate(batches):
            logits = pooled_logits(model, input_ids.to(device), attention_mask.to(device))
            out[idx] = logits.float().softmax(-1)[:, 1].cpu().numpy()
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return out


def predict_probs(model: Any, tok: Any, texts: list[str], batch_size: int, max_length: int, ctx: Any = None,
                  stage: str = "predict") -> np.ndarray:
    """p(class 1) for each text, batched by similar length."""
    return predict_batches(model, padded_batches(tok, texts, batch_size, max_length), len(texts), ctx, stage)


def hidden_states(spec: Any, cfg: Any, texts: list[str], layer: int | None, ctx: Any = None,
                  stage: str = "activations") -> np.ndarray:
    """Frozen pretrained activations at `layer` (None = the middle layer), pooled at the last real token."""
    import torch

    from engine.ml.loading import load_classifier

    model, tok = load_classifier(spec, cfg, trainable=False)
    model.eval()
    n_layers = model.config.num_hidden_layers
    layer = n_layers // 2 if layer is None else layer
    rows, _ = tokenize(tok, texts, cfg.max_length)
    feats = []
    n_batches = math.ceil(len(rows) / cfg.eval_batch_size)
    device = next(model.parameters()).device
    with torch.no_grad():
        for b in range(n_batches):
            ids, mask = pad_batch(tok, rows[b * cfg.eval_batch_size : (b + 1) * cfg.eval_batch_size])
            h = pooled_logits(model, ids.to(device), mask.to(device), hidden_layer=layer)
            feats.append(h.float().cpu().numpy())
            if ctx is not None:
                ctx.progress(stage, b + 1, n_batches, unit="batch")
    return np.concatenate(feats) if feats else np.zeros((0, 1))


def completion_logps(model: Any, tok: Any, prompts: list[str], completions: list[str], cfg: Any, bos: bool = False,
                     ctx: Any = None, stage: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """Summed log-probability of each completion (with its EOS, or its chat template's end of turn) after its prompt,
    and its number of tokens. A sequence longer than cfg.max_length loses its first tokens (`fit_prompts` makes that
    rare)."""
    rows, fmt = [], Format.of(tok, cfg)
    for prompt, completion in zip(prompts, completions):
        full, start = fmt.completion_ids(prompt, completion, bos)
        drop = max(0, len(full) - cfg.max_length)
        rows.append((full[drop:], max(1, start - drop)))  # the first token has no context: never scored
    return row_logps(model, tok, rows, cfg, ctx, stage)


def row_logps(model: Any, tok: Any, rows: list[tuple[list[int], int]], cfg: Any, ctx: Any = None,
              stage: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """For rows of (token ids, first scored position): the summed log-probability of the tokens from that position
    on, and how many were scored; batched by length (cfg.eval_batch_size)."""
    import torch

    total, count = np.zeros(len(rows)), np.zeros(len(rows))
    device = next(model.parameters()).device
    model.eval()
    batches = length_batches([len(r[0]) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.no_grad():
        for b, idx in enumerate(batches):
            ids, mask = pad_rows([rows[i][0] for i in idx], pad_id)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device))[..., 0]
            positions = torch.arange(1, ids.shape[1])[None, :]
            starts = torch.tensor([rows[i][1] for i in idx])[:, None]
            scored = ((positions >= starts) & (mask[:, 1:] == 1)).to(device)
            total[idx] = (logp * scored).sum(-1).cpu().numpy()
            count[idx] = scored.sum(-1).cpu().numpy()
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return total, count


def pair_margins(model: Any, tok: Any, pairs: Pairs, cfg: Any, bos: bool = False, ctx: Any = None,
                 stage: str = "score") -> dict[str, np.ndarray]:
    """Log-probs of both sides of every pair: logp_/n_ chosen and rejected (summed log-prob, token count)."""
    both_c, n_c = completion_logps(model, tok, pairs.prompts + pairs.prompts, pairs.chosen + pairs.rejected, cfg,
                                   bos, ctx, stage)
    k = len(pairs)
    return {"logp_chosen": both_c[:k], "logp_rejected": both_c[k:], "n_chosen": n_c[:k], "n_rejected": n_c[k:]}


def margin(logps: dict[str, np.ndarray], mean: bool) -> np.ndarray:
    """Chosen-minus-rejected log-prob: summed (DPO) or per token (SimPO, length-normalised DPO)."""
    if mean:
        return logps["logp_chosen"] / np.maximum(logps["n_chosen"], 1) - logps["logp_rejected"] / np.maximum(
            logps["n_rejected"], 1)
    return logps["logp_chosen"] - logps["logp_rejected"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -60, 60)))


def reward_scores(model: Any, tok: Any, pairs: Pairs, cfg: Any, ctx: Any = None, stage: str = "score"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A reward model's scalar reward of prompt + chosen and prompt + rejected (with EOS, as RewardTrainer
    formats them), pooled at the last real token."""
    texts = pairs.prompts + pairs.prompts
    rewards = score_texts(model, tok, texts, pairs.chosen + pairs.rejected, cfg, ctx, stage)
    return rewards[: len(pairs)], rewards[len(pairs):]


def score_texts(model: Any, tok: Any, prompts: list[str], responses: list[str], cfg: Any, ctx: Any = None,
                stage: str = "score", encoding: str = "text") -> np.ndarray:
    """A reward model's score of each (prompt, response), encoded as `reward_ids` says (`encoding`; "pair" also
    passes the encoder's segment ids)."""
    import torch

    if encoding == "pair":
        tok.truncation_side = "left"  # cut the prompt segment from the left, keep the response being judged
        rows = [dict(tok(p, r, truncation="only_first", max_length=cfg.max_length))
                for p, r in zip(prompts, responses)]
    else:
        rows = [{"input_ids": reward_ids(tok, p, r, cfg.max_length, encoding)} for p, r in zip(prompts, responses)]
    out = np.zeros(len(rows))
    device = next(model.parameters()).device
    model.eval()
    batches = length_batches([len(r["input_ids"]) for r in rows], cfg.eval_batch_size)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.no_grad():
        for b, idx in enumerate(batches):
            if encoding == "pair":
                batch = tok.pad([rows[i] for i in idx], return_tensors="pt").to(device)
                logits = model(**batch).logits.float()
            else:
                ids, mask = pad_rows([rows[i]["input_ids"] for i in idx], pad_id)
                logits = pooled_logits(model, ids.to(device), mask.to(device)).float()
            # A one-output head is the reward; a two-class head (a classifier used as a judge) scores logit 1 - logit 0.
            reward = logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]
            out[idx] = reward.cpu().numpy()
            if ctx is not None:
                ctx.progress(stage, b + 1, len(batches), unit="batch")
                ctx.check_cancelled()
    return out


def reward_ids(tok: Any, prompt: str, response: str, max_length: int, encoding: str = "text") -> list[int]:
    """Token ids a reward model scores: "text" = prompt + response + EOS (how the trained reward models here read
    pairs, as RewardTrainer formats them), "chat" = a user and an assistant turn through the tokenizer's chat
    template, "pair" = the tokenizer's two-segment encoding ([CLS] prompt [SEP] response [SEP]). Cut from the left
    (the response end is what is judged)."""
    if encoding == "chat":
        return Format(tok, True).completion_ids(prompt, response)[0][-max_length:]
    if encoding == "pair":
        tok.truncation_side = "left"
        return tok(prompt, response, truncation="only_first", max_length=max_length)["input_ids"]
    ids = tok(prompt + response)["input_ids"]
    if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
        ids = ids + [tok.eos_token_id]
    return ids[-max_length:]
