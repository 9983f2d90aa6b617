"""Build the offline zoo: world.json, then one Hugging Face folder per model, then manifest.json.

    python -m engine.worlds.facts.build --seed 0 --out assets/zoo     # the shipped zoo, ~3-5 min on one core
    build_zoo(tmp_path, scale=0.02)                            # a reduced family in seconds, for tests

Layout of the output folder:
    world.json        the world (entities, facts, which facts each data budget states), engine.worlds.facts.generator
    <size>/           config.json, model.safetensors, tokenizer files: loads with from_pretrained(folder)
    manifest.json     how it was built (seed, command, versions), per model its budget, wall time,
                      throughput, fact recall and the sha256 of every file

The build resumes: a model whose folder matches its manifest entry (same settings, same checksums)
is kept, so an interrupted build continues where it stopped. Changing the seed or scale rebuilds all.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import tokenizers
import torch
import transformers

from engine.worlds.facts import zoo_dir
from engine.worlds.facts.generator import make_world
from engine.worlds.facts.tokenizer import build_tokenizer
from engine.worlds.pretrain import (
    BATCH_SIZE,
    CONTEXT,
    FAMILY,
    ModelSize,
    checksums,
    fact_recall,
    pretrain,
    quiet_library_bars,
    sha256,
)

MANIFEST_FORMAT = 1
FULL_WORLD = 1200  # entities at scale 1
THREADS = 1  # intra-op threads while pretraining: more threads on a shared small box are much slower


def _is_complete(folder: Path, entry: dict[str, Any] | None, spec: ModelSize) -> bool:
    """A model is done when its manifest entry has the same settings and every listed file matches."""
    if not entry or entry.get("spec") != dataclasses.asdict(spec):
        return False
    files = entry.get("files", {})
    if not {"config.json", "model.safetensors"} <= files.keys():
        return False
    return all((folder / name).is_file() and sha256(folder / name) == digest for name, digest in files.items())


def _save_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    manifest["build_s"] = round(sum(m["build_s"] for m in manifest["models"].values()), 1)
    tmp = out_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out_dir / "manifest.json")  # a crash never leaves a half-written manifest


def build_zoo(
    out_dir: Path,
    seed: int = 0,
    sizes: tuple[str, ...] = ("xs", "s", "l"),
    scale: float = 1.0,
    progress: bool = True,
    n_entities: int | None = None,
) -> dict[str, Any]:
    """Build (or finish building) the world and the `sizes` models into `out_dir`; returns the manifest.

    `scale` multiplies every model's steps; below 1 it also shrinks the world (entities) and the weak
    models' corpus budgets in proportion, so tests can build a reduced family in seconds. `n_entities`
    overrides the world size (benchmarks use it to time reduced steps on the full world).
    """
    unknown = [s for s in sizes if s not in FAMILY]
    if unknown:
        raise ValueError(f"unknown zoo size(s) {unknown}; available: {', '.join(FAMILY)}")
    if scale <= 0:
        raise ValueError(f"scale={scale} must be > 0 (1 = the shipped zoo)")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = {name: spec.scaled(scale) for name, spec in FAMILY.items()}
    n_entities = n_entities or max(40, round(FULL_WORLD * min(1.0, scale)))
    budgets = {name: s.corpus_sentences for name, s in specs.items() if s.corpus_sentences}
    world = make_world(seed, n_entities, budgets)
    world_text = world.to_json()
    (out_dir / "world.json").write_text(world_text)
    tokenizer = build_tokenizer(world)

    header = {
        "format": MANIFEST_FORMAT, "seed": seed, "scale": scale,
        "command": f"w2s zoo build --seed {seed}",
        "world": {"file": "world.json", "sha256": hashlib.sha256(world_text.encode()).hexdigest(),
                  "entities": len(world.entities), "vocab_size": len(tokenizer), "budgets": budgets},
        "pretraining": {"batch_size": BATCH_SIZE, "context": CONTEXT, "optimizer": "AdamW betas (0.9, 0.98), wd 0.01",
                        "schedule": "5% warmup, cosine to 10% of lr", "grad_clip": 1.0, "dropout": 0.0,
                        "threads": THREADS},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
    }
    old = _read_manifest(out_dir / "manifest.json")
    same_world = {k: old.get(k) for k in ("format", "seed", "scale", "world")} == {
        k: header[k] for k in ("format", "seed", "scale", "world")}
    manifest = {**header, "models": dict(old.get("models", {})) if same_world else {}}

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        for name in sizes:
            folder, spec = out_dir / name, specs[name]
            if _is_complete(folder, manifest["models"].get(name), spec):
                if progress:
                    print(f"zoo: {name} is up to date in {folder}", flush=True)
                continue
            model_started = time.perf_counter()
            model, stats = pretrain(spec, world, tokenizer, seed=seed, progress=progress)
            with quiet_library_bars():
                model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            manifest["models"][name] = {
                "spec": dataclasses.asdict(spec),
                "params": sum(p.numel() for p in model.parameters()),
                **stats,
                "recall": fact_recall(model, tokenizer, world),
                "files": checksums(folder),
                "build_s": round(time.perf_counter() - model_started, 1),  # pretraining + recall probe + saving
            }
            _save_manifest(out_dir, manifest)  # after each model, so an interrupted build resumes
    finally:
        torch.set_num_threads(previous_threads)
    _save_manifest(out_dir, manifest)
    if progress:
        print(f"zoo: {', '.join(sizes)} ready in {out_dir} ({time.perf_counter() - started:.0f} s)", flush=True)
    return manifest


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.worlds.facts.build", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="world, corpus and initialisation seed")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the zoo folder, assets/zoo)")
    parser.add_argument("--sizes", default="xs,s,l", help="comma-separated model sizes to build")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply steps (and, below 1, the world)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    manifest = build_zoo(args.out or zoo_dir(), seed=args.seed, sizes=tuple(args.sizes.split(",")),
                         scale=args.scale, progress=not args.quiet)
    for name, entry in manifest["models"].items():
        print(f"{name}: {entry['params']:,} params, {entry['tokens']:,} tokens, {entry['wall_s']} s, "
              f"recall {entry['recall']}")
    print(f"models built in {manifest['build_s']} s in all (pretraining, recall probe, saving)")


if __name__ == "__main__":
    main()
