"""Model catalogue and name resolution: a catalogue entry, a local folder or a hub id becomes a `ModelSpec`.

    from engine.models import check_model, param_count, resolve_model
    spec = resolve_model("world-l")              # or "gpt2", "Qwen/Qwen2.5-0.5B", "/path/to/folder"
    check_model("gpt2")                          # fetches the config: a typo fails before anything trains
    param_count("world-l")                       # 564224, read from the weights' header (no weights loaded)

One file per catalogue (`hub`, `world`, `arith`) registers named entries in engine.registry.MODELS: Burns et
al.'s hub ladder and the offline zoos, each with a default learning rate and a description. Any hub id or
local folder works without being listed. Loading weights is engine.ml.loading's job; this package never
imports torch.
"""

from __future__ import annotations

import json
import math
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.registry import MODELS


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: str  # hub id or folder
    default_lr: float = 1e-5
    description: str = ""
    kind: Literal["hub", "local", "zoo"] = "hub"
    params: float | None = None  # the parameter count a catalogue entry states (hub entries: the model card's)


# transformers' lazy modules are not safe to import from two threads at once: the engine validates submissions
# in a thread pool, and two right after a cold start failed with "cannot import name 'AutoConfig' from
# 'transformers'". Importing it, and reading a config (which imports that model type's module on first use),
# happen under this lock.
_TRANSFORMERS_LOCK = threading.Lock()


def preload() -> None:
    """Import what check_model needs, once (the engine calls it in the background when it starts)."""
    with _TRANSFORMERS_LOCK:
        import transformers

        transformers.AutoConfig  # noqa: B018 (resolving the lazy attribute imports the auto classes)


class ModelError(ValueError):
    """A model cannot be resolved or loaded; the message names the problem and the fix."""


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.sep in name and Path(name).exists()


def resolve_model(name: str) -> ModelSpec:
    """Map a user-given model name to a spec, without loading weights. Raises ModelError early."""
    if not name or not isinstance(name, str):
        raise ModelError("model name is empty; give a zoo name (e.g. world-l), a hub id or a local folder")
    if name in MODELS:
        spec = MODELS.get(name)
        if spec.kind == "zoo" and not (Path(spec.source) / "config.json").exists():
            raise ModelError(f"zoo model '{name}' has no weights at {spec.source}; run `w2s zoo build` to build them")
        return spec
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"folder {path} has no config.json; save a model there with save_pretrained()")
        return ModelSpec(name=name, source=str(path.resolve()), kind="local")
    if _looks_like_path(name):
        raise ModelError(f"model folder {name} does not exist; check the path")
    return ModelSpec(name=name, source=name, kind="hub")


def hub_revision(source: str, cache_dir: str | None = None) -> str | None:
    """The commit of a hub model that loading it uses now: the snapshot its `main` ref points to in the local
    cache (where `check_model` fetched the config), else None (not cached: loading would fetch it first)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(source, "config.json", cache_dir=cache_dir)
    except Exception:  # a malformed id or cache: the key then names the model without a revision
        return None
    return Path(path).parent.name if isinstance(path, str) else None


def check_model(name: str, trust_remote_code: bool = False) -> ModelSpec:
    """Resolve and fetch the model's config (hub ids hit the network or the local cache), so a typo fails
    before any training starts."""
    spec = resolve_model(name)
    try:
        with _TRANSFORMERS_LOCK:
            from transformers import AutoConfig

            AutoConfig.from_pretrained(spec.source, trust_remote_code=trust_remote_code)
    except Exception as exc:  # hub errors come in many classes; the message is what the user needs
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        known = ", ".join(n for n in MODELS.names())
        raise ModelError(
            f"unknown model '{name}': not a catalogue model ({known}), not a local folder, and the hub lookup "
            f"failed ({reason}). Fix: check the spelling, log in for gated models, or pass a local folder"
        ) from None
    return spec


def _safetensors_params(folder: Path) -> int | None:
    """Parameters stored in a folder's *.safetensors files, summed from each file's JSON header (tensor shapes):
    exact, and no tensor is read. None when the folder has no safetensors weights."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        total += sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
    return total


def _config_params(source: str, trust_remote_code: bool = False) -> int | None:
    """Parameters of the model a config describes (a folder's config.json, or a hub id's from the cache or the
    network), counted on an empty model built on torch's meta device, which allocates nothing. None on failure."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
        return int(model.num_parameters())
    except Exception:  # an architecture without a causal-LM class, no config reachable: the size is unknown
        return None


def param_count(name: str) -> int | None:
    """How many parameters model `name` has, without loading its weights: a catalogue entry's stated figure, else
    a local folder's (zoo or your own) safetensors headers, else a model built on the meta device from its
    config.json (or, for a hub id, the hub config in the cache or online). None when none of these is available.
    This is what "smaller" means in a weak x strong grid."""
    spec = resolve_model(name)
    if spec.params:
        return int(spec.params)
    if spec.kind != "hub":
        counted = _safetensors_params(Path(spec.source))
        if counted is not None:
            return counted
    return _config_params(spec.source)


def smaller_pairs(weaks: list[str], strongs: list[str]) -> list[tuple[str, str]]:
    """Every (weak, strong) pair whose weak model has fewer parameters than its strong one, in list order.
    ModelError when a size is unknown or no pair is left, naming the models and the fix."""
    sizes = {m: param_count(m) for m in dict.fromkeys(weaks + strongs)}
    unknown = [m for m, n in sizes.items() if n is None]
    if unknown:
        raise ModelError(f"weak x strong grid: the size of {', '.join(map(repr, unknown))} is unknown (not in the "
                         "catalogue, no weights or config.json to count), so smaller-than pairs cannot be picked; "
                         "set all_pairs: true to run every pair")
    kept = [(w, s) for w in weaks for s in strongs if sizes[w] < sizes[s]]
    if not kept:
        listed = ", ".join(f"{m} {n:,}" for m, n in sizes.items())
        raise ModelError(f"weak x strong grid: no pair has a weak model smaller than its strong model ({listed} "
                         "parameters); swap the lists or set all_pairs: true")
    return kept
