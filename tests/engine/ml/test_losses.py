"""engine.ml.losses: the warm-up, cross-entropy and auxiliary confidence loss against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.ml.losses import aux_conf, aux_weight, hardened, xent


# ----------------------------------------------------------------------------- losses
def test_aux_weight_warms_up_linearly_to_coef():
    # a = coef * min(1, t / warmup): 0.75 * 0.1/0.2 = 0.375 halfway through warm-up, then exactly coef.
    assert aux_weight(0.0, 0.75, 0.2) == 0.0
    assert aux_weight(0.1, 0.75, 0.2) == pytest.approx(0.375)
    assert aux_weight(0.2, 0.75, 0.2) == pytest.approx(0.75)
    assert aux_weight(0.9, 0.75, 0.2) == pytest.approx(0.75)
    assert aux_weight(0.5, 0.5, 0.0) == 0.5


def test_xent_matches_hand_computation():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = [1/4, 3/4]
    p1 = torch.tensor([0.5])
    # CE = -(0.5 log 1/4 + 0.5 log 3/4)
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert xent(logits, p1).item() == pytest.approx(expected, rel=1e-6)


def test_aux_conf_loss_matches_hand_computation():
    # 4 examples, student p1 = softmax(logits)[:,1] = 0.9, 0.8, 0.3, 0.2; weak labels p1 = 0.6, 0.4, 0.7, 0.3
    # prior = mean(weak) = 0.5 -> the top half by student p1 is hardened to 1: [1, 1, 0, 0].
    p_student = torch.tensor([0.9, 0.8, 0.3, 0.2])
    logits = torch.stack([torch.zeros(4), torch.log(p_student / (1 - p_student))], dim=1)
    weak = torch.tensor([0.6, 0.4, 0.7, 0.3])
    assert hardened(logits, weak).tolist() == [1.0, 1.0, 0.0, 0.0]
    # at progress 0.1 with coef 0.75, warm-up 0.2: a = 0.375; target = 0.625 * weak + 0.375 * hard
    a = 0.375
    target = [(1 - a) * w + a * h for w, h in zip([0.6, 0.4, 0.7, 0.3], [1, 1, 0, 0])]
    expected = -np.mean([t * math.log(p) + (1 - t) * math.log(1 - p) for t, p in zip(target, [0.9, 0.8, 0.3, 0.2])])
    got = aux_conf(logits, weak, progress=0.1, aux_coef=0.75, warmup_frac=0.2)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    # the fixed threshold hardens at 0.5 instead
    assert hardened(logits, torch.tensor([0.9, 0.9, 0.9, 0.9]), "fixed").tolist() == [1.0, 1.0, 0.0, 0.0]
    # with no warm-up left the loss is (1-a) CE(weak) + a CE(hard) (CE is linear in the target)
    full = aux_conf(logits, weak, progress=1.0, aux_coef=0.5, warmup_frac=0.2)
    hard = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert full.item() == pytest.approx((0.5 * xent(logits, weak) + 0.5 * xent(logits, hard)).item(), rel=1e-5)
