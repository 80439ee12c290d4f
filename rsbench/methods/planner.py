"""What the three diffusion planners share: the config fields, the denoiser with its EMA copy, training of
the trajectory model, sampling with inpainting / guidance / best-of-N, and replanning during rollouts.

A planner subclass says what a trajectory is (:meth:`DiffusionPlanner.trajectories`), what else it trains
(:meth:`DiffusionPlanner.aux_losses`, with their random draws in :meth:`DiffusionPlanner.noise`, which keeps
the update packable), how it guides and ranks samples and how a plan becomes an action.
Tensors: plans are ``(B, H, D)`` in normalised units, ``D = transition_dim``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np
import torch
from torch import nn

from rsbench.data.normalize import Normalizer
from rsbench.data.samplers import window_starts, window_states
from rsbench.methods.base import DataSpec, MethodConfig, MethodPolicy, Space, as_risk, seeded
from rsbench.methods.diffusion import (
    EMA,
    DDIMSampler,
    DDPMSampler,
    Guidance,
    Inpainting,
    NoiseSchedule,
    TemporalUnet,
    diffusion_loss,
    diffusion_noise,
    select_best,
)
from rsbench.methods.noise import Noise
from rsbench.methods.packing import Batch, Nets, PackableMethod, Stage
from rsbench.risk import RiskSetting
from rsbench.schema import doc

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class PlannerConfig(MethodConfig):
    """Fields every diffusion planner has. ``inference`` fields may change at ``act`` time."""

    horizon: int = doc("H, steps per plan; divisible by 2**(len(dim_mults) - 1)", 32, ge=2)
    dim: int = doc("base channels of the temporal U-Net", 32, ge=8)
    dim_mults: tuple[int, ...] = doc("U-Net channel multiplier per resolution level", (1, 2, 4, 8))
    diffusion_steps: int = doc("K, noise levels of the diffusion process in training", 20, ge=2)
    schedule: Literal["linear", "cosine"] = doc("noise schedule of the K betas", "cosine")
    predict: Literal["epsilon", "x0"] = doc("what the denoiser predicts", "epsilon")
    normalizer: Literal["limits", "gaussian"] = doc(
        "state normalisation, fitted on every state a training window holds: limits maps them to [-1, 1]",
        "limits",
    )
    lr: float = doc("Adam learning rate of every network", 2e-4, gt=0)
    discount: float = doc("discount of the returns that value, critic and conditioning use", 0.99, gt=0, le=1)
    ema_decay: float = doc("decay of the EMA copy of the denoiser used for sampling", 0.995, gt=0, le=1)
    ema_start: int = doc("steps before the EMA starts averaging (until then it copies)", 1000, ge=0)
    ema_every: int = doc("update the EMA every this many steps", 10, ge=1)
    sampler: Literal["ddpm", "ddim"] = doc("sampler at inference", "ddpm", inference=True)
    sampling_steps: int = doc(
        "denoising steps at inference (<= diffusion_steps; fewer is faster)", 20, ge=1, inference=True
    )
    candidates: int = doc(
        "plans sampled per environment; the best by the method's score is executed", 1, ge=1, inference=True
    )
    replan_every: int = doc(
        "execute this many steps of a plan before planning again (< horizon)", 1, ge=1, inference=True
    )
    temperature: float = doc(
        "multiplies the sampler's Gaussian draws, the start and each step's (1: the plain sampler)",
        1.0,
        gt=0,
        inference=True,
    )

    @classmethod
    def tiny(cls) -> Self:
        return cls(horizon=8, dim=16, dim_mults=(1, 2), diffusion_steps=5, sampling_steps=5, ema_start=0)

    def problems(self) -> dict[str, str]:
        out = {}
        factor = 2 ** (len(self.dim_mults) - 1)
        if self.horizon % factor:
            out["horizon"] = (
                f"horizon {self.horizon} must be divisible by {factor} for dim_mults of length {len(self.dim_mults)}"
            )
        if self.sampling_steps > self.diffusion_steps:
            out["sampling_steps"] = (
                f"sampling_steps {self.sampling_steps} > diffusion_steps {self.diffusion_steps}"
            )
        if self.replan_every >= self.horizon:
            out["replan_every"] = f"replan_every {self.replan_every} must be < horizon {self.horizon}"
        return out


def torch_normalize(norm: Normalizer, x: torch.Tensor) -> torch.Tensor:
    shift = torch.as_tensor(norm.shift, dtype=x.dtype, device=x.device)
    scale = torch.as_tensor(norm.scale, dtype=x.dtype, device=x.device)
    return (x - shift) / scale


def torch_unnormalize(norm: Normalizer, y: torch.Tensor) -> torch.Tensor:
    shift = torch.as_tensor(norm.shift, dtype=y.dtype, device=y.device)
    scale = torch.as_tensor(norm.scale, dtype=y.dtype, device=y.device)
    return y * scale + shift


def window_returns(data: OfflineData, horizon: int, discount: float) -> np.ndarray:
    """``(N,)`` discounted return of the ``horizon``-step window starting at every step (cut at episode end)."""
    to_go = data.returns_to_go(discount)
    ends = (data.episode_starts + data.episode_lengths)[data.episode_index]
    later = np.arange(data.n_steps) + horizon
    tail = np.where(later < ends, to_go[np.minimum(later, data.n_steps - 1)], 0.0)
    return to_go - discount**horizon * tail


class DiffusionPlanner(PackableMethod):
    """Base of Diffuser, Decision Diffuser and RS-Diffuser (see the module docstring).

    Packable (:mod:`rsbench.methods.packing`): one update is one stage, the diffusion loss plus the
    subclass's auxiliary losses under the one Adam, then the EMA's update as a Polyak step of ``ema``
    towards ``model`` at :meth:`EMA.rate` (a copy before ``ema_start``, none between ``ema_every`` steps).
    Every random draw of an update comes from :meth:`noise`. The EMA copy follows the model's parameters
    only: the U-Net's one buffer, its sinusoid frequencies, is a constant.
    """

    Config: ClassVar[type[PlannerConfig]] = PlannerConfig
    config: PlannerConfig
    state_offset: ClassVar[int | None] = None  # where the state sits in a transition; None -> act_dim

    def __init__(
        self, config: PlannerConfig, space: Space, *, seed: int = 0, device: str | torch.device = "cpu"
    ):
        super().__init__(config, space, seed=seed, device=device)
        c = config
        for message in c.problems().values():
            raise ValueError(message)
        with seeded(seed):  # initial weights follow the trial's seed
            self.model = TemporalUnet(self.transition_dim, c.dim, c.dim_mults, cond_dim=self.cond_dim)
            self.model.check_horizon(c.horizon)
            self.aux = self.build_aux()
        self.model.to(self.device)
        self.aux.to(self.device)
        self.ema = EMA(self.model, c.ema_decay, c.ema_start, c.ema_every)
        self.schedule = NoiseSchedule.create(c.schedule, c.diffusion_steps).to(self.device)
        self._samplers: dict[tuple[str, int, float], DDPMSampler | DDIMSampler] = {}
        self.optimizer = torch.optim.Adam([*self.model.parameters(), *self.aux.parameters()], lr=c.lr)

    # -- what a subclass defines ---------------------------------------------------------------------
    @property
    def transition_dim(self) -> int:
        """D, the width of one plan step."""
        return self.space.obs_dim

    @property
    def cond_dim(self) -> int:
        """Width of the U-Net's global condition (0: unconditional)."""
        return 0

    def build_aux(self) -> nn.ModuleDict:
        """Networks trained beside the denoiser (value, critic, inverse dynamics)."""
        return nn.ModuleDict()

    def trajectories(self, batch: Batch) -> torch.Tensor:
        """Normalised training plans ``(B, H, D)`` from a sequence batch (states only by default)."""
        return batch["observations"]

    def aux_losses(self, nets: Nets, batch: Batch, x0: torch.Tensor, noise: Batch) -> dict[str, torch.Tensor]:
        """Losses of the ``aux`` networks (``nets[name]``) on a batch with this update's ``noise``."""
        return {}

    def denoiser(
        self,
        model: Any,
        settings: PlannerConfig,
        batch: Batch | None,
        n: int,
        noise: Batch | None = None,
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``model_fn(x (n,H,D), t (n,)) -> (n,H,D)`` for training (``batch`` and the update's ``noise``
        given) or sampling."""
        return model

    def guidance(self, settings: PlannerConfig, risk: RiskSetting) -> Guidance | None:
        """Gradient guidance for sampling (None: unguided)."""
        return None

    def score(self, plans: torch.Tensor, risk: RiskSetting) -> torch.Tensor:
        """``(n,)`` score of finished plans ``(n, H, D)`` for best-of-N selection (higher is better)."""
        return torch.zeros(plans.shape[0], device=plans.device)

    def plan_action(self, obs: torch.Tensor, plans: torch.Tensor, offset: int) -> torch.Tensor:
        """Actions ``(B, act_dim)`` in env units executing step ``offset`` of ``plans`` ``(B, H, D)``, planned
        from normalised ``obs`` ``(B, obs_dim)`` at offset 0. Between replans every planner executes its plan
        open loop (:class:`ReplanningPolicy`): the action depends on the plan alone, not on later observations."""
        raise NotImplementedError

    # -- training ------------------------------------------------------------------------------------
    def prepare(self, data: OfflineData) -> None:
        # Fitted on the states the windows hold, padding included: with limits, every training plan lies
        # in [-1, 1], which is what the sampler's x0 clipping (clip_x0) assumes.
        self.normalizers["obs"] = Normalizer.fit(
            window_states(data, self.config.horizon), self.config.normalizer
        )

    def window_starts(self, data: OfflineData) -> np.ndarray:
        """The dataset steps a training window starts at (return normalisers are fitted on them)."""
        return window_starts(data, self.config.horizon)

    def data_spec(self) -> DataSpec:
        return DataSpec(
            "sequences", self.config.horizon, self.config.discount, obs_normalizer=self.normalizers["obs"]
        )

    def inpainting(self, state: torch.Tensor) -> Inpainting:
        """Condition on the current normalised state ``(B, obs_dim)`` at plan index 0."""
        offset = self.space.act_dim if self.state_offset is None else self.state_offset
        return Inpainting({0: state}, offset=offset)

    def loss_weights(self) -> torch.Tensor | None:
        return None

    # -- training: the stage of one update (packable) ------------------------------------------------
    def nets(self) -> dict[str, nn.Module | nn.Parameter]:
        # the aux networks one by one: a pack calls each one's forward (a ModuleDict has none)
        return {"model": self.model, "ema": self.ema.model, **dict(self.aux.items())}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def diffusion_draws(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Timesteps ``(B,)`` and noise ``(B, H, D)`` noising one batch of plans, from ``self.generator``."""
        shape = (batch_size, self.config.horizon, self.transition_dim)
        return diffusion_noise(self.schedule, shape, generator=self.generator, device=self.device)

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The diffusion loss's timesteps and noise; subclasses add their draws before or after these, in
        the order the update has always made them."""
        t, eps = self.diffusion_draws(batch_size)
        return {"t": t, "eps": eps}

    def stages(self) -> tuple[Stage, ...]:
        rate = self.ema.rate(self.steps + 1)
        polyak = () if rate is None else (("ema", "model", rate),)
        return (Stage(self._losses, {"optimizer": "_total"}, polyak=polyak),)

    def _losses(self, nets: Nets, batch: Batch, noise: Batch) -> dict[str, torch.Tensor]:
        """The diffusion loss and the aux losses, minimised together (their sum, ``_total``)."""
        x0 = self.trajectories(batch)
        loss = diffusion_loss(
            self.denoiser(nets["model"], self.config, batch, x0.shape[0], noise),
            self.schedule,
            x0,
            t=noise["t"],
            noise=noise["eps"],
            predict=self.config.predict,
            inpainting=self.inpainting(batch["observations"][:, 0]),
            weights=self.loss_weights(),
        )
        aux = self.aux_losses(nets, batch, x0, noise)
        total = loss + sum(aux.values(), torch.zeros((), device=self.device))
        return {"diffusion_loss": loss, **aux, "_total": total}

    def noised_plans(
        self, batch: Batch, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
    ) -> torch.Tensor:
        """``x0`` noised to ``t`` with ``eps``, the current state written back in clean (what value and critic
        networks train on)."""
        return self.inpainting(batch["observations"][:, 0]).apply(self.schedule.q_sample(x0, t, eps))

    def components(self) -> dict[str, Any]:
        return {"model": self.model, "ema": self.ema, "aux": self.aux, "optimizer": self.optimizer}

    # -- acting --------------------------------------------------------------------------------------
    def sample_plans(
        self, obs: np.ndarray, settings: PlannerConfig, risk: RiskSetting, generator: Noise
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``obs`` ``(B, obs_dim)`` and the chosen plans ``(B, H, D)`` (best of ``candidates``).

        Row ``i`` of ``obs`` owns the ``candidates`` rows ``i * n .. i * n + n - 1`` of the sampled batch, so an
        :class:`~rsbench.methods.noise.EpisodeNoise` draws an episode's candidates from its own stream.
        """
        c = settings
        s0 = self.obs_tensor(obs)
        b, n = s0.shape[0], c.candidates
        shape = (b * n, c.horizon, self.transition_dim)
        plans = self._sampler(c.sampler, c.sampling_steps, c.temperature).sample(
            self.denoiser(self.ema.model, c, None, b * n),
            shape,
            generator=generator,
            inpainting=self.inpainting(s0.repeat_interleave(n, dim=0)),
            guidance=self.guidance(c, risk),
        )
        if n > 1:
            scores = self.score(plans, risk).view(b, n)
            plans, _ = select_best(plans.view(b, n, *shape[1:]), scores)
        return s0, plans

    def _sampler(self, kind: str, steps: int, temperature: float = 1.0) -> DDPMSampler | DDIMSampler:
        """Samplers are stateless; one per (kind, steps, temperature) is built once, not at every step."""
        key = (kind, steps, temperature)
        if key not in self._samplers:
            cls = DDIMSampler if kind == "ddim" else DDPMSampler
            self._samplers[key] = cls(
                self.schedule,
                steps,
                predict=self.config.predict,
                clip_x0=self.clip_x0,
                temperature=temperature,
            )
        return self._samplers[key]

    @property
    def clip_x0(self) -> float | None:
        return 1.0 if self.config.normalizer == "limits" else None

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        *,
        risk: RiskSetting | str | None = None,
        generator: Noise | None = None,
        **inference: Any,
    ) -> np.ndarray:
        s0, plans = self.sample_plans(
            obs, self.settings(inference), as_risk(risk), generator or self.generator
        )
        return self.clip_actions(self.plan_action(s0, plans, 0))

    def policy(
        self, *, risk: RiskSetting | str | None = None, seed: int = 0, **inference: Any
    ) -> MethodPolicy:
        return ReplanningPolicy(self, risk=risk, seed=seed, inference=inference)


