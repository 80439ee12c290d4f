"""CQL (Kumar et al. 2020, "Conservative Q-Learning for Offline Reinforcement Learning",
https://arxiv.org/abs/2006.04779): SAC with twin critics, automatic entropy tuning and the CQL(H)
regulariser, at the settings of CORL's implementation (Tarasov et al. 2022,
https://github.com/tinkoff-ai/CORL, ``algorithms/offline/cql.py``).

The loss of the twin critics is CORL's ``qf_loss = qf1_loss + qf2_loss + cql_alpha * (gap_1 + gap_2)``:
each critic's full TD mean squared error plus ``cql_alpha`` times its gap ``logsumexp_a Q(s, a) - Q(s, a_data)``;
the log-sum-exp is estimated with importance sampling over ``cql_n_actions`` uniform actions and actions of
the current policy at ``s`` and ``s'``. The entropy temperature learns at the policy's rate (CORL's
``alpha_optimizer`` uses ``policy_lr``). CORL's network details are kept: orthogonal initialisation of the
critics, a 1e-2-gain last layer, ``log_std`` offset by -1 and clamped to [-20, 2]. Actions live in ``[-1, 1]``
inside the method and are mapped onto the task's bounds in ``act``. CQL is not risk-aware: it optimises the
mean return.

Deviation from CORL's defaults: none in this config; CORL's per-dataset YAMLs change ``cql_alpha``, the
Lagrange version and ``bc_steps`` for AntMaze, which the suite sets per task.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.base import DataSpec, MethodConfig, Space, seeded
from rsbench.methods.nets import mlp
from rsbench.methods.noise import Noise
from rsbench.methods.packing import Batch, Nets, PackableMethod, Stage
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class CQLConfig(MethodConfig):
    """CQL(H) on SAC; defaults follow CORL's continuous-control configuration."""

    hidden: tuple[int, ...] = doc("hidden layer sizes of the actor and of each critic", (256, 256, 256))
    actor_lr: float = doc("actor learning rate (CORL's policy_lr)", 3e-5, gt=0)
    critic_lr: float = doc("critic learning rate (CORL's qf_lr)", 3e-4, gt=0)
    alpha_lr: float = doc("learning rate of the entropy temperature (CORL: policy_lr)", 3e-5, gt=0)
    discount: float = doc("discount factor", 0.99, gt=0, le=1)
    tau: float = doc("Polyak rate of the target critics", 5e-3, gt=0, le=1)
    cql_alpha: float = doc("weight of each critic's conservative gap beside its full TD loss", 10.0, ge=0)
    cql_n_actions: int = doc("sampled actions per state for the log-sum-exp", 10, ge=1)
    cql_temp: float = doc("temperature of the log-sum-exp", 1.0, gt=0)
    cql_lagrange: bool = doc("scale the penalty by a multiplier tuned towards cql_target_gap (CORL)", False)
    cql_target_gap: float = doc("target of logsumexp Q - Q(data) when cql_lagrange is on", 10.0)
    orthogonal_init: bool = doc("orthogonal initialisation of the critics (CORL)", True)
    target_entropy_scale: float = doc("target entropy = -scale * act_dim", 1.0, ge=0)
    bc_steps: int = doc("first steps train the actor by behaviour cloning (log-likelihood)", 0, ge=0)
    normalize_obs: bool = doc("standardise observations with the dataset's mean and std", True)
    reward_scale: float = doc("rewards are multiplied by this in training", 1.0, gt=0)

    @classmethod
    def tiny(cls) -> CQLConfig:
        return cls(hidden=(32, 32), cql_n_actions=2)


