"""Build the arithmetic zoo: a word-level tokenizer and the arith-s / arith-l GPT-2 models, with a manifest.

    python -m engine.worlds.arith.build [--seed 0] [--out assets/zoo/arith] [--scale 1.0]
    build_arith_zoo(tmp_path, scale=0.02)         # a reduced family in seconds, for tests

Each model folder loads with from_pretrained; manifest.json records seed, sizes, tokens, wall time, the
model's own exact-match accuracy on fresh problems (greedy, no finetuning) and the sha256 of every file.
Pretraining is transformers' Trainer on packed 128-token blocks (engine.worlds.pretrain.pretrain_lm).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from engine.paths import arith_dir
from engine.worlds.arith import corpus, extract_answer, make_problem, question, solve, stream, words
from engine.worlds.pretrain import ModelSize, checksums, pretrain_lm, quiet_library_bars

CONTEXT = 128
EOS, PAD, UNK = "<|endoftext|>", "<pad>", "<unk>"
FAMILY: dict[str, ModelSize] = {
    # A 1-layer 32d model cannot even copy the operands (3% solved after SFT): the weak one is 64d x 2L on a small
    # fixed corpus, so it can write a solution but has seen only part of the addition and subtraction tables.
    "s": ModelSize("s", 64, 2, 4, 4e-3, 1200, 12000),
    "l": ModelSize("l", 128, 2, 4, 3e-3, 1200, None),      # an unlimited stream
}


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate((PAD, EOS, UNK, *words()))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=EOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=CONTEXT)


@torch.no_grad()
def solve_rate(model: Any, tok: PreTrainedTokenizerFast, n: int = 300, seed: int = 12345) -> float:
    """Exact-match accuracy of greedy solutions to `n` fresh problems, straight from pretraining."""
    rng = random.Random(seed)
    problems = [make_problem(rng) for _ in range(n)]
    ids = torch.tensor(tok([question(p) for p in problems], add_special_tokens=False)["input_ids"])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    texts = tok.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
    return round(sum(extract_answer(t) == str(solve(p)) for t, p in zip(texts, problems)) / n, 4)


def build_arith_zoo(out_dir: Path, seed: int = 0, scale: float = 1.0, progress: bool = True,
                    sizes: tuple[str, ...] = tuple(FAMILY)) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    try:
        old = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        old = {}
    manifest: dict[str, Any] = {"seed": seed, "scale": scale, "context": CONTEXT, "vocab_size": len(tok),
                                "command": f"python -m engine.worlds.arith.build --seed {seed}",
                                "models": {k: v for k, v in old.get("models", {}).items()
                                           if k in FAMILY and k not in sizes and old.get("seed") == seed}}
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in sizes:
            spec = FAMILY[name].scaled(scale)
            started = time.perf_counter()
            lines = corpus(seed, spec.corpus_sentences) if spec.corpus_sentences else None
            model, stats = pretrain_lm(spec, tok, lines, stream, seed, progress, context=CONTEXT)
            folder = out_dir / name
            with quiet_library_bars():
                model.save_pretrained(folder)
            tok.save_pretrained(folder)
            manifest["models"][name] = {"spec": dataclasses.asdict(spec), "params": sum(p.numel() for p in
                                                                                       model.parameters()),
                                        **stats, "solve_rate": solve_rate(model, tok), "files": checksums(folder),
                                        "build_s": round(time.perf_counter() - started, 1)}
    finally:
        torch.set_num_threads(previous)
    tmp = out_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out_dir / "manifest.json")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.worlds.arith.build", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: assets/zoo/arith)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply steps and the weak corpus (tests)")
    parser.add_argument("--sizes", default=",".join(FAMILY), help="comma-separated sizes to (re)build")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    manifest = build_arith_zoo(args.out or arith_dir(), args.seed, args.scale, not args.quiet,
                               tuple(args.sizes.split(",")))
    for name, m in manifest["models"].items():
        print(f"arith-{name}: {m['params']:,} params, {m['tokens']:,} tokens, {m['wall_s']} s, "
              f"solves {m['solve_rate']:.1%} of fresh problems zero-shot")


if __name__ == "__main__":
    main()
