"""CODAC (``codac``): IQN's critics with the conservative penalty at the values of JasonMa2016/CODAC."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsbench.methods import Space, create, get
from rsbench.methods.iqn import CODAC, CODACConfig, IQNConfig
from rsbench.methods.quantile import quantile_huber_loss


def reference_quantile_loss(pred: np.ndarray, target: np.ndarray, taus: np.ndarray) -> float:
    """CODAC's ``quantile_regression_loss`` (``distributional/dsac.py``) with equal target weights ``1/N'``,
    written as loops: ``rho_ij = |tau_i - 1{pred_i > target_j}| * smooth_l1(pred_i, target_j) / N'`` summed
    over ``j``, then the mean over the batch and the ``N`` predicted quantiles (kappa 1)."""
    b, n = pred.shape
    total = 0.0
    for row in range(b):
        for i in range(n):
            for target_j in target[row]:
                d = abs(pred[row, i] - target_j)
                huber = 0.5 * d * d if d < 1.0 else d - 0.5
                sign = 1.0 if pred[row, i] > target_j else 0.0
                total += abs(taus[row, i] - sign) * huber / target.shape[1]
    return total / (b * n)


def test_the_quantile_loss_averages_over_the_predicted_quantiles_as_codac() -> None:
    # by hand: quantile 0 (tau 0.25, at 0) against targets 0.5 and 3: 0.25 * 0.125 and 0.25 * 2.5;
    # quantile 1 (tau 0.75, at 1): |0.75 - 1| * 0.125 and 0.75 * 1.5 -> (0.328125 + 0.578125) / 2
    pred, target, taus = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 3.0]]), torch.tensor([0.25, 0.75])
    assert quantile_huber_loss(pred, target, taus, reduction="mean").item() == pytest.approx(0.453125)
    assert quantile_huber_loss(pred, target, taus).item() == pytest.approx(0.90625)  # IQN's eq. 3 sums
    assert reference_quantile_loss(pred.numpy(), target.numpy(), taus[None].numpy()) == pytest.approx(
        0.453125
    )


def test_codac_defaults_are_the_reference_s() -> None:
    c = CODACConfig()
    # codac.py: min_z_weight 10, with_lagrange True, lagrange_thresh 10, num_random 10; dsac.py: mean over N
    assert (c.conservative, c.cql_alpha, c.cql_lagrange, c.cql_target_gap) == (True, 10.0, True, 10.0)
    assert (c.quantile_reduction, c.cql_samples, c.cql_taus, c.n_taus, c.n_target_taus) == (
        "mean",
        10,
        1,
        32,
        32,
    )
    assert (c.kappa, c.discount, c.tau, c.critic_lr) == (1.0, 0.99, 5e-3, 3e-4)
    assert get("codac") is CODAC and IQNConfig().quantile_reduction == "sum"


def _prepared(data, **changes) -> tuple[CODAC, dict[str, torch.Tensor]]:
    method = create("codac", Space.from_data(data), CODACConfig.tiny().replace(**changes), seed=0)
    assert isinstance(method, CODAC)
    method.prepare(data)
    sampler = method.data_spec().sampler(data, 16, np.random.default_rng(0))
    return method, method.to_batch(sampler.sample())


def test_the_critics_td_loss_is_codac_s_reduction(pointmass_data) -> None:
    method, batch = _prepared(pointmass_data)
    nets, noise = method.nets(), method.noise(16)
    losses = method._critic_losses(nets, batch, noise)
    c, obs = method.config, batch["observations"]
    with torch.no_grad():
        next_actions = method.target_actions(
            batch["next_observations"], nets["actor_target"], noise["smoothing"]
        )
        z_next = torch.minimum(
            *(
                nets[f"critic{k}_target"](batch["next_observations"], next_actions, noise["target_taus"])
                for k in "01"
            )
        )
        target = batch["rewards"][:, None] + c.discount * (1 - batch["terminals"][:, None]) * z_next
        actions = method.unit_actions(batch["actions"]).clamp(-1, 1)
        expected = sum(
            reference_quantile_loss(
                nets[f"critic{k}"](obs, actions, noise["taus"]).numpy(), target.numpy(), noise["taus"].numpy()
            )
            for k in "01"
        )
    assert losses["td_loss"].item() == pytest.approx(expected, rel=1e-5)
    # the critics minimise the TD loss plus alpha' (1 at the start) times (10 * gap - 10), per twin
    gaps = losses["cql_penalty"]
    assert losses["critic_loss"].item() == pytest.approx(
        (losses["td_loss"] + 10 * gaps - 20).item(), rel=1e-5
    )


@pytest.mark.parametrize(("threshold", "direction"), [(1e6, -1.0), (-1e6, 1.0)])
def test_the_lagrange_multiplier_rises_above_the_threshold_and_falls_below(
    threshold: float, direction: float, pointmass_data
) -> None:
    """CODAC's dual step: alpha' grows while cql_alpha * gap exceeds lagrange_thresh, shrinks while below."""
    method, batch = _prepared(pointmass_data, cql_target_gap=threshold)
    assert method.log_alpha_prime.item() == 0.0  # alpha' = 1, as CODAC's log_alpha_prime = zeros(1)
    for _ in range(3):
        losses = method.update(batch)
        method.steps += 1
    assert np.sign(method.log_alpha_prime.item()) == direction
    # Adam's first steps move by about the learning rate each, whatever the gradient's size
    assert abs(method.log_alpha_prime.item()) == pytest.approx(3 * method.config.critic_lr, rel=0.01)
    assert losses["alpha_prime"] == pytest.approx(
        np.exp(method.log_alpha_prime.item() - direction * 3e-4), rel=1e-3
    )


def test_the_dual_gradient_sign_follows_the_weighted_gap() -> None:
    space = Space(2, 1, (-1.0,), (1.0,))
    method = create("codac", space, CODACConfig.tiny())
    assert isinstance(method, CODAC)
    for gap, sign in ((2.0, -1.0), (0.5, 1.0)):  # 10 * 2 > 10: descend to larger alpha'; 10 * 0.5 < 10
        log_alpha = torch.zeros((), requires_grad=True)
        penalty, terms = method.lagrange_terms(torch.tensor([gap, gap]), log_alpha)
        (grad,) = torch.autograd.grad(terms["_lagrange_loss"], log_alpha)
        assert np.sign(grad.item()) == sign
        assert penalty.item() == pytest.approx(2 * (10 * gap - 10))
    plain = create("iqn", space, IQNConfig.tiny().replace(conservative=True, cql_alpha=10.0))
    penalty, terms = plain.lagrange_terms(torch.tensor([2.0, 0.5]), None)  # type: ignore[attr-defined]
    assert penalty.item() == pytest.approx(25.0) and terms == {}
