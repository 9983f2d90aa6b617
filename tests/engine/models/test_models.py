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


def test_a_catalogue_hub_model_offline_says_so_at_once():
    """gpt2 is in the catalogue: offline (HF_HUB_OFFLINE, as every test runs) it fails in seconds with "offline?",
    never with "not a catalogue model" after huggingface_hub's ~25 s of retries."""
    t0 = time.monotonic()
    with pytest.raises(ModelError) as err:
        check_model("gpt2")
    assert time.monotonic() - t0 < 10
    assert "could not download catalogue model 'gpt2'" in str(err.value) and "offline?" in str(err.value)
    assert "not a catalogue model" not in str(err.value) and "world-xs" in str(err.value)  # an offline alternative


def test_an_unreachable_hub_is_noticed_with_one_quick_request(tmp_path):
    """Without HF_HUB_OFFLINE, a hub that cannot be reached (here: a closed local port as the endpoint) is
    reported after one request instead of five retries."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: connections are refused
    code = ("import time, transformers; from engine.models import check_model, ModelError\n"
            "t = time.monotonic()\n"
            "try: check_model('gpt2')\n"
            "except ModelError as e: print(round(time.monotonic() - t, 1), e)\n")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    seconds, message = out.stdout.split(" ", 1)
    assert float(seconds) < 5, out.stdout + out.stderr  # huggingface_hub alone retries for ~25 s
    assert "could not download catalogue model 'gpt2'" in message and f"127.0.0.1:{port}" in message