class ReplanningPolicy(MethodPolicy):
    """Plans for the whole batch every ``replan_every`` steps and follows the stored plans in between.

    One rule for every planner: between replans the plan is executed open loop, step ``k`` of the plan made
    ``k`` steps ago (Diffuser its planned action ``a_k``, the state planners ``f(s_k, s_k+1)`` of the planned
    states), as the reference Diffuser does with its plans; at ``replan_every: 1`` (the references' setting)
    every action comes from a plan made from the current observation.

    The evaluator steps every live episode in lock-step, so all live episodes share ``step``; ``env_ids``
    says which stored plan belongs to which row. Without ``env_ids``/``step`` it plans on every call.
    A plan's noise is keyed by its episode and the step it is made at (:meth:`MethodPolicy.noise`).
    """

    method: DiffusionPlanner

    def __init__(self, method: DiffusionPlanner, **kwargs: Any):
        super().__init__(method, **kwargs)
        self.every = method.settings(self.inference).replan_every
        self._plans: torch.Tensor | None = None
        self._planned_at = 0

    @torch.no_grad()
    def __call__(
        self,
        obs: np.ndarray,
        *,
        env_ids: np.ndarray | None = None,
        step: int | None = None,
        episode_seeds: np.ndarray | None = None,
    ) -> np.ndarray:
        m = self.method
        if env_ids is None or step is None or self.every == 1:
            noise = self.noise(step, episode_seeds)
            return m.act(obs, risk=self.risk, generator=noise, **self.inference)
        ids = torch.as_tensor(np.asarray(env_ids), device=m.device, dtype=torch.long)
        if step == 0 or self._plans is None or step - self._planned_at >= self.every:
            settings = m.settings(self.inference)
            s0, plans = m.sample_plans(obs, settings, self.risk, self.noise(step, episode_seeds))
            if step == 0 or self._plans is None:
                self._plans = plans.new_zeros((int(ids.max()) + 1, *plans.shape[1:]))
            self._plans[ids] = plans
            self._planned_at = step
            return m.clip_actions(m.plan_action(s0, plans, 0))
        return m.clip_actions(m.plan_action(m.obs_tensor(obs), self._plans[ids], step - self._planned_at))


