"""ema_update against its closed form; buffers copied; bad decays and mismatched modules refused."""

import copy

import pytest
import torch
from torch import nn

from models.common.ema import ema_update


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_matches_the_closed_form_over_several_steps():
    cur = _net()
    avg = copy.deepcopy(cur)
    init = [p.detach().clone().double() for p in avg.parameters()]
    expected = [p.clone() for p in init]
    d = 0.9
    for step in range(3):
        with torch.no_grad():
            for p in cur.parameters():
                p.add_(torch.randn_like(p))
        # float64 reference: a_{t+1} = d * a_t + (1 - d) * w_t
        expected = [d * e + (1 - d) * p.detach().double() for e, p in zip(expected, cur.parameters())]
        ema_update(avg, cur, d)
    for got, want, start in zip(avg.parameters(), expected, init):
        assert torch.allclose(got.double(), want, atol=1e-6)
        assert not torch.allclose(got.double(), start)  # it moved


def test_buffers_are_copied_and_extreme_decays():
    cur = _net()
    avg = copy.deepcopy(cur)
    cur[1].running_mean.fill_(3.0)
    cur[1].num_batches_tracked.fill_(7)
    with torch.no_grad():
        cur[0].weight.add_(1.0)
    before = avg[0].weight.detach().clone()
    ema_update(avg, cur, 1.0)  # decay 1: parameters frozen, buffers still follow
    assert torch.equal(avg[0].weight, before)
    assert torch.equal(avg[1].running_mean, cur[1].running_mean)
    assert int(avg[1].num_batches_tracked) == 7
    ema_update(avg, cur, 0.0)  # decay 0: a plain copy
    assert torch.allclose(avg[0].weight, cur[0].weight)


def test_refuses_bad_decay_and_mismatched_modules():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ema_update(_net(), _net(), 1.5)
    with pytest.raises(ValueError):
        ema_update(_net(), nn.Sequential(nn.Conv2d(3, 4, 3)), 0.5)
