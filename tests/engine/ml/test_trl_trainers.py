"""engine.ml.trl_trainers: DPO, SimPO and ORPO raise the chosen-minus-rejected margin on their training pairs."""

from __future__ import annotations

import numpy as np
import pytest

from engine.registry import TASKS
from tests.helpers import NullContext


# ----------------------------------------------------------------------------- the trl steps
@pytest.mark.parametrize("kind", ["dpo", "simpo", "orpo"])
def test_preference_optimisation_raises_the_chosen_minus_rejected_margin_on_its_training_pairs(kind):
    from engine.config import TrainConfig
    from engine.ml.loading import load_policy, set_threads
    from engine.ml.losses import PolicyLoss
    from engine.ml.pairs import Pairs
    from engine.ml.scoring import margin, pair_margins
    from engine.ml.trl_trainers import optimize
    from engine.models import resolve_model

    set_threads()
    examples = TASKS.get("world_pref")().load()["train"][:64]
    # Train towards the *false* continuation, so the rise cannot come from what the model already knew.
    pairs = Pairs.of(examples).oriented(np.zeros(len(examples), dtype=bool))
    cfg = TrainConfig(batch_size=16)
    model, tok = load_policy(resolve_model("world-xs"), cfg)
    loss = PolicyLoss(kind, beta={"dpo": 0.1, "simpo": 2.0, "orpo": 0.5}[kind])
    before = margin(pair_margins(model, tok, pairs, cfg, loss.bos), mean=loss.mean)
    model = optimize(model, tok, pairs, loss, cfg, 1e-3, 2.0, 0, NullContext(), "t", "k")
    after = margin(pair_margins(model, tok, pairs, cfg, loss.bos), mean=loss.mean)
    assert after.mean() > before.mean() + (1.0 if kind == "dpo" else 0.2)  # summed (DPO) or per-token margins
    assert (after > before).mean() > 0.75
