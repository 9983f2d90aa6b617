"""engine.models: names resolve to catalogue entries, folders or hub ids, and unknown ones fail early with a fix."""

from __future__ import annotations

import time

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
