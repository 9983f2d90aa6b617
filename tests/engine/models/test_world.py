"""engine.models.world: the shipped world zoo loads offline through the Auto classes and matches its manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.worlds.facts import zoo_dir

ZOO = zoo_dir()

SIZES = ("xs", "s", "l")


def test_shipped_models_load_offline_with_auto_classes():
    # A fresh interpreter with the hub switched off, as on a machine without network.
    script = """
import json, sys
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
out = {}
for folder in sys.argv[1:]:
    tok = AutoTokenizer.from_pretrained(folder)
    lm = AutoModelForCausalLM.from_pretrained(folder)
    clf = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    batch = tok(["the size of x is", "a big person named x ."], return_tensors="pt", padding=True)
    out[folder] = {"pad": clf.config.pad_token_id, "tok_pad": tok.pad_token_id, "eos": tok.eos_token_id,
                   "logits": list(clf(**batch).logits.shape), "vocab": lm.config.vocab_size, "len_tok": len(tok),
                   "dtype": str(lm.dtype)}
print(json.dumps(out))
"""
    folders = [str(ZOO / s) for s in SIZES]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script, *folders], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for folder in folders:
        r = result[folder]
        assert r["pad"] is not None and r["pad"] == r["tok_pad"] != r["eos"]
        assert r["logits"] == [2, 2] and r["vocab"] == r["len_tok"] and r["dtype"] == "torch.float32"


def test_zoo_models_are_in_the_catalogue():
    from engine.ml.loading import load_classifier
    from engine.models import resolve_model
    from engine.registry import MODELS

    for size in SIZES:
        spec = resolve_model(f"world-{size}")
        assert spec.kind == "zoo" and Path(spec.source) == ZOO / size and MODELS.get(f"world-{size}").description
    model, tok = load_classifier(resolve_model("world-xs"))
    assert model.config.num_labels == 2 and tok.pad_token == "<pad>"


def test_manifest_checksums_match_the_shipped_files():
    from engine.worlds.facts.build import sha256

    manifest = json.loads((ZOO / "manifest.json").read_text())
    assert manifest["command"] == f"w2s zoo build --seed {manifest['seed']}" and manifest["scale"] == 1.0
    assert sha256(ZOO / "world.json") == manifest["world"]["sha256"]
    # The arithmetic family (engine.worlds.arith) lives in its own subfolder with its own manifest.
    assert sorted(p.name for p in ZOO.iterdir() if p.name != "arith") == sorted(["manifest.json", "world.json", *SIZES])
    for size in SIZES:
        files = manifest["models"][size]["files"]
        assert "model.safetensors" in files and "config.json" in files
        assert sorted(p.name for p in (ZOO / size).iterdir()) == sorted(files)  # nothing left behind
        for name, digest in files.items():
            assert sha256(ZOO / size / name) == digest, f"{size}/{name} differs from the manifest"
    assert sum((ZOO / s / "model.safetensors").stat().st_size for s in SIZES) < 5_000_000
