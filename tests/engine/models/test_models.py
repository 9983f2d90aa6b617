"""engine.models: names resolve to catalogue entries, folders or hub ids, and unknown ones fail early with a fix."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.models import ModelError, check_model, resolve_model


# ----------------------------------------------------------------------------- models
def test_unknown_models_fail_early_with_a_fix(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="unknown model 'no-such-org/no-such-model'.*Fix"):
        check_model("no-such-org/no-such-model")
    assert time.monotonic() - t0 < 30
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model("./missing/folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path / "empty"))


def test_param_count_reads_headers_configs_and_the_catalogue(tmp_path, tiny_models):
    from transformers import AutoModelForCausalLM

    from engine.models import param_count

    exact = AutoModelForCausalLM.from_pretrained(tiny_models["strong"]).num_parameters()
    assert param_count(tiny_models["strong"]) == exact  # from the safetensors header, nothing loaded
    assert param_count("world-xs") == 54_624 and param_count("gpt2") == 124_000_000  # zoo header; model card
    folder = tmp_path / "config-only"
    folder.mkdir()
    (folder / "config.json").write_text((Path(tiny_models["strong"]) / "config.json").read_text())
    assert param_count(str(folder)) == exact  # counted on the meta device from config.json alone
