"""The temporal U-Net and value network: shapes, conditioning, horizon checks, gradients, devices."""

from __future__ import annotations

import pytest
import torch

from rsbench.methods.diffusion import (
    Conv1dBlock,
    ResidualTemporalBlock,
    SinusoidalEmbedding,
    TemporalUnet,
    TemporalValue,
)

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")),
]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sinusoidal_embedding_takes_float_and_long_timesteps() -> None:
    emb = SinusoidalEmbedding(16)
    t = torch.tensor([0, 3, 99])
    out = emb(t)
    assert out.shape == (3, 16)
    torch.testing.assert_close(out, emb(t.float()))
    torch.testing.assert_close(out[0], torch.cat([torch.zeros(8), torch.ones(8)]))
    with pytest.raises(ValueError, match="even"):
        SinusoidalEmbedding(7)


def test_blocks_keep_the_horizon() -> None:
    x = torch.randn(2, 5, 12, generator=_gen())
    assert Conv1dBlock(5, 16, 5)(x).shape == (2, 16, 12)
    block = ResidualTemporalBlock(5, 16, embed_dim=8)
    assert block(x, torch.randn(2, 8, generator=_gen())).shape == (2, 16, 12)
    assert isinstance(ResidualTemporalBlock(16, 16, embed_dim=8).residual, torch.nn.Identity)


@pytest.mark.parametrize(
    ("transition_dim", "horizon", "dim", "dim_mults"),
    [
        (3, 8, 8, (1, 2)),
        (7, 16, 16, (1, 2, 4)),
        (23, 32, 8, (1, 2, 4, 8)),
        (2, 4, 8, (1,)),
        (4, 12, 8, (1, 2, 2)),
    ],
)
def test_unet_output_matches_input_shape(
    transition_dim: int, horizon: int, dim: int, dim_mults: tuple
) -> None:
    net = TemporalUnet(transition_dim, dim=dim, dim_mults=dim_mults)
    x = torch.randn(3, horizon, transition_dim, generator=_gen())
    assert net(x, torch.tensor([0, 5, 19])).shape == (3, horizon, transition_dim)


def test_unet_checks_the_horizon() -> None:
    net = TemporalUnet(3, dim=8, dim_mults=(1, 2, 4, 8))
    net.check_horizon(32)
    with pytest.raises(ValueError) as err:
        net.check_horizon(30)
    assert str(err.value) == "horizon 30 must be divisible by 8 for dim_mults of length 4"
    with pytest.raises(ValueError, match="horizon 12 must be divisible by 8"):
        net(torch.zeros(1, 12, 3), torch.zeros(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 12}, "multiple of 8"),
        ({"dim_mults": ()}, "dim_mults"),
        ({"dim_mults": (1, 0)}, "dim_mults"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"cond_dim": -1}, "cond_dim"),
        ({"transition_dim": 0}, "transition_dim"),
    ],
)
def test_unet_rejects_odd_configs(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TemporalUnet(**{"transition_dim": 3, "dim": 8, **kwargs})


def test_condition_is_used_and_masked_out() -> None:
    torch.manual_seed(0)  # parameter init only; inputs come from explicit generators
    net = TemporalUnet(4, dim=8, dim_mults=(1, 2), cond_dim=2)
    x, t = torch.randn(3, 8, 4, generator=_gen()), torch.tensor([1, 2, 3])
    cond = torch.randn(3, 2, generator=_gen(1))
    unconditional = net(x, t)
    conditional = net(x, t, cond)
    assert not torch.allclose(conditional, unconditional)
    torch.testing.assert_close(net(x, t, cond, cond_mask=torch.zeros(3)), unconditional)
    torch.testing.assert_close(net(x, t, cond, cond_mask=torch.ones(3, dtype=torch.bool)), conditional)
    mixed = net(x, t, cond, cond_mask=torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(mixed[[0, 2]], conditional[[0, 2]])
    torch.testing.assert_close(mixed[1], unconditional[1])
    with pytest.raises(ValueError, match="takes no cond"):
        TemporalUnet(4, dim=8, dim_mults=(1, 2))(x, t, cond)


def test_gradients_reach_every_parameter() -> None:
    net = TemporalUnet(4, dim=8, dim_mults=(1, 2, 4), cond_dim=3)
    x = torch.randn(2, 8, 4, generator=_gen(), requires_grad=True)
    net(x, torch.tensor([0, 9]), torch.randn(2, 3, generator=_gen(1))).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize(
    ("horizon", "dim", "dim_mults"),
    [(8, 8, (1, 4)), (16, 16, (1, 2, 4)), (32, 8, (1, 2, 4, 4)), (12, 8, (1, 4, 4))],
)
def test_value_output_shape(horizon: int, dim: int, dim_mults: tuple) -> None:
    value = TemporalValue(horizon, 5, dim=dim, dim_mults=dim_mults, out_dim=2)
    assert value(torch.randn(3, horizon, 5, generator=_gen()), torch.tensor([0, 1, 2])).shape == (3, 2)


def test_value_checks_its_horizon_and_config() -> None:
    with pytest.raises(ValueError, match="horizon 30 must be divisible by 8 for dim_mults of length 4"):
        TemporalValue(30, 5, dim=8, dim_mults=(1, 2, 4, 4))
    with pytest.raises(ValueError, match="divisible by 32"):
        TemporalValue(8, 5, dim=8, dim_mults=(1, 2))
    value = TemporalValue(8, 5, dim=8, dim_mults=(1, 4))
    with pytest.raises(ValueError, match="expected horizon 8"):
        value(torch.zeros(1, 16, 5), torch.zeros(1))


def test_value_gradients_flow_to_the_input() -> None:
    value = TemporalValue(8, 5, dim=8, dim_mults=(1, 4))
    x = torch.randn(2, 8, 5, generator=_gen(), requires_grad=True)
    value(x, torch.tensor([3, 4])).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in value.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_networks_run_on_the_device_of_their_inputs(device: str) -> None:
    net = TemporalUnet(4, dim=8, dim_mults=(1, 2), cond_dim=1).to(device)
    value = TemporalValue(8, 4, dim=8, dim_mults=(1, 4)).to(device)
    x = torch.randn(2, 8, 4, device=device)
    t = torch.tensor([0, 7], device=device)
    out = net(x, t, torch.ones(2, 1, device=device), torch.tensor([True, False], device=device))
    assert out.device.type == device and out.shape == x.shape
    assert value(x, t).device.type == device
    assert net.double()(x.double(), t).dtype == torch.float64
