"""engine.models.arith: the shipped arithmetic zoo matches its manifest and loads offline."""

from __future__ import annotations

import json


# ----------------------------------------------------------------------------- the arithmetic zoo
def test_shipped_arith_zoo_matches_its_manifest_and_loads_offline():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.paths import arith_dir
    from engine.worlds.facts.build import sha256

    manifest = json.loads((arith_dir() / "manifest.json").read_text())
    assert set(manifest["models"]) == {"s", "l"}
    for size, entry in manifest["models"].items():
        for name, digest in entry["files"].items():
            assert sha256(arith_dir() / size / name) == digest, f"{size}/{name} differs from the manifest"
    assert manifest["models"]["l"]["solve_rate"] > manifest["models"]["s"]["solve_rate"]  # strong base is stronger
    tok = AutoTokenizer.from_pretrained(arith_dir() / "s")
    model = AutoModelForCausalLM.from_pretrained(arith_dir() / "s")
    assert model.config.n_positions == 128 and tok("Q: 3 + 4 A:")["input_ids"][0] == tok.convert_tokens_to_ids("Q:")