@dataclass(frozen=True)
class StatePlannerConfig(PlannerConfig):
    """A planner that diffuses states only and acts through an inverse-dynamics model."""

    @classmethod
    def tiny(cls) -> Self:
        return super().tiny().replace(inv_hidden=(32,))

    inv_hidden: tuple[int, ...] = doc(
        "hidden sizes of the inverse-dynamics MLP a_t = f(s_t, s_t+1)", (256, 256)
    )


class StatePlanner(DiffusionPlanner):
    """Plans are state sequences ``(B, H, obs_dim)``; ``a_t = f(s_t, s_{t+1})`` (Decision Diffuser's split)."""

    Config: ClassVar[type[StatePlannerConfig]] = StatePlannerConfig
    config: StatePlannerConfig
    state_offset: ClassVar[int | None] = 0

    def build_aux(self) -> nn.ModuleDict:
        from rsbench.methods.nets import InverseDynamics

        return nn.ModuleDict(
            {
                "inverse_dynamics": InverseDynamics(
                    self.space.obs_dim, self.space.act_dim, self.config.inv_hidden
                )
            }
        )

    def aux_losses(self, nets: Nets, batch: Batch, x0: torch.Tensor, noise: Batch) -> dict[str, torch.Tensor]:
        s, s_next = batch["observations"][:, :-1], batch["observations"][:, 1:]
        pred = nets["inverse_dynamics"](s, s_next)
        err = (pred - self.unit_actions(batch["actions"][:, :-1])).pow(2).mean(-1)
        mask = batch["mask"][:, :-1]  # steps past the episode's end have no action
        return {"inverse_dynamics_loss": (err * mask).sum() / mask.sum().clamp_min(1.0)}

    def plan_action(self, obs: torch.Tensor, plans: torch.Tensor, offset: int) -> torch.Tensor:
        # The plan's own states (open loop, as Diffuser executes its planned actions): at offset 0 the plan's
        # first state is the observation itself (inpainted), later the planned state stands in for the real one.
        return self.env_actions(self.aux["inverse_dynamics"](plans[:, offset], plans[:, offset + 1]))