def corl_init(net: nn.Sequential, orthogonal: bool) -> nn.Sequential:
    """CORL's ``init_module_weights``: orthogonal hidden layers (gain sqrt 2) when ``orthogonal``, and a
    last layer of gain 1e-2 (orthogonal or Xavier) with zero biases, so initial outputs are near 0."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    if orthogonal:
        for layer in linears[:-1]:
            nn.init.orthogonal_(layer.weight, gain=math.sqrt(2))
            nn.init.zeros_(layer.bias)
        nn.init.orthogonal_(linears[-1].weight, gain=1e-2)
    else:
        nn.init.xavier_uniform_(linears[-1].weight, gain=1e-2)
    nn.init.zeros_(linears[-1].bias)
    return net


class TanhGaussianActor(nn.Module):
    """``s (B, obs_dim)`` -> action in ``[-1, 1]^act_dim`` from a tanh-squashed Gaussian, with its log-density.

    As CORL's ``TanhGaussianPolicy``: ``log_std`` is offset by -1 and clamped to [-20, 2].
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.net = corl_init(mlp(obs_dim, hidden, 2 * act_dim, nn.ReLU), orthogonal=False)

    def _mean_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, (log_std - 1.0).clamp(-20.0, 2.0)

    def forward(
        self,
        obs: torch.Tensor,
        generator: torch.Generator | None,
        deterministic: bool = False,
        eps: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A sample and its log-density; ``eps`` is the standard normal draw (from ``generator`` when None)."""
        mean, log_std = self._mean_log_std(obs)
        if deterministic:
            return torch.tanh(mean), torch.zeros(obs.shape[:-1], device=obs.device)
        if eps is None:
            eps = torch.randn(mean.shape, device=mean.device, generator=generator)
        pre = mean + log_std.exp() * eps
        action = torch.tanh(pre)
        normal_logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # the tanh change of variables, in the numerically stable form 2 (log 2 - x - softplus(-2x))
        correction = (2 * (math.log(2) - pre - nn.functional.softplus(-2 * pre))).sum(-1)
        return action, normal_logp - correction

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Log-density of ``action`` in ``(-1, 1)`` (used for behaviour cloning)."""
        mean, log_std = self._mean_log_std(obs)
        a = action.clamp(-0.999999, 0.999999)
        pre = torch.atanh(a)
        eps = (pre - mean) / log_std.exp()
        normal_logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return normal_logp - (2 * (math.log(2) - pre - nn.functional.softplus(-2 * pre))).sum(-1)


class TwinQ(nn.Module):
    """Two critics ``Q_i(s, a)``: ``(B, obs_dim)``, ``(B, act_dim)`` -> ``(2, B)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], orthogonal_init: bool = True):
        super().__init__()
        self.q = nn.ModuleList(
            [corl_init(mlp(obs_dim + act_dim, hidden, 1, nn.ReLU), orthogonal_init) for _ in range(2)]
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1)
        return torch.stack([q(x).squeeze(-1) for q in self.q])


@register("cql")
class CQL(PackableMethod):
    """CQL(H): SAC with twin critics, automatic entropy tuning and the conservative log-sum-exp penalty.

    Packable (:mod:`rsbench.methods.packing`): one update is the actor-and-temperature stage, then the
    critic stage (with the Lagrange multiplier's when ``cql_lagrange``) and the target critics' Polyak step.
    """

    Config: ClassVar[type[CQLConfig]] = CQLConfig
    config: CQLConfig
    paper = "https://arxiv.org/abs/2006.04779"

    def __init__(self, config: CQLConfig, space: Space, *, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(config, space, seed=seed, device=device)
        c = config
        with seeded(seed):
            self.actor = TanhGaussianActor(space.obs_dim, space.act_dim, c.hidden).to(self.device)
            self.critic = TwinQ(space.obs_dim, space.act_dim, c.hidden, c.orthogonal_init).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros((), device=self.device))
        # CORL's Lagrange multiplier alpha' = exp(log_alpha_prime), log_alpha_prime starting at 1.0
        self.log_cql_alpha = nn.Parameter(torch.tensor(1.0, device=self.device))
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=c.alpha_lr)
        self.cql_alpha_opt = torch.optim.Adam([self.log_cql_alpha], lr=c.critic_lr)
        self.target_entropy = -c.target_entropy_scale * space.act_dim

    def prepare(self, data: OfflineData) -> None:
        if self.config.normalize_obs:
            self.normalizers["obs"] = Normalizer.fit(data.observations, "gaussian")

    def data_spec(self) -> DataSpec:
        return DataSpec(
            "transitions", obs_normalizer=self.normalizers.get("obs"), reward_scale=self.config.reward_scale
        )

    # -- training: the stages of one update (packable) ----------------------------------------------
    def nets(self) -> dict[str, nn.Module | nn.Parameter]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "log_alpha": self.log_alpha,
            "log_cql_alpha": self.log_cql_alpha,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "actor": self.actor_opt,
            "critic": self.critic_opt,
            "alpha": self.alpha_opt,
            "cql_alpha": self.cql_alpha_opt,
        }

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The policy samples' normal draws (at ``s`` for the actor and ``s'`` for the target, then
        ``cql_n_actions`` per state at ``s`` and ``s'``) and the uniform actions of the log-sum-exp."""
        b, n, d, g = batch_size, self.config.cql_n_actions, self.space.act_dim, self.generator

        def randn(rows: int) -> torch.Tensor:
            return torch.randn((rows, d), device=self.device, generator=g)

        draws = {"actor": randn(b), "next": randn(b), "now_n": randn(b * n), "next_n": randn(b * n)}
        return {**draws, "uniform": torch.rand((b * n, d), device=self.device, generator=g) * 2 - 1}

    def stages(self) -> tuple[Stage, ...]:
        c = self.config
        critic = {"critic": "_critic_loss", **({"cql_alpha": "_lagrange_loss"} if c.cql_lagrange else {})}
        return (
            Stage(self._actor_losses, {"alpha": "_alpha_loss", "actor": "actor_loss"}),
            Stage(self._critic_losses, critic, polyak=(("critic_target", "critic", c.tau),)),
        )

    def _actor_losses(self, nets: Nets, batch: Batch, noise: Batch) -> dict[str, torch.Tensor]:
        """SAC's actor and temperature losses (behaviour cloning for the first ``bc_steps``)."""
        obs = batch["observations"]
        new_actions, logp = nets["actor"](obs, None, eps=noise["actor"])
        alpha_loss = -(nets["log_alpha"] * (logp.detach() + self.target_entropy)).mean()
        alpha = nets["log_alpha"].exp().detach()
        if self.steps < self.config.bc_steps:
            actions = self.unit_actions(batch["actions"]).clamp(-1, 1)
            actor_loss = (alpha * logp - nets["actor"].log_prob(obs, actions)).mean()
        else:
            actor_loss = (alpha * logp - nets["critic"](obs, new_actions).min(0).values).mean()
        return {"actor_loss": actor_loss, "alpha": alpha, "_alpha_loss": alpha_loss}

    def _critic_losses(self, nets: Nets, batch: Batch, noise: Batch) -> dict[str, torch.Tensor]:
        td_loss, gap, q_data = self.critic_loss_terms(batch, nets, noise)
        penalty, lagrange_loss = self._penalty(gap, nets["log_cql_alpha"])
        extra = {"_lagrange_loss": lagrange_loss} if lagrange_loss is not None else {}
        return {
            "critic_loss": td_loss,
            "cql_penalty": penalty,
            "q_data": q_data.mean(),
            "_critic_loss": td_loss + penalty,
            **extra,
        }

    def td_target(self, batch: Batch, nets: Nets, noise: Batch) -> torch.Tensor:
        """``(B,)`` SAC target from the twin minimum of the target critics (no entropy backup, as CORL)."""
        with torch.no_grad():
            next_actions, _ = nets["actor"](batch["next_observations"], None, eps=noise["next"])
            target_q = nets["critic_target"](batch["next_observations"], next_actions).min(0).values
            return batch["rewards"] + self.config.discount * (1.0 - batch["terminals"]) * target_q

    def critic_loss_terms(
        self, batch: Batch, nets: Nets, noise: Batch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The TD loss summed over the twin critics (CORL's ``qf1_loss + qf2_loss``, each a full MSE), each
        critic's conservative gap ``(2,)`` and ``Q(s, a_data)`` ``(2, B)``."""
        actions = self.unit_actions(batch["actions"]).clamp(-1, 1)
        target = self.td_target(batch, nets, noise)
        q_data = nets["critic"](batch["observations"], actions)  # (2, B)
        td_loss = (q_data - target).pow(2).mean(1).sum()
        gap = self._gap(batch["observations"], batch["next_observations"], q_data, nets, noise)
        return td_loss, gap, q_data

    def _gap(
        self, obs: torch.Tensor, next_obs: torch.Tensor, q_data: torch.Tensor, nets: Nets, noise: Batch
    ) -> torch.Tensor:
        """CQL(H) per critic ``(2,)``: importance-sampled log-sum-exp over uniform and policy actions at
        ``s`` and ``s'`` (all evaluated at ``s``, as CORL), minus ``Q(s, a_data)``, averaged over the batch."""
        c, critic = self.config, nets["critic"]
        b, n, d = obs.shape[0], c.cql_n_actions, self.space.act_dim
        obs_n, next_n = obs.repeat_interleave(n, dim=0), next_obs.repeat_interleave(n, dim=0)
        with torch.no_grad():
            pi_now, logp_now = nets["actor"](obs_n, None, eps=noise["now_n"])
            pi_next, logp_next = nets["actor"](next_n, None, eps=noise["next_n"])
        q_uniform = critic(obs_n, noise["uniform"]).view(2, b, n) + d * math.log(2.0)  # minus log(1/2^d)
        q_now = critic(obs_n, pi_now).view(2, b, n) - logp_now.view(1, b, n)
        q_next = critic(obs_n, pi_next).view(2, b, n) - logp_next.view(1, b, n)
        stacked = torch.cat([q_uniform, q_now, q_next], dim=2) / c.cql_temp
        return (torch.logsumexp(stacked, dim=2) * c.cql_temp - q_data).mean(1)

    def _penalty(
        self, gap: torch.Tensor, log_cql_alpha: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``cql_alpha * (gap_1 + gap_2)``; with ``cql_lagrange``, CORL's ``alpha' * cql_alpha * (gap - target)``
        and the dual loss of ``alpha'`` (stepped on the same batch, before the critics use ``alpha'``)."""
        c = self.config
        if not c.cql_lagrange:
            return c.cql_alpha * gap.sum(), None
        alpha_prime = log_cql_alpha.exp().clamp(0.0, 1e6)
        lagrange_loss = -(alpha_prime * c.cql_alpha * (gap.detach() - c.cql_target_gap)).sum() * 0.5
        return (alpha_prime.detach() * c.cql_alpha * (gap - c.cql_target_gap)).sum(), lagrange_loss

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        *,
        risk: RiskSetting | str | None = None,
        generator: Noise | None = None,
        **inference: Any,
    ) -> np.ndarray:
        self.settings(inference)
        unit, _ = self.actor(self.obs_tensor(obs), None, deterministic=True)
        return self.clip_actions(self.env_actions(unit))

    def components(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "temperatures": nn.ParameterList([self.log_alpha, self.log_cql_alpha]),
            "actor_opt": self.actor_opt,
            "critic_opt": self.critic_opt,
            "alpha_opt": self.alpha_opt,
            "cql_alpha_opt": self.cql_alpha_opt,
        }
