"""The method protocol that the training loop, the evaluator and the conformance tests talk to (docs/design.md §4).

A method is a frozen config dataclass (:class:`MethodConfig`, every field documented) and a :class:`Method`
subclass that:

- says what data it trains on (:meth:`Method.data_spec`: transitions or sequences of horizon H);
- takes one gradient step per :meth:`Method.update` and returns its losses as floats;
- acts for a whole batch of environments at once (:meth:`Method.act`), optionally at an inference-time
  risk setting (``neutral``, ``cvar:0.1``, ``seeking:0.9``) and with inference-time overrides of the config;
  whatever it draws while acting comes from the ``generator`` it is given, per episode when the evaluator
  names the episodes (:mod:`rsbench.methods.noise`: an episode's draws never depend on its batch);
- round-trips through :meth:`Method.state_dict` / :meth:`Method.load_state_dict` (weights, optimisers, EMA,
  normalisers, its random generator), on ``cpu`` or ``cuda``.

Methods never touch an environment: the evaluator owns rollouts and seeds them.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np
import torch

from rsbench import schema
from rsbench.data.normalize import Normalizer
from rsbench.data.samplers import SequenceSampler, TransitionSampler
from rsbench.methods.noise import EpisodeNoise, Noise
from rsbench.risk import RiskSetting

if TYPE_CHECKING:
    from rsbench.data.offline import OfflineData


@dataclass(frozen=True)
class Space:
    """What a method knows of its task: observation and action sizes and the action bounds."""

    obs_dim: int
    act_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]

    @classmethod
    def from_data(cls, data: OfflineData) -> Space:
        """The dataset's recorded action space (or its action range when none was recorded)."""
        low = data.action_low if data.action_low is not None else data.actions.min(axis=0)
        high = data.action_high if data.action_high is not None else data.actions.max(axis=0)
        return cls(data.obs_dim, data.act_dim, tuple(map(float, low)), tuple(map(float, high)))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Space:
        return cls(int(d["obs_dim"]), int(d["act_dim"]), tuple(d["action_low"]), tuple(d["action_high"]))


@dataclass(frozen=True)
class MethodConfig:
    """Base class of every method config: a frozen dataclass whose fields are declared with
    :func:`rsbench.schema.doc` (one line of documentation each, bounds, ``inference=True`` for settings
    that may change at inference time without retraining)."""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, *, source: str | Path | None = None, path: str = ""
    ) -> Self:
        """Strictly parse plain data (YAML); unknown keys, bad values and inconsistent combinations
        (:meth:`problems`) raise a one-line ``UserError``."""
        from rsbench.errors import UserError

        config = schema.load(cls, dict(data or {}), source=source, path=path)
        for key, message in config.problems().items():
            raise UserError(message, source=source, key=f"{path}.{key}" if path else key)
        return config

    # Fidelity (docs/design.md §4): the reference code whose values the defaults of ``reference_fields`` are. A suite
    # that sets one of those fields to another value deviates, and its run's provenance says so.
    reference: ClassVar[str] = ""
    reference_fields: ClassVar[tuple[str, ...]] = ()
    # Values of fields added since older checkpoints were written, as those checkpoints were trained
    # (a new field's default may be a new behaviour): :func:`rsbench.train.checkpoint.load_checkpoint`.
    checkpoint_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def deviations(cls, values: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
        """``{field: {"reference": default, "runs": [values]}}`` for the ``reference_fields`` among ``values``
        (field -> every value a suite runs it at, sweeps included) that differ from the reference default."""
        defaults = {
            f.name: _plain(f.default) for f in dataclasses.fields(cls) if f.name in cls.reference_fields
        }
        out = {}
        for name, runs in values.items():
            if name in defaults and any(_plain(v) != defaults[name] for v in runs):
                out[name] = {"reference": defaults[name], "runs": [_plain(v) for v in runs]}
        return out

    def problems(self) -> dict[str, str]:
        """``{field: what is wrong}`` for combinations of values that no single field's bounds catch."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal config."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``; unknown names raise ``ValueError`` naming the valid ones."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(
                f"unknown {type(self).__name__} field(s) {unknown}; expected one of {sorted(names)}"
            )
        return dataclasses.replace(self, **changes)

    @classmethod
    def inference_fields(cls) -> tuple[str, ...]:
        """Names of the fields that :meth:`Method.act` accepts as overrides."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("inference"))

    @classmethod
    def tiny(cls) -> Self:
        """The smallest useful config: what the conformance suite and quick tests build."""
        return cls()


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, RiskSetting):
        return str(value)
    return value


