"""IQN as an offline distributional actor-critic (Dabney et al. 2018, https://arxiv.org/abs/1806.06923).

Twin implicit quantile critics ``Z(s, a, tau)`` learn the return distribution by quantile-Huber regression
on distributional TD targets ``r + discount * (1 - terminal) * min_twin Z_target(s', a', tau')``.
A deterministic actor maximises a risk functional of ``Z``, estimated by averaging ``Z(s, pi(s), tau)`` over
taus drawn from the risk's tail (``cvar:alpha``: ``tau ~ U(0, alpha)`` estimates CVaR_alpha), regularised
towards the data's actions as in TD3+BC (Fujimoto & Gu 2021, https://arxiv.org/abs/2106.06860, code
https://github.com/sfujim/TD3_BC), with TD3+BC's settings: target-policy smoothing ``a' = clip(pi_target(s')
+ clip(N(0, 0.2^2), -0.5, 0.5), -1, 1)``, the actor and the target networks updated every ``policy_freq = 2``
critic steps, Polyak rate 0.005, learning rates 3e-4, ``alpha = 2.5``.

With ``conservative`` the critics also carry CODAC's penalty (Ma et al. 2021, https://arxiv.org/abs/2107.06106,
code https://github.com/JasonMa2016/CODAC, ``distributional/codac.py``): per critic, an importance-sampled
``logsumexp_a Z(s, a) - Z(s, a_data)`` over ``cql_samples`` uniform actions (weight ``1 / 2^-d``) and as many
policy actions at ``s`` and at ``s'`` (all evaluated at ``s``), each weighted by its inverse sampling density,
times ``cql_alpha``; with ``cql_lagrange``, CODAC's ``alpha' * (cql_alpha * gap - cql_target_gap)`` with
``alpha' = exp(log_alpha')`` (from 1, clamped to [0, 1e6]) stepped by Adam on ``-alpha' * (cql_alpha * gap -
cql_target_gap)`` (averaged over the twins) on the same batch: ``alpha'`` grows while the weighted gap exceeds
the threshold and shrinks below it. ``codac`` (:class:`CODAC`) is this at CODAC's settings.
Deviations: CODAC's actor is a SAC Gaussian with a log-density; this actor is deterministic (TD3+BC, with
its settings), so its samples are ``clip(pi(x) + N(0, cql_policy_std^2), -1, 1)`` weighted by that Gaussian's
density. CODAC evaluates the penalty at one quantile level (one column of its taus per batch); here ``Z(s, a)``
is the mean over the first ``cql_taus`` of each transition's taus (``codac``: 1, a uniform level per
transition). CODAC's taus are one random partition of [0, 1] per transition, the targets weighted by its
cell sizes; here the taus are i.i.d. uniform (IQN) and the targets weigh ``1/N'`` each.

The risk level is a training setting (``train_risk``): the actor is fixed after training, so ``act``
ignores its ``risk`` argument. Rewards are not scaled: quantiles (and ``kappa``) are in reward units.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.base import DataSpec, MethodConfig, Space, seeded
from rsbench.methods.nets import mlp
from rsbench.methods.packing import Batch, Nets, PackableMethod, Stage
from rsbench.methods.quantile import midpoint_taus, quantile_huber_loss
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class IQNConfig(MethodConfig):
    """IQN actor-critic. ``train_risk`` is the risk level the actor is trained for (not an inference setting)."""

    hidden: tuple[int, ...] = doc(
        "hidden layer sizes of the critic's state-action MLP and the actor", (256, 256)
    )
    embedding_dim: int = doc("cosine features of the tau embedding, cos(pi * i * tau) for i < this", 64, ge=1)
    n_taus: int = doc("N, taus sampled for the online critics' quantiles per transition", 32, ge=1)
    n_target_taus: int = doc("N', taus sampled for the target distribution per transition", 32, ge=1)
    n_policy_taus: int = doc("taus sampled from the risk's tail for the actor's objective", 32, ge=1)
    kappa: float = doc("threshold of the quantile-Huber loss (reward units)", 1.0, gt=0)
    discount: float = doc("discount of the TD targets", 0.99, gt=0, le=1)
    tau: float = doc("Polyak rate of the target critics and actor, updated on actor steps", 0.005, gt=0, le=1)
    policy_noise: float = doc("std of the target-policy smoothing noise, unit actions (TD3)", 0.2, ge=0)
    noise_clip: float = doc("the smoothing noise is clipped to +-noise_clip (TD3)", 0.5, ge=0)
    policy_freq: int = doc("critic steps per actor and target update (TD3's delayed updates)", 2, ge=1)
    critic_lr: float = doc("Adam learning rate of the critics", 3e-4, gt=0)
    actor_lr: float = doc("Adam learning rate of the actor", 3e-4, gt=0)
    bc_weight: float = doc(
        "lambda of the TD3+BC actor loss -lambda * rho(Z) / mean|rho(Z)| + (a - a_data)^2", 2.5, ge=0
    )
    train_risk: RiskSetting = doc(
        "risk functional rho the actor maximises (neutral, cvar:ALPHA, seeking:ALPHA)",
        RiskSetting("cvar", 0.1),
    )
    quantile_reduction: Literal["sum", "mean"] = doc(
        "quantile-Huber loss over the N predicted quantiles: sum (IQN, Dabney et al. 2018 eq. 3) or mean (CODAC)",
        "sum",
    )
    conservative: bool = doc("add a CQL penalty to the critic loss (CODAC)", False)
    cql_alpha: float = doc(
        "weight of the CQL penalty when conservative (CODAC's min_z_weight: 10)", 1.0, ge=0
    )
    cql_lagrange: bool = doc(
        "tune a multiplier alpha' on cql_alpha * gap - cql_target_gap (CODAC's with_lagrange)", False
    )
    cql_target_gap: float = doc(
        "threshold of the weighted gap under cql_lagrange (CODAC's lagrange_thresh)", 10.0
    )
    cql_samples: int = doc(
        "actions per source (uniform, policy at s, policy at s') in the logsumexp", 10, ge=1
    )
    cql_policy_std: float = doc(
        "std of the Gaussian around the actor's action for the penalty's policy samples", 0.2, gt=0
    )
    cql_taus: int = doc("taus per candidate action estimating its mean return in the CQL penalty", 4, ge=1)
    normalize_obs: bool = doc("standardise observations with the dataset's mean and std", True)

    def problems(self) -> dict[str, str]:
        if self.cql_taus > self.n_taus:
            return {"cql_taus": f"cql_taus {self.cql_taus} must be <= n_taus {self.n_taus}"}
        return {}

    @classmethod
    def tiny(cls) -> IQNConfig:
        return cls(hidden=(32,), embedding_dim=16, n_taus=8, n_target_taus=8, n_policy_taus=8, cql_samples=2)


def risk_taus(
    risk: RiskSetting, shape: Sequence[int], *, generator: torch.Generator, device: torch.device | str
) -> torch.Tensor:
    """Quantile levels ``h(U)`` distorted by ``risk`` (:meth:`~rsbench.risk.RiskSetting.distort`).

    ``cvar:alpha``: ``alpha * U`` in ``[0, alpha)`` (the lower tail of mass alpha); ``seeking:alpha``:
    ``1 - alpha * (1 - U)`` in ``(1 - alpha, 1]``; ``neutral``: ``U``; ``wang``, ``cpw``, ``power``: RAMAC's
    samplers. The mean of ``Z(tau)`` over them is a Monte-Carlo estimate of the risk functional.
    """
    return risk.distort(torch.rand(tuple(shape), generator=generator, device=device))


class QuantileCritic(nn.Module):
    """Implicit quantile network ``Z(s, a, tau)``: ``head(phi(s, a) * ReLU(Linear(cos(pi * i * tau))))``.

    ``forward(obs (B, obs_dim), actions (B, act_dim), taus (B, N)) -> (B, N)`` return quantiles.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], embedding_dim: int):
        super().__init__()
        features = hidden[-1]
        self.phi = nn.Sequential(mlp(obs_dim + act_dim, hidden[:-1], features, nn.ReLU), nn.ReLU())
        self.embed = nn.Sequential(nn.Linear(embedding_dim, features), nn.ReLU())
        self.head = mlp(features, (features,), 1, nn.ReLU)
        self.register_buffer(
            "freqs", math.pi * torch.arange(embedding_dim, dtype=torch.float32), persistent=False
        )

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        x = self.phi(torch.cat([obs, actions], dim=-1))  # (B, F)
        e = self.embed(torch.cos(taus[..., None] * self.freqs))  # (B, N, F)
        return self.head(x[:, None] * e).squeeze(-1)


