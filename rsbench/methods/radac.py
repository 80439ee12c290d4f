"""RADAC, the diffusion member of RAMAC (Fukazawa, Mundada & Soltani, ICML 2026, https://arxiv.org/abs/2510.02695;
reference code https://github.com/KaiFukazawa/RAMAC, ``agents/radac.py``, ``agents/radac_diffusion.py``,
``main.py``, ``configs/radac.yaml``).

A diffusion actor ``pi(a | s)``: a state-conditioned MLP denoiser over actions, DDPM with ``K = 5`` steps on
the variance-preserving schedule (Diffusion-QL's), trained with the behaviour-cloning diffusion loss plus a
risk term differentiated through the whole reverse chain:

    L_actor = lambda_bc * E ||eps - eps_theta(a_t, t, s)||^2  -  eta * E_tau[min_i Z_i(s, a_pi(s), tau)],

``tau`` drawn from the training risk's distortion (:meth:`~rsbench.risk.RiskSetting.distort`; ``cvar:0.1``
by default, ``wang``/``cpw``/``power`` as RAMAC's samplers). Twin implicit quantile critics
(:class:`~rsbench.methods.iqn.QuantileCritic`, the same pieces as IQN) learn the return distribution by
quantile-Huber regression on ``clip(r + discount (1 - d) min_i Z'_i(s', a', tau'), -q_clip, q_clip)`` with
``a'`` sampled from an EMA copy of the actor.

Deviations from the reference, each small and said here: critics take state and action concatenated
(the reference embeds each in its own 256-unit layer before fusing them into ``emb_dim``) with PyTorch's
default initialisation; a critic's taus are drawn per transition (the reference shares one set across the
batch); the quantile-Huber loss pairs each tau with its own predicted quantile, as in Dabney et al. (the
reference's ``quantile_huber_loss`` broadcasts the taus along the targets' axis); the EMA actor tracks the
actor until ``ema_start`` (the reference leaves it at its initial weights until then). ``act`` samples the
online actor, as the reference's ``sample_action`` does. RAMAC selects its best checkpoint by evaluation
return; rsbench evaluates the last one (docs/design.md §6).

The risk level is a training setting (``train_risk``): ``act`` ignores its ``risk`` argument, so a suite
lists the actor's training risk as its risk label (docs/design.md §4).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.methods.base import DataSpec, Method, MethodConfig, Space, seeded
from rsbench.methods.diffusion import EMA, NoiseSchedule, SinusoidalEmbedding, vp_betas
from rsbench.methods.iqn import QuantileCritic, risk_taus
from rsbench.methods.nets import mlp, soft_update
from rsbench.methods.noise import Noise, randn
from rsbench.methods.quantile import quantile_huber_loss
from rsbench.methods.registry import register
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData

_REF = "RAMAC configs/radac.yaml, halfcheetah-medium-expert-v2"


@dataclass(frozen=True)
class RADACConfig(MethodConfig):
    """RADAC's settings; defaults are the reference's (``main.py`` and the first row of ``configs/radac.yaml``,
    HalfCheetah medium-expert; its other rows differ in ``critic_lr``, ``eta``, ``n_quantiles``,
    ``lambda_bc``, ``eta_warmup_steps``, ``q_clip`` and ``grad_norm``: docs/ramac.md)."""

    reference: ClassVar[str] = (
        "KaiFukazawa/RAMAC main.py, agents/radac*.py, configs/radac.yaml (halfcheetah-medium-expert-v2)"
    )
    reference_fields: ClassVar[tuple[str, ...]] = (
        "hidden", "time_dim", "diffusion_steps", "n_quantiles", "kappa", "discount", "tau", "actor_lr", "critic_lr",
        "grad_norm", "q_clip", "eta", "lambda_bc", "eta_warmup_steps", "eta_ramp_steps", "train_risk", "ema_decay",
        "ema_start", "ema_every", "normalize_obs",
    )  # fmt: skip

    hidden: tuple[int, ...] = doc("denoiser MLP widths, Mish (RADACDenoiser: 3 x 256)", (256, 256, 256))
    time_dim: int = doc("sinusoidal timestep features of the denoiser (RADACDenoiser t_dim)", 16, ge=4)
    diffusion_steps: int = doc("K, DDPM steps of the VP schedule (main.py --T 5)", 5, ge=1)
    critic_hidden: tuple[int, ...] = doc(
        "critic widths: state-action layers then the tau-embedding width (reference: 256 then emb_dim 128)",
        (256, 128),
    )
    n_quantiles: int = doc(
        f"taus per critic call, and cosine features of the tau embedding ({_REF})", 32, ge=1
    )
    kappa: float = doc("quantile-Huber threshold, reward units (F.smooth_l1_loss's default 1)", 1.0, gt=0)
    discount: float = doc("TD discount (main.py --discount)", 0.99, gt=0, le=1)
    tau: float = doc(f"Polyak rate of the target critics, every step ({_REF})", 0.005, gt=0, le=1)
    actor_lr: float = doc(f"Adam learning rate of the actor ({_REF})", 3e-4, gt=0)
    critic_lr: float = doc(
        f"Adam learning rate of each critic ({_REF}; 1e-5 or 5e-6 on Hopper/Walker2d)", 5e-5, gt=0
    )
    grad_norm: float = doc(f"gradient-norm clip per network, 0 for none ({_REF})", 5.0, ge=0)
    q_clip: float = doc(f"TD targets clipped to +-q_clip, reward units ({_REF}: [-300, 300])", 300.0, gt=0)
    eta: float = doc(
        f"weight of the risk term -eta * rho(Z) in the actor loss ({_REF}; 0.05 on Hopper)", 0.02, ge=0
    )
    lambda_bc: float = doc(f"weight of the diffusion BC loss ({_REF}; 1.5 on some rows)", 1.0, ge=0)
    eta_warmup_steps: int = doc(f"steps with eta = 0 first ({_REF}; 300000 on Hopper/Walker2d)", 0, ge=0)
    eta_ramp_steps: int = doc("steps over which eta then rises linearly to its value (main.py: 0)", 0, ge=0)
    train_risk: RiskSetting = doc(
        "risk functional of the actor's taus (main.py: cvar, alpha 0.1; wang:-0.7, cpw:0.71, power:-2)",
        RiskSetting("cvar", 0.1),
    )
    ema_decay: float = doc(
        "decay of the EMA actor that samples the TD targets' actions (main.py)", 0.995, ge=0, le=1
    )
    ema_start: int = doc("steps before the EMA starts averaging (main.py start_steps)", 1000, ge=0)
    ema_every: int = doc("steps between EMA updates (main.py update_ema_every)", 5, ge=1)
    normalize_obs: bool = doc("standardise observations (the reference feeds raw states)", False)

    @classmethod
    def tiny(cls) -> RADACConfig:
        return cls(hidden=(32, 32), critic_hidden=(32, 16), n_quantiles=8, diffusion_steps=3, ema_start=2)


class ActionDenoiser(nn.Module):
    """``eps_theta(a_t, t, s)``: ``(B, act_dim)``, ``(B,)`` long, ``(B, obs_dim)`` -> ``(B, act_dim)``.

    RAMAC's RADACDenoiser: an MLP (Mish) over the noisy action, a timestep embedding (sinusoidal features,
    then ``Linear(t, 2t) - Mish - Linear(2t, t)``) and the state.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], time_dim: int):
        super().__init__()
        self.time = nn.Sequential(SinusoidalEmbedding(time_dim), mlp(time_dim, (2 * time_dim,), time_dim))
        self.net = mlp(act_dim + time_dim + obs_dim, hidden, act_dim, nn.Mish)

    def forward(self, actions: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([actions, self.time(t), obs], dim=-1))