@dataclass(frozen=True)
class DataSpec:
    """What a method trains on; :meth:`sampler` builds the shared sampler for it (no per-method buffers).

    ``transitions``: single steps (:class:`~rsbench.data.samplers.TransitionSampler`);
    ``sequences``: windows of ``horizon`` steps with returns-to-go (:class:`~rsbench.data.samplers.SequenceSampler`).
    """

    kind: Literal["transitions", "sequences"]
    horizon: int = 1
    discount: float = 0.99
    reward_scale: float = 1.0
    obs_normalizer: Normalizer | None = None
    termination_penalty: float = 0.0  # added to a terminated episode's last reward (sequences only)
    successor: int = 0  # sequences: also the window this many steps later, for TD backups (0: none)

    def sampler(
        self, data: OfflineData, batch_size: int, rng: np.random.Generator
    ) -> TransitionSampler | SequenceSampler:
        if self.kind == "transitions":
            return TransitionSampler(data, batch_size, rng, self.obs_normalizer, self.reward_scale)
        return SequenceSampler(
            data,
            self.horizon,
            batch_size,
            rng,
            self.obs_normalizer,
            self.discount,
            self.reward_scale,
            self.termination_penalty,
            self.successor,
        )


class Method(abc.ABC):
    """Base class of every method. Subclasses set ``Config`` and implement the abstract methods.

    Attributes set here: ``config``, ``space``, ``device``, ``generator`` (a ``torch.Generator`` on the
    device that every training draw goes through, so a resumed run repeats an uninterrupted one),
    ``normalizers`` (named :class:`Normalizer` fitted in :meth:`prepare`, saved with the state) and
    ``steps`` (gradient steps taken).
    """

    name: ClassVar[str] = ""  # set by :func:`rsbench.methods.register`
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    risk_aware: ClassVar[bool] = False  # whether ``act(risk=...)`` changes what the method does
    # The config field naming the risk level the method is trained for (IQN's ``train_risk``); None: none.
    train_risk_field: ClassVar[str | None] = None
    paper: ClassVar[str] = ""  # link to the paper the method follows

    def __init__(
        self, config: MethodConfig, space: Space, *, seed: int = 0, device: str | torch.device = "cpu"
    ):
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.space = space
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self.normalizers: dict[str, Normalizer] = {}
        self.steps = 0
        self._low = torch.tensor(space.action_low, dtype=torch.float32, device=self.device)
        self._high = torch.tensor(space.action_high, dtype=torch.float32, device=self.device)

    # -- risk labels (docs/design.md §4) -------------------------------------------------------------------
    @classmethod
    def training_risk(cls, config: MethodConfig) -> RiskSetting | None:
        """The risk level ``config`` is trained for: its ``train_risk_field``; ``neutral`` for a method that
        is not risk-aware and has none (it learns the mean return); None for a risk-aware one without one
        (its risk is chosen at inference)."""
        if cls.train_risk_field is not None:
            return as_risk(getattr(config, cls.train_risk_field))
        return None if cls.risk_aware else RiskSetting()

    @classmethod
    def accepted_risks(cls, config: MethodConfig) -> tuple[RiskSetting, ...] | None:
        """The inference risk settings a suite may list for ``config``: any (None) when ``act`` uses its
        ``risk``; otherwise only the one it is trained for, since every other label would name the same
        policy under a risk it does not follow."""
        if cls.risk_aware:
            return None
        trained = cls.training_risk(config)
        return (trained if trained is not None else RiskSetting(),)

    # -- training -------------------------------------------------------------------------------------
    def prepare(self, data: OfflineData) -> None:  # noqa: B027 - optional hook
        """Fit data statistics (normalisers) before the first update; called once by ``train.fit``."""

    @abc.abstractmethod
    def data_spec(self) -> DataSpec:
        """The batches :meth:`update` expects."""

    @abc.abstractmethod
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One gradient step on a batch from :meth:`data_spec`'s sampler (tensors on ``device``).

        Returns the losses (and other scalars worth a curve) as Python floats.
        """

    # -- acting ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    def act(
        self,
        obs: np.ndarray,
        *,
        risk: RiskSetting | str | None = None,
        generator: Noise | None = None,
        **inference: Any,
    ) -> np.ndarray:
        """Actions ``(B, act_dim)`` within the action bounds for observations ``(B, obs_dim)``.

        ``risk`` is the inference-time risk setting (ignored by methods that are not ``risk_aware``);
        ``generator`` drives any sampling (the method's own when None): a ``torch.Generator`` or an
        :class:`~rsbench.methods.noise.EpisodeNoise` (one stream per row's episode), so draw through
        :func:`rsbench.methods.noise.randn` / ``rand``; ``inference`` overrides the config's
        inference-time fields for this call.
        """

    def policy(
        self, *, risk: RiskSetting | str | None = None, seed: int = 0, **inference: Any
    ) -> MethodPolicy:
        """A policy for the evaluator: this method at one risk setting with seeded sampling."""
        return MethodPolicy(self, risk=risk, seed=seed, inference=inference)

    def ignores_risk(self, **inference: Any) -> bool:
        """Whether :meth:`act` with these inference-time overrides does the same at every risk setting, so
        the evaluator rolls out once and stores that evaluation under each setting (RS-Diffuser's unguided
        sampler: no guidance, one candidate). Default: a method that is not ``risk_aware``."""
        return not self.risk_aware

    # -- state ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def components(self) -> dict[str, Any]:
        """Named objects with ``state_dict``/``load_state_dict`` (networks, optimisers, EMA) to save."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "components": {k: v.state_dict() for k, v in self.components().items()},
            "normalizers": {k: n.state_dict() for k, n in self.normalizers.items()},
            "generator": self.generator.get_state(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        components = self.components()
        missing = sorted(set(components) - set(state["components"]))
        if missing:
            raise KeyError(f"{self.name} state has no {missing}")
        for key, obj in components.items():
            obj.load_state_dict(state["components"][key])
        self.normalizers = {k: Normalizer.from_state_dict(v) for k, v in state["normalizers"].items()}
        self.generator.set_state(state["generator"].cpu())  # generator states are CPU byte tensors
        self.steps = int(state["steps"])

    # -- helpers for subclasses -------------------------------------------------------------------------
    def settings(self, overrides: Mapping[str, Any]) -> MethodConfig:
        """The config with inference-time ``overrides``; other names raise ``ValueError``."""
        allowed = self.Config.inference_fields()
        bad = sorted(set(overrides) - set(allowed))
        if bad:
            raise ValueError(
                f"{self.name}: {bad} cannot change at inference time; expected any of {list(allowed)}"
            )
        return self.config.replace(**overrides) if overrides else self.config

    def to_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """A sampler's numpy batch as float tensors on ``device``."""
        return {
            k: torch.as_tensor(v, dtype=torch.float32).to(self.device, non_blocking=True)
            for k, v in batch.items()
        }

    def obs_tensor(self, obs: np.ndarray, key: str = "obs") -> torch.Tensor:
        """``(B, obs_dim)`` observations, normalised with ``normalizers[key]`` when present, on ``device``."""
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.space.obs_dim:
            raise ValueError(f"{self.name}: expected observations (B, {self.space.obs_dim}), got {obs.shape}")
        if key in self.normalizers:
            obs = self.normalizers[key].normalize(obs)
        return torch.as_tensor(obs, device=self.device)

    def unit_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Map ``(..., act_dim)`` actions from the action bounds onto ``[-1, 1]``."""
        return (actions - (self._high + self._low) / 2) / ((self._high - self._low) / 2)

    def env_actions(self, unit: torch.Tensor) -> torch.Tensor:
        """Map ``(..., act_dim)`` actions from ``[-1, 1]`` onto the action bounds."""
        return unit * (self._high - self._low) / 2 + (self._high + self._low) / 2

    def clip_actions(self, actions: torch.Tensor) -> np.ndarray:
        """Clamp ``(B, act_dim)`` to the action bounds and return float32 numpy."""
        return torch.clamp(actions, self._low, self._high).detach().cpu().numpy().astype(np.float32)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (network construction) under ``seed`` without disturbing the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def as_risk(risk: RiskSetting | str | None) -> RiskSetting:
    """``None`` -> neutral; strings are parsed (``cvar:0.1``)."""
    if risk is None:
        return RiskSetting()
    return risk if isinstance(risk, RiskSetting) else RiskSetting.parse(risk)


class MethodPolicy:
    """A method bound to a risk setting, inference settings and a seed, as the evaluator calls it.

    ``policy(obs)`` -> actions; the evaluator also passes ``env_ids`` (which environments of the batch the
    rows are), ``step`` (the episode step, which planners use to replan every few steps) and
    ``episode_seeds`` (each row's evaluation seed). With ``episode_seeds`` and ``step``, the method draws
    from :class:`~rsbench.methods.noise.EpisodeNoise` keyed by (``seed``, episode seed, step), so an
    episode's actions do not depend on the other episodes of the batch; without them, from one generator
    seeded by ``seed``.
    """

    def __init__(
        self, method: Method, *, risk: RiskSetting | str | None, seed: int, inference: Mapping[str, Any]
    ):
        method.settings(inference)  # fail now, not at the first step
        self.method = method
        self.risk = as_risk(risk)
        self.inference = dict(inference)
        self.seed = int(seed)
        self.generator = torch.Generator(device=method.device).manual_seed(self.seed)

    def noise(self, step: int | None, episode_seeds: np.ndarray | None) -> Noise:
        """Per-episode streams for this step when the episodes are named, else the policy's generator."""
        if episode_seeds is None:
            return self.generator
        if step is None:
            raise ValueError("episode_seeds need the episode step: pass step= as well")
        return EpisodeNoise.for_episodes(self.seed, episode_seeds, step, self.method.device)

    def __call__(
        self,
        obs: np.ndarray,
        *,
        env_ids: np.ndarray | None = None,
        step: int | None = None,
        episode_seeds: np.ndarray | None = None,
    ) -> np.ndarray:
        noise = self.noise(step, episode_seeds)
        return self.method.act(obs, risk=self.risk, generator=noise, **self.inference)
