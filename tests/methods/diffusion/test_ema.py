"""The weight average: plain copies before start_step, decay afterwards, buffers, state round-trip."""

from __future__ import annotations

import torch
from torch import nn

from rsbench.methods.diffusion import EMA


def _model() -> nn.Module:
    torch.manual_seed(0)  # parameter init only
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_copy_is_frozen_and_in_eval_mode() -> None:
    model = _model()
    ema = EMA(model)
    assert ema.model is not model and not ema.model.training
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_copies_the_weights_before_start_step() -> None:
    model = _model()
    ema = EMA(model, decay=0.9, start_step=5, update_every=2)
    _set(model, 3.0)
    model.get_buffer("1.running_mean").fill_(7.0)
    ema.update(3)  # not a multiple of update_every: copies anyway before start_step
    assert all(bool((p == 3.0).all()) for p in ema.model.parameters())
    assert bool((ema.model.get_buffer("1.running_mean") == 7.0).all())


def test_decays_every_update_every_steps_after_start_step() -> None:
    model = _model()
    ema = EMA(model, decay=0.9, start_step=5, update_every=2)
    _set(model, 1.0)
    ema.update(4)
    _set(model, 11.0)
    ema.update(7)  # off-cycle: no change
    assert all(bool((p == 1.0).all()) for p in ema.model.parameters())
    ema.update(8)
    for p in ema.model.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.9 * 1.0 + 0.1 * 11.0))
    ema.update(10)
    for p in ema.model.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.9 * 2.0 + 0.1 * 11.0))


def test_state_round_trip() -> None:
    model = _model()
    ema = EMA(model, start_step=1, update_every=1)
    _set(model, 2.0)
    ema.update(0)
    restored = EMA(_model())
    restored.load_state_dict(ema.state_dict())
    for a, b in zip(restored.model.state_dict().values(), ema.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # A bare network loads it too.
    bare = _model()
    bare.load_state_dict(ema.state_dict())
    assert all(bool((p == 2.0).all()) for p in bare.parameters())


def test_rate_is_a_copy_before_start_step_then_one_minus_decay_every_nth_step() -> None:
    """What a packed planner's Polyak step follows: 1 copies, None skips."""
    ema = EMA(_model(), decay=0.9, start_step=3, update_every=2)
    assert [ema.rate(step) for step in range(1, 8)] == [1.0, 1.0, None, 1.0 - 0.9, None, 1.0 - 0.9, None]
