"""Risk specs as data (``risk_spec_version = 1``).

A risk spec marks a transition as a *violation* from the **next observation** (and info), then fires a
stochastic penalty with probability ``prob`` on violating steps. Computing it from the next observation is
what lets the online wrapper and offline relabelling agree exactly (docs/design.md §2).

Every clause is vectorised: ``holds(obs, info)`` takes ``obs`` of shape ``(N, obs_dim)`` and an info
mapping whose values broadcast to ``(N,)``, and returns a ``(N,)`` bool array. A spec's violation is the
AND of its clauses.

The pinned v1 MuJoCo specs (:data:`rsbench.envs.registration.SPECS`) follow O-RAAC (Urpi, Curi and Krause,
"Risk-Averse Offline Reinforcement Learning", ICLR 2021; nuria95/O-RAAC ``reward_wrappers.py`` and
``json_params/ORAAC``): HalfCheetah forward velocity > 4 with p 0.05 and -70 (its medium setting),
Hopper |pitch| > 0.1 while healthy with p 0.1 and -50, Walker2d |pitch| > 0.5 while healthy with p 0.1 and
-30, evaluated over 200 / 500 / 500 steps. Where v1 differs, on purpose:

- O-RAAC also **drops HalfCheetah's forward reward** on a step where the penalty fires; v1 keeps the base
  reward and adds the penalty, on every task (one rule; RAMAC's Stochastic-D4RL also adds it).
- O-RAAC's expert HalfCheetah uses velocity > 10 and -60; v1 has one spec per task, whatever the data.
- "Healthy" is Gymnasium v5's full check (Hopper: z > 0.7, |pitch| < 0.2, |state| < 100; Walker2d:
  0.8 < z < 2, |pitch| < 1), where O-RAAC checks the pitch range only, on D4RL v0's gym v2/v3 envs.
- The penalty draw is seeded from the episode's seed (reproducible evaluation and relabelling); O-RAAC
  samples an unseeded torch Bernoulli.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

RISK_SPEC_VERSION = 1
# RAMAC's Stochastic-D4RL hazards (Fukazawa et al. 2026) are their own family, never a change of v1.
RAMAC_SPEC_VERSION = "ramac-1"
SPEC_VERSIONS: tuple[int | str, ...] = (RISK_SPEC_VERSION, RAMAC_SPEC_VERSION)

CompareOp = Literal[">", ">=", "<", "<=", "abs>", "abs<"]
_OPS = {
    ">": lambda x, v: x > v,
    ">=": lambda x, v: x >= v,
    "<": lambda x, v: x < v,
    "<=": lambda x, v: x <= v,
    "abs>": lambda x, v: np.abs(x) > v,
    "abs<": lambda x, v: np.abs(x) < v,
}


class SpecError(ValueError):
    """A malformed risk spec; ``key`` is the offending key path inside the spec."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class Compare:
    """``obs[key] OP value`` (``source='obs'``, integer key) or ``info[key] OP value`` (string key)."""

    source: Literal["obs", "info"]
    key: int | str
    op: CompareOp
    value: float

    def holds(self, obs: np.ndarray, info: Mapping[str, Any] | None) -> np.ndarray:
        if self.source == "obs":
            x = obs[:, int(self.key)]
        else:
            if info is None or self.key not in info:
                raise KeyError(f"risk spec needs info[{self.key!r}], which the environment did not return")
            x = np.broadcast_to(np.asarray(info[str(self.key)], dtype=np.float64), (obs.shape[0],))
        return _OPS[self.op](x, self.value)

    def to_dict(self) -> dict[str, Any]:
        return {self.source: self.key, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class Between:
    """Every entry of ``obs[start:stop]`` lies strictly inside ``(low, high)`` (e.g. MuJoCo "healthy")."""

    start: int
    stop: int | None
    low: float
    high: float

    def holds(self, obs: np.ndarray, info: Mapping[str, Any] | None) -> np.ndarray:
        x = obs[:, self.start : self.stop]
        return np.all((x > self.low) & (x < self.high), axis=1)

    def to_dict(self) -> dict[str, Any]:
        stop = "" if self.stop is None else str(self.stop)
        return {"obs": f"{self.start}:{stop}", "between": [self.low, self.high]}


@dataclass(frozen=True)
class Outside:
    """``obs[index]`` lies strictly outside ``[low, high]`` (RAMAC's unhealthy pose: pitch outside a range)."""

    index: int
    low: float
    high: float

    def holds(self, obs: np.ndarray, info: Mapping[str, Any] | None) -> np.ndarray:
        x = obs[:, self.index]
        return (x < self.low) | (x > self.high)

    def to_dict(self) -> dict[str, Any]:
        return {"obs": self.index, "outside": [self.low, self.high]}


@dataclass(frozen=True)
class InDisc:
    """The point ``obs[indices]`` lies strictly inside the disc (ball) of ``radius`` around ``center``."""

    indices: tuple[int, ...]
    center: tuple[float, ...]
    radius: float

    def holds(self, obs: np.ndarray, info: Mapping[str, Any] | None) -> np.ndarray:
        d = obs[:, list(self.indices)] - np.asarray(self.center)
        return np.einsum("ij,ij->i", d, d) < self.radius**2

    def to_dict(self) -> dict[str, Any]:
        return {"disc": {"indices": list(self.indices), "center": list(self.center), "radius": self.radius}}


Clause = Compare | Between | Outside | InDisc


@dataclass(frozen=True)
class RiskSpec:
    """One pinned, versioned definition of risk for a task.

    Attributes:
        name: short identifier written into datasets and results.
        clauses: all must hold for a step to be a violation.
        penalty: added to the base reward when the penalty fires (negative).
        prob: probability that a violating step fires the penalty.
        version: the risk-spec family and version this definition belongs to (``1``, or ``"ramac-1"`` for
            RAMAC's Stochastic-D4RL hazards).
    """

    name: str
    clauses: tuple[Clause, ...]
    penalty: float
    prob: float
    version: int | str = RISK_SPEC_VERSION

    def violation(self, next_obs: np.ndarray, info: Mapping[str, Any] | None = None) -> np.ndarray:
        """``(N, obs_dim)`` next observations (+ info) -> ``(N,)`` bool violation flags."""
        obs = np.atleast_2d(np.asarray(next_obs, dtype=np.float64))
        flags = np.ones(obs.shape[0], dtype=bool)
        for clause in self.clauses:
            flags &= clause.holds(obs, info)
        return flags

    def apply(
        self, base_reward: np.ndarray, violation: np.ndarray, uniforms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add the penalty where it fires. All arrays ``(N,)``; returns ``(reward, fired)``.

        ``uniforms`` are the per-step draws from :mod:`rsbench.envs.penalty`; drawing one per step (not
        only on violating steps) keeps draws aligned across policies (common random numbers).
        """
        fired = np.asarray(violation, dtype=bool) & (np.asarray(uniforms) < self.prob)
        return np.asarray(base_reward, dtype=np.float64) + self.penalty * fired, fired

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "when": [c.to_dict() for c in self.clauses],
            "penalty": self.penalty,
            "prob": self.prob,
        }

    @classmethod
    def from_dict(cls, data: Any, *, default_name: str = "custom") -> RiskSpec:
        """Build a spec from its plain-data form (a suite's ``risk:`` block or a dataset's metadata).

        Accepted form::

            name: fast-cheetah          # optional
            when:                       # all must hold
              - {obs: 8, op: ">", value: 4.0}
              - {info: is_healthy, op: ">", value: 0.5}
              - {obs: "1:", between: [-100, 100]}
              - {obs: 1, outside: [-0.17, 0.04]}
              - {disc: {indices: [0, 1], center: [0.5, 0.5], radius: 0.3}}
            penalty: -70
            prob: 0.05

        Raises :class:`SpecError` naming the key path and what was expected.
        """
        if not isinstance(data, Mapping):
            raise SpecError("risk", f"expected a mapping with when/penalty/prob, got {type(data).__name__}")
        allowed = {"name", "version", "when", "penalty", "prob"}
        for key in data:
            if key not in allowed:
                raise SpecError(f"risk.{key}", f"unknown key; expected one of {', '.join(sorted(allowed))}")
        for key in ("when", "penalty", "prob"):
            if key not in data:
                raise SpecError(f"risk.{key}", "missing required key")
        version = data.get("version", RISK_SPEC_VERSION)
        if version not in SPEC_VERSIONS:
            expected = " or ".join(repr(v) for v in SPEC_VERSIONS)
            raise SpecError("risk.version", f"expected {expected}, got {version!r}")
        penalty = _number(data["penalty"], "risk.penalty")
        prob = _number(data["prob"], "risk.prob")
        if not 0.0 <= prob <= 1.0:
            raise SpecError("risk.prob", f"expected a probability in [0, 1], got {prob}")
        when = data["when"]
        if not isinstance(when, list) or not when:
            raise SpecError("risk.when", "expected a non-empty list of conditions")
        clauses = tuple(_clause(c, f"risk.when[{i}]") for i, c in enumerate(when))
        name = data.get("name", default_name)
        if not isinstance(name, str) or not name:
            raise SpecError("risk.name", "expected a non-empty string")
        return cls(name=name, clauses=clauses, penalty=penalty, prob=prob, version=version)


def _number(value: Any, key: str, *, allow_inf: bool = False) -> float:
    bad = isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value)
    if bad or (not allow_inf and math.isinf(value)):
        raise SpecError(key, f"expected a finite number, got {value!r}")
    return float(value)


def _clause(data: Any, key: str) -> Clause:
    if not isinstance(data, Mapping):
        raise SpecError(key, "expected a mapping like {obs: 8, op: '>', value: 4.0}")
    if "disc" in data:
        if set(data) != {"disc"}:
            raise SpecError(key, "a disc condition takes only the 'disc' key")
        disc = data["disc"]
        if not isinstance(disc, Mapping) or set(disc) != {"indices", "center", "radius"}:
            raise SpecError(f"{key}.disc", "expected {indices: [i, j], center: [x, y], radius: r}")
        indices, center = disc["indices"], disc["center"]
        if not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices):
            raise SpecError(f"{key}.disc.indices", "expected a list of observation indices")
        if not isinstance(center, list) or len(center) != len(indices):
            raise SpecError(f"{key}.disc.center", f"expected {len(indices)} coordinates")
        radius = _number(disc["radius"], f"{key}.disc.radius")
        if radius <= 0:
            raise SpecError(f"{key}.disc.radius", f"expected > 0, got {radius}")
        return InDisc(tuple(indices), tuple(_number(c, f"{key}.disc.center") for c in center), radius)
    if "between" in data:
        if set(data) != {"obs", "between"}:
            raise SpecError(key, "a range condition takes exactly {obs: 'START:STOP', between: [low, high]}")
        start, stop = _slice(data["obs"], f"{key}.obs")
        bounds = data["between"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise SpecError(f"{key}.between", "expected [low, high]")
        low, high = (_number(b, f"{key}.between", allow_inf=True) for b in bounds)
        if not low < high:
            raise SpecError(f"{key}.between", f"expected low < high, got [{low}, {high}]")
        return Between(start, stop, low, high)
    if "outside" in data:
        return _outside(data, key)
    sources = [s for s in ("obs", "info") if s in data]
    if len(sources) != 1 or set(data) != {sources[0], "op", "value"}:
        raise SpecError(key, "expected {obs: INDEX, op: OP, value: X} or {info: KEY, op: OP, value: X}")
    source = sources[0]
    ref = data[source]
    if source == "obs" and (isinstance(ref, bool) or not isinstance(ref, int) or ref < 0):
        raise SpecError(f"{key}.obs", f"expected a non-negative observation index, got {ref!r}")
    if source == "info" and (not isinstance(ref, str) or not ref):
        raise SpecError(f"{key}.info", f"expected an info key name, got {ref!r}")
    if not isinstance(data["op"], str) or data["op"] not in _OPS:
        raise SpecError(f"{key}.op", f"expected one of {', '.join(_OPS)}, got {data['op']!r}")
    # source and op are checked against their Literal types just above
    return Compare(cast(Any, source), ref, cast(Any, data["op"]), _number(data["value"], f"{key}.value"))


def _slice(value: Any, key: str) -> tuple[int, int | None]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value, value + 1
    if isinstance(value, str) and value.count(":") == 1:
        a, b = value.split(":")
        try:
            start = int(a) if a else 0
            stop = int(b) if b else None
        except ValueError:
            pass
        else:
            return start, stop
    raise SpecError(key, f"expected an index or a 'START:STOP' slice, got {value!r}")


def _spec_from_data(cls: type[RiskSpec], value: Any, *, source: Any, path: str) -> RiskSpec:
    """Schema hook: a suite's ``risk:`` block, with errors re-rooted at the block's key path."""
    from rsbench.errors import UserError

    try:
        return cls.from_dict(value)
    except SpecError as e:
        key = path + e.key.removeprefix("risk")
        raise UserError(str(e).split(": ", 1)[1], source=source, key=key) from None


RiskSpec.from_data = classmethod(_spec_from_data)  # type: ignore[attr-defined]


def _outside(data: Mapping[str, Any], key: str) -> Outside:
    if set(data) != {"obs", "outside"}:
        raise SpecError(key, "an outside condition takes exactly {obs: INDEX, outside: [low, high]}")
    index = data["obs"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise SpecError(f"{key}.obs", f"expected a non-negative observation index, got {index!r}")
    bounds = data["outside"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise SpecError(f"{key}.outside", "expected [low, high]")
    low, high = (_number(b, f"{key}.outside") for b in bounds)
    if not low < high:
        raise SpecError(f"{key}.outside", f"expected low < high, got [{low}, {high}]")
    return Outside(index, low, high)