@register("iqn")
class IQN(PackableMethod):
    """IQN actor-critic: a deterministic actor maximises a tail risk of twin implicit quantile critics.

    Packable (:mod:`rsbench.methods.packing`): one update is the critic stage, then the actor stage (a
    step and the Polyak updates of the targets every ``policy_freq`` updates, its loss reported always).
    """

    Config: ClassVar[type[IQNConfig]] = IQNConfig
    config: IQNConfig
    paper = "https://arxiv.org/abs/1806.06923"
    train_risk_field = "train_risk"  # act ignores the inference risk: a suite lists this risk only

    def __init__(self, config: IQNConfig, space: Space, *, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(config, space, seed=seed, device=device)
        c, d, a = config, space.obs_dim, space.act_dim
        with seeded(seed):
            self.critics = nn.ModuleList(
                [QuantileCritic(d, a, c.hidden, c.embedding_dim) for _ in range(2)]
            ).to(self.device)
            self.actor = mlp(d, c.hidden, a, nn.ReLU).to(self.device)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=c.critic_lr)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        # CODAC's Lagrange multiplier alpha' = exp(log_alpha'), from 0 (alpha' = 1), Adam at its lr 3e-4
        self.lagrange = c.conservative and c.cql_lagrange
        self.log_alpha_prime = nn.Parameter(torch.zeros((), device=self.device))
        self.alpha_prime_optimizer = torch.optim.Adam([self.log_alpha_prime], lr=c.critic_lr)

    # -- training -------------------------------------------------------------------------------------
    def prepare(self, data: OfflineData) -> None:
        if self.config.normalize_obs:
            self.normalizers["obs"] = Normalizer.fit(data.observations, "gaussian")

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions", obs_normalizer=self.normalizers.get("obs"))

    @staticmethod
    def _act(actor: nn.Module, obs: torch.Tensor) -> torch.Tensor:
        """Actions in ``[-1, 1]``: critics and the BC term work in unit action space, so ``bc_weight`` and
        the CQL penalty's uniform actions mean the same for every task's action bounds (as in TD3+BC)."""
        return torch.tanh(actor(obs))

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def target_actions(
        self, next_obs: torch.Tensor, actor_target: Any = None, normal: torch.Tensor | None = None
    ) -> torch.Tensor:
        """TD3's target-policy smoothing: ``clip(pi_target(s') + clip(N(0, policy_noise^2), +-noise_clip), -1, 1)``
        (``normal``: the standard normal draw, from the generator when None)."""
        c = self.config
        normal = self._randn(next_obs.shape[0], self.space.act_dim) if normal is None else normal
        noise = (normal * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
        return (self._act(actor_target or self.actor_target, next_obs) + noise).clamp(-1.0, 1.0)

    def penalty_actions(
        self, obs: torch.Tensor, next_obs: torch.Tensor, actor: Any = None, noise: Batch | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CODAC's candidate actions ``(B, 3K, act_dim)`` and their log sampling densities ``(B, 3K)``: ``K``
        uniform actions, ``K`` policy samples at ``s`` and ``K`` at ``s'`` (``K = cql_samples``); ``noise``
        holds their draws (:meth:`_penalty_noise`; from the generator when None)."""
        c, (b, d), k = self.config, (obs.shape[0], self.space.act_dim), self.config.cql_samples
        noise = self._penalty_noise(b) if noise is None else noise
        parts, log_densities = (
            [noise["uniform"]],
            [torch.full((b, k), -d * math.log(2.0), device=self.device)],
        )
        with torch.no_grad():
            for x, eps in ((obs, noise["eps_s"]), (next_obs, noise["eps_next"])):
                parts.append(
                    (self._act(actor or self.actor, x)[:, None] + c.cql_policy_std * eps).clamp(-1.0, 1.0)
                )
                log_densities.append(
                    (-0.5 * eps.pow(2) - math.log(c.cql_policy_std) - 0.5 * math.log(2 * math.pi)).sum(-1)
                )
        return torch.cat(parts, dim=1), torch.cat(log_densities, dim=1)

    def _penalty_noise(self, b: int) -> dict[str, torch.Tensor]:
        k, d = self.config.cql_samples, self.space.act_dim
        uniform = 2 * self._rand(b, k, d) - 1
        return {"uniform": uniform, "eps_s": self._randn(b, k, d), "eps_next": self._randn(b, k, d)}

    def _cql_penalty(
        self,
        critic: QuantileCritic,
        obs: torch.Tensor,
        actions: torch.Tensor,
        log_density: torch.Tensor,
        taus: torch.Tensor,
        z_data: torch.Tensor,
    ) -> torch.Tensor:
        """``logsumexp_a [Q_mean(s, a) - log q(a)] - Q_mean(s, a_data)``, averaged over the batch.

        ``actions (B, K, act_dim)`` with log densities ``(B, K)``, ``taus (B, cql_taus)``, ``z_data
        (B, n_taus)``: each mean is a Monte Carlo estimate over its taus.
        """
        b, k = obs.shape[0], actions.shape[1]
        q = critic(
            obs[:, None].expand(-1, k, -1).reshape(b * k, -1),
            actions.reshape(b * k, -1),
            taus[:, None].expand(-1, k, -1).reshape(b * k, -1),
        ).mean(-1)
        return (torch.logsumexp(q.view(b, k) - log_density, dim=1) - z_data.mean(-1)).mean()

    # -- the stages of one update (packable) ----------------------------------------------------------
    def nets(self) -> dict[str, nn.Module | nn.Parameter]:
        # the twins as separate nets: a pack calls each one's forward (a ModuleList has none)
        nets: dict[str, nn.Module | nn.Parameter] = {
            "critic0": self.critics[0],
            "critic1": self.critics[1],
            "critic0_target": self.critics_target[0],
            "critic1_target": self.critics_target[1],
            "actor": self.actor,
            "actor_target": self.actor_target,
        }
        return {**nets, "log_alpha_prime": self.log_alpha_prime} if self.lagrange else nets

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"critic": self.critic_optimizer, "actor": self.actor_optimizer}
        return {**optimizers, "alpha_prime": self.alpha_prime_optimizer} if self.lagrange else optimizers

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        """Target smoothing, target and online taus, CODAC's candidates, the actor's tail taus: in this order."""
        c, b = self.config, batch_size
        draws = {
            "smoothing": self._randn(b, self.space.act_dim),
            "target_taus": self._rand(b, c.n_target_taus),
            "taus": self._rand(b, c.n_taus),
        }
        if c.conservative:
            draws.update(self._penalty_noise(b))
        shape = (b, c.n_policy_taus)
        return {
            **draws,
            "policy_taus": risk_taus(c.train_risk, shape, generator=self.generator, device=self.device),
        }

    def stages(self) -> tuple[Stage, ...]:
        minimise = {"critic": "critic_loss", **({"alpha_prime": "_lagrange_loss"} if self.lagrange else {})}
        critic = Stage(self._critic_losses, minimise)
        if self.steps % self.config.policy_freq:  # TD3: the actor and the targets lag the critics
            return critic, Stage(self._actor_losses, {})  # still report the actor's loss every step
        tau = self.config.tau
        targets = (("critic0_target", "critic0", tau), ("critic1_target", "critic1", tau))
        polyak = (*targets, ("actor_target", "actor", tau))
        return critic, Stage(self._actor_losses, {"actor": "actor_loss"}, polyak=polyak)

    def _critic_losses(self, nets: Nets, batch: Batch, noise: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        obs, next_obs = batch["observations"], batch["next_observations"]
        actions = self.unit_actions(batch["actions"]).clamp(-1, 1)
        critics = (nets["critic0"], nets["critic1"])
        with torch.no_grad():
            next_actions = self.target_actions(next_obs, nets["actor_target"], noise["smoothing"])
            targets = (nets["critic0_target"], nets["critic1_target"])
            z_next = torch.minimum(*(z(next_obs, next_actions, noise["target_taus"]) for z in targets))
            target = batch["rewards"][:, None] + c.discount * (1 - batch["terminals"][:, None]) * z_next
        taus = noise["taus"]
        z_data = [z(obs, actions, taus) for z in critics]
        td_loss = sum(quantile_huber_loss(z, target, taus, c.kappa, c.quantile_reduction) for z in z_data)
        out = {"q_mean": z_data[0].mean()}
        if not c.conservative:
            return {"critic_loss": td_loss, **out}  # type: ignore[dict-item]
        candidates, log_density = self.penalty_actions(obs, next_obs, nets["actor"], noise)
        gaps = torch.stack(
            [
                self._cql_penalty(z, obs, candidates, log_density, taus[:, : c.cql_taus], zd)
                for z, zd in zip(critics, z_data, strict=True)
            ]
        )
        penalty, lagrange = self.lagrange_terms(gaps, nets.get("log_alpha_prime"))
        out.update({"td_loss": td_loss, "cql_penalty": gaps.sum(), **lagrange})  # type: ignore[dict-item]
        return {"critic_loss": td_loss + penalty, **out}  # type: ignore[dict-item]

    def lagrange_terms(
        self, gaps: torch.Tensor, log_alpha_prime: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critics' penalty for the twins' gaps ``(2,)``, and the multiplier's loss and value by name.

        Without ``cql_lagrange``: ``cql_alpha * sum(gaps)``. With it, CODAC's ``sum alpha' * (cql_alpha * gap -
        cql_target_gap)`` (``alpha'`` constant for the critics) and the dual loss ``-mean alpha' * (cql_alpha
        * gap - cql_target_gap)`` (gaps constant): its gradient lowers ``alpha'`` while the weighted gaps lie
        below the threshold and raises it above.
        """
        c = self.config
        if log_alpha_prime is None:
            return c.cql_alpha * gaps.sum(), {}
        alpha_prime = log_alpha_prime.exp().clamp(0.0, 1e6)
        excess = c.cql_alpha * gaps - c.cql_target_gap
        dual = -(alpha_prime * excess.detach()).mean()
        return (alpha_prime.detach() * excess).sum(), {
            "alpha_prime": alpha_prime.detach(),
            "_lagrange_loss": dual,
        }

    def _actor_losses(self, nets: Nets, batch: Batch, noise: Batch) -> dict[str, torch.Tensor]:
        """TD3+BC with the risk functional of the first critic in place of Q."""
        obs = batch["observations"]
        actions = self.unit_actions(batch["actions"]).clamp(-1, 1)
        pi = self._act(nets["actor"], obs)
        rho = nets["critic0"](obs, pi, noise["policy_taus"]).mean(-1)
        lam = self.config.bc_weight / rho.abs().mean().detach().clamp_min(1e-6)
        return {"actor_loss": -lam * rho.mean() + (pi - actions).pow(2).mean()}

    # -- acting ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray, *, risk=None, generator=None, **inference: Any) -> np.ndarray:
        """The deterministic actor's actions; ``risk`` is ignored (the actor was trained at ``train_risk``)."""
        self.settings(inference)  # no inference-time settings: any override is an error
        return self.clip_actions(self.env_actions(self._act(self.actor, self.obs_tensor(obs))))

    @torch.no_grad()
    def return_quantiles(
        self, obs: np.ndarray, *, n: int = 32, actions: np.ndarray | None = None
    ) -> np.ndarray:
        """``(B, n)`` return quantiles (reward units, ascending) at the midpoint taus ``(2i + 1) / 2n``, min
        over the twin critics, of ``obs`` and ``actions`` (the actor's when None), for calibration plots."""
        s = self.obs_tensor(obs)
        a = (
            self._act(self.actor, s)
            if actions is None
            else self.unit_actions(torch.as_tensor(actions, dtype=torch.float32, device=self.device))
        )
        taus = midpoint_taus(n, device=self.device).expand(s.shape[0], -1)
        z = torch.minimum(*(critic(s, a, taus) for critic in self.critics))
        return torch.sort(z, dim=-1).values.cpu().numpy()

    def components(self) -> dict[str, Any]:
        return {
            "critics": self.critics,
            "critics_target": self.critics_target,
            "actor": self.actor,
            "actor_target": self.actor_target,
            "critic_optimizer": self.critic_optimizer,
            "actor_optimizer": self.actor_optimizer,
            **(
                {
                    "lagrange": nn.ParameterList([self.log_alpha_prime]),
                    "lagrange_optimizer": self.alpha_prime_optimizer,
                }
                if self.lagrange
                else {}
            ),
        }


@dataclass(frozen=True)
class CODACConfig(IQNConfig):
    """IQN with CODAC's conservative penalty, at the values of CODAC's code (``distributional/codac.py``,
    ``dsac.py``, ``train_offline.py``); its per-dataset ``configs/d4rl_configs.json`` sets ``min_z_weight`` 0.1-10
    and turns the Lagrange form off (``lag: -1``) on halfcheetah-medium-expert only."""

    quantile_reduction: Literal["sum", "mean"] = doc(
        "quantile-Huber loss over the N predicted quantiles: mean, as CODAC's quantile_regression_loss",
        "mean",
    )
    conservative: bool = doc("CODAC's penalty on (dist_penalty_type uniform)", True)
    cql_alpha: float = doc("weight of each critic's gap (CODAC's min_z_weight, its default 10)", 10.0, ge=0)
    cql_lagrange: bool = doc("tune alpha' on cql_alpha * gap - cql_target_gap (CODAC's with_lagrange)", True)
    cql_taus: int = doc("quantile levels the penalty evaluates per candidate (CODAC: one)", 1, ge=1)

    reference: ClassVar[str] = "JasonMa2016/CODAC distributional/codac.py, dsac.py, networks.py"
    reference_fields: ClassVar[tuple[str, ...]] = (
        "hidden", "embedding_dim", "n_taus", "n_target_taus", "kappa", "discount", "tau", "critic_lr",
        "quantile_reduction", "conservative", "cql_alpha", "cql_lagrange", "cql_target_gap", "cql_samples",
        "cql_taus",
    )  # fmt: skip


@register("codac")
class CODAC(IQN):
    """CODAC (Ma et al. 2021): IQN with the conservative penalty at CODAC's settings, a TD3+BC actor."""

    Config: ClassVar[type[IQNConfig]] = CODACConfig
    paper = "https://arxiv.org/abs/2107.06106"
