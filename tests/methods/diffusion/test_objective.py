"""The DDPM loss: the optimal predictor scores zero, inpainted entries carry no loss, x0 mode, weights."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from rsbench.methods.diffusion import Inpainting, NoiseSchedule, diffusion_loss, diffusion_noise

B, H, D = 16, 8, 5


def _single_point_data(seed: int = 0) -> Tensor:
    x_star = torch.randn(H, D, generator=torch.Generator().manual_seed(seed))
    return x_star.expand(B, H, D).clone()


def _optimal_eps(schedule: NoiseSchedule, x0: Tensor):
    """For data that is the single point x0, E[eps | x_t] = (x_t - sqrt(alphā_t) x0) / sqrt(1 - alphā_t)."""
    return lambda xt, t: schedule.predict_eps_from_x0(xt, t, x0)


def test_optimal_epsilon_predictor_has_zero_loss() -> None:
    s = NoiseSchedule.create("linear", 50)
    x0 = _single_point_data()
    g = torch.Generator().manual_seed(0)
    assert diffusion_loss(_optimal_eps(s, x0), s, x0, generator=g).item() < 1e-8
    # A wrong predictor pays.
    assert diffusion_loss(lambda xt, t: torch.zeros_like(xt), s, x0, generator=g).item() > 0.5


def test_loss_is_reproducible_from_the_generator() -> None:
    s = NoiseSchedule.create("cosine", 20)
    x0 = _single_point_data()
    model = torch.nn.Linear(D, D)
    losses = [
        diffusion_loss(lambda xt, t: model(xt), s, x0, generator=torch.Generator().manual_seed(3)).item()
        for _ in range(2)
    ]
    assert losses[0] == losses[1]


def test_given_draws_the_loss_is_the_generators_and_runs_under_vmap() -> None:
    """Packing draws ``t`` and the noise outside ``vmap`` (diffusion_noise) and passes them in; with
    inpainting the loss then reads no tensor value, so vmap over seeds gives each seed's own loss."""
    s = NoiseSchedule.create("cosine", 20)
    x0 = torch.randn(3, B, H, D, generator=torch.Generator().manual_seed(1))  # 3 seeds' batches
    model = torch.nn.Linear(D, D)

    def loss(x: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        cond = Inpainting({0: x[:, 0, 2:]}, offset=2)
        return diffusion_loss(lambda xt, tt: model(xt), s, x, t=t, noise=noise, inpainting=cond)

    draws = [diffusion_noise(s, (B, H, D), generator=torch.Generator().manual_seed(k)) for k in range(3)]
    drawn = [
        diffusion_loss(
            lambda xt, tt: model(xt),
            s,
            x0[k],
            generator=torch.Generator().manual_seed(k),
            inpainting=Inpainting({0: x0[k][:, 0, 2:]}, offset=2),
        )
        for k in range(3)
    ]
    given = [loss(x0[k], *draws[k]) for k in range(3)]
    packed = torch.func.vmap(loss, randomness="error")(
        x0, *(torch.stack(d) for d in zip(*draws, strict=True))
    )
    assert all(torch.equal(a, b) for a, b in zip(drawn, given, strict=True))
    torch.testing.assert_close(packed, torch.stack(given))


def test_inpainted_entries_are_clean_and_excluded_from_the_loss() -> None:
    s = NoiseSchedule.create("linear", 50)
    x0 = _single_point_data()
    act_dim = 2
    cond = Inpainting({0: x0[:, 0, act_dim:]}, offset=act_dim)
    fixed = cond.mask(x0)
    seen: list[Tensor] = []

    def wrong_only_where_fixed(xt: Tensor, t: Tensor) -> Tensor:
        seen.append(xt)
        return _optimal_eps(s, x0)(xt, t).masked_fill(fixed, 1e3)

    g = torch.Generator().manual_seed(0)
    assert diffusion_loss(wrong_only_where_fixed, s, x0, generator=g, inpainting=cond).item() < 1e-8
    # The network saw the conditioned entries noise-free.
    torch.testing.assert_close(seen[0][:, 0, act_dim:], x0[:, 0, act_dim:], rtol=0, atol=0)
    assert diffusion_loss(wrong_only_where_fixed, s, x0, generator=g).item() > 1e3


def test_inpainting_apply_copies_and_mask_marks_the_entries() -> None:
    x = torch.zeros(2, 4, 6)
    cond = Inpainting({0: torch.ones(2, 3), 3: torch.full((2, 2), 5.0)}, offset=1)
    out = cond.apply(x)
    assert x.abs().sum().item() == 0.0  # the caller's tensor is untouched
    assert bool((out[:, 0, 1:4] == 1).all()) and bool((out[:, 3, 1:3] == 5).all())
    assert out.abs().sum().item() == 2 * 3 + 2 * 2 * 5
    mask = cond.mask(x)
    assert mask.dtype == torch.bool and int(mask.sum()) == 2 * (3 + 2)
    assert bool(mask[:, 0, 1:4].all()) and bool(mask[:, 3, 1:3].all())


def test_x0_prediction_regresses_on_the_clean_data() -> None:
    s = NoiseSchedule.create("linear", 20)
    x0 = _single_point_data()
    g = torch.Generator().manual_seed(0)
    assert diffusion_loss(lambda xt, t: x0, s, x0, generator=g, predict="x0").item() == 0.0
    loss = diffusion_loss(lambda xt, t: x0 + 1, s, x0, generator=g, predict="x0")
    assert loss.item() == pytest.approx(1.0)


def test_weights_scale_each_entry() -> None:
    s = NoiseSchedule.create("linear", 20)
    x0 = _single_point_data()
    off_by_one = lambda xt, t: x0 + 1  # noqa: E731
    weights = torch.ones(H, D)
    weights[0, :2] = 10.0  # Diffuser-style heavier first action
    loss = diffusion_loss(off_by_one, s, x0, generator=torch.Generator(), predict="x0", weights=weights)
    assert loss.item() == pytest.approx(weights.mean().item())
    per_sample = weights.expand(B, H, D)
    loss_b = diffusion_loss(off_by_one, s, x0, generator=torch.Generator(), predict="x0", weights=per_sample)
    assert loss_b.item() == pytest.approx(loss.item())


def test_loss_backpropagates_and_rejects_unknown_prediction() -> None:
    s = NoiseSchedule.create("linear", 10)
    x0 = _single_point_data()
    model = torch.nn.Linear(D, D)
    diffusion_loss(lambda xt, t: model(xt), s, x0, generator=torch.Generator()).backward()
    assert model.weight.grad is not None and model.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="predict must be"):
        diffusion_loss(lambda xt, t: xt, s, x0, generator=torch.Generator(), predict="v")  # type: ignore[arg-type]