def reverse_chain(
    denoiser: nn.Module,
    schedule: NoiseSchedule,
    obs: torch.Tensor,
    act_dim: int,
    normal: Callable[[tuple[int, ...]], torch.Tensor],
) -> torch.Tensor:
    """Ancestral DDPM sampling of ``(B, act_dim)`` unit actions for ``obs`` ``(B, obs_dim)``, x0 clipped to
    ``[-1, 1]`` at every step; differentiable in the denoiser's weights when called with grad enabled.

    ``normal(shape)`` gives the standard normals: the start, then one ``(B, act_dim)`` per step but the
    last, in that order (so a per-episode stream gives each episode the same draws in any batch).
    """
    b = obs.shape[0]
    x = normal((b, act_dim))
    for i in reversed(range(schedule.n_steps)):
        t = torch.full((b,), i, dtype=torch.long, device=obs.device)
        x0 = schedule.predict_x0_from_eps(x, t, denoiser(x, t, obs)).clamp(-1.0, 1.0)
        mean, _, log_variance = schedule.q_posterior(x0, x, t)
        x = mean if i == 0 else mean + (0.5 * log_variance).exp() * normal((b, act_dim))
    return x.clamp(-1.0, 1.0)


@register("radac")
class RADAC(Method):
    """RADAC: a diffusion actor trained with BC plus a distortion risk of twin IQN critics through its chain."""

    Config: ClassVar[type[RADACConfig]] = RADACConfig
    config: RADACConfig
    paper = "https://arxiv.org/abs/2510.02695"
    train_risk_field = "train_risk"  # act ignores the inference risk: a suite lists this risk only

    def __init__(
        self, config: RADACConfig, space: Space, *, seed: int = 0, device: str | torch.device = "cpu"
    ):
        super().__init__(config, space, seed=seed, device=device)
        c, d, a = config, space.obs_dim, space.act_dim
        with seeded(seed):
            self.actor = ActionDenoiser(d, a, c.hidden, c.time_dim).to(self.device)
            self.critics = nn.ModuleList(
                [QuantileCritic(d, a, c.critic_hidden, c.n_quantiles) for _ in range(2)]
            ).to(self.device)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.ema = EMA(self.actor, c.ema_decay, c.ema_start, c.ema_every)
        self.schedule = NoiseSchedule.from_betas(vp_betas(c.diffusion_steps)).to(self.device)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=c.critic_lr)

    # -- training -------------------------------------------------------------------------------------
    def prepare(self, data: OfflineData) -> None:
        if self.config.normalize_obs:
            self.normalizers["obs"] = Normalizer.fit(data.observations, "gaussian")

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions", obs_normalizer=self.normalizers.get("obs"))

    def _normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def eta_now(self) -> float:
        """The risk weight at this step: 0 during the warm-up, then a linear ramp to ``eta`` (reference)."""
        c = self.config
        if self.steps < c.eta_warmup_steps:
            return 0.0
        return c.eta * min(1.0, (self.steps - c.eta_warmup_steps) / max(1.0, float(c.eta_ramp_steps)))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        obs = batch["observations"]
        actions = self.unit_actions(batch["actions"]).clamp(-1.0, 1.0)
        eta = self.eta_now()
        out = {**self._critic_step(batch, obs, actions), **self._actor_step(obs, actions, eta)}
        self.ema.update(self.steps)
        for target, online in zip(self.critics_target, self.critics, strict=True):
            soft_update(target, online, self.config.tau)
        values = torch.stack(list(out.values())).tolist()  # one device sync for the step's scalars
        return {**dict(zip(out, values, strict=True)), "eta": eta}

    def _critic_step(
        self, batch: dict[str, torch.Tensor], obs: torch.Tensor, actions: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        c, n = self.config, self.config.n_quantiles
        taus, target_taus = self._rand(obs.shape[0], n), self._rand(obs.shape[0], n)
        with torch.no_grad():
            next_obs = batch["next_observations"]
            next_actions = reverse_chain(
                self.ema.model, self.schedule, next_obs, self.space.act_dim, self._normal
            )
            z_next = torch.minimum(*(z(next_obs, next_actions, target_taus) for z in self.critics_target))
            target = batch["rewards"][:, None] + c.discount * (1 - batch["terminals"][:, None]) * z_next
            target = target.clamp(-c.q_clip, c.q_clip)
        z_data = [z(obs, actions, taus) for z in self.critics]
        losses = [quantile_huber_loss(z, target, taus, c.kappa) for z in z_data]
        self.critic_optimizer.zero_grad(set_to_none=True)
        sum(losses).backward()  # type: ignore[union-attr]
        for critic in self.critics:  # the reference clips each critic on its own
            _clip(critic, c.grad_norm)
        self.critic_optimizer.step()
        return {"critic_loss": 0.5 * (losses[0] + losses[1]).detach(), "q_mean": z_data[0].detach().mean()}

    def _actor_step(self, obs: torch.Tensor, actions: torch.Tensor, eta: float) -> dict[str, torch.Tensor]:
        c, b = self.config, obs.shape[0]
        t = torch.randint(0, c.diffusion_steps, (b,), generator=self.generator, device=self.device)
        eps = self._normal(actions.shape)
        bc_loss = (self.actor(self.schedule.q_sample(actions, t, eps), t, obs) - eps).pow(2).mean()
        pi = reverse_chain(self.actor, self.schedule, obs, self.space.act_dim, self._normal)
        taus = risk_taus(c.train_risk, (b, c.n_quantiles), generator=self.generator, device=self.device)
        rho = torch.minimum(*(z(obs, pi, taus) for z in self.critics)).mean()
        actor_loss = c.lambda_bc * bc_loss - eta * rho
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=list(self.actor.parameters()))  # the critics keep their own step
        _clip(self.actor, c.grad_norm)
        self.actor_optimizer.step()
        return {"actor_loss": actor_loss.detach(), "bc_loss": bc_loss.detach(), "risk_value": rho.detach()}

    # -- acting ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        *,
        risk: RiskSetting | str | None = None,
        generator: Noise | None = None,
        **inference: Any,
    ) -> np.ndarray:
        """Actions sampled by the online actor's reverse chain; ``risk`` is ignored (the actor was trained at
        ``train_risk``). Draws through ``generator`` (per episode when it is an ``EpisodeNoise``)."""
        self.settings(inference)  # no inference-time settings: any override is an error
        noise = self.generator if generator is None else generator
        s = self.obs_tensor(obs)
        unit = reverse_chain(
            self.actor, self.schedule, s, self.space.act_dim, lambda shape: randn(noise, shape)
        )
        return self.clip_actions(self.env_actions(unit))

    def components(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "ema": self.ema,
            "critics": self.critics,
            "critics_target": self.critics_target,
            "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
        }


def _clip(net: nn.Module, max_norm: float) -> None:
    if max_norm > 0:
        nn.utils.clip_grad_norm_(net.parameters(), max_norm)
