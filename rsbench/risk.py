"""Risk settings: ``neutral``, ``cvar:ALPHA``, ``seeking:ALPHA`` and the distortion risk measures
``wang:ETA``, ``cpw:ETA`` and ``power:ETA``.

A risk setting says which functional of a return distribution a method should optimise when acting.
It is a value object shared by suites, the evaluator and the methods, so it lives at the package root.

Every setting is a **distortion risk measure** ``rho(Z) = E[F_Z^{-1}(h(U))]``, ``U ~ U(0, 1)``: the mean
of the return quantile function at distorted quantile levels ``tau' = h(U)``. Two views of one ``h``:

- :meth:`RiskSetting.distort` is ``h`` itself, how an IQN-style actor draws its taus (RAMAC's samplers,
  ``utils/risk_measures.py`` of https://github.com/KaiFukazawa/RAMAC, and Dabney et al. 2018, §3.1);
- :meth:`RiskSetting.level_cdf` is ``g(t) = P(h(U) <= t)``, the distribution of the distorted levels, and
  :meth:`RiskSetting.level_weights` its mass on ``n`` equal bins of ``[0, 1]``, the weights a set of
  ``n`` quantiles (a quantile critic's, or ``n`` sorted episode returns) gets.

The distortions, as RAMAC's code writes them (``eta`` is RAMAC's name for each parameter):

- ``wang:eta`` (Wang 2000): ``h(u) = Phi(Phi^-1(u) + eta)``; ``eta < 0`` averse (RAMAC's default -0.7),
  ``eta > 0`` seeking, ``0`` neutral. Any finite ``eta``.
- ``cpw:eta`` (cumulative probability weighting, Tversky & Kahneman 1992):
  ``h(u) = u^eta / (u^eta + (1 - u)^eta)^(1 / eta)``; RAMAC's default 0.71, ``1`` neutral. ``eta`` in
  ``[0.28, 1]``: below about 0.279 ``h`` is not monotone (Ingersoll 2008), so it is no distortion.
- ``power:eta``: ``h(u) = 1 - (1 - u)^(1 / (1 + |eta|))`` for ``eta < 0`` (averse; RAMAC's default -2),
  ``u^(1 / (1 + eta))`` for ``eta >= 0`` (seeking). Any finite ``eta``.

``cvar:alpha`` is ``h(u) = alpha * u`` and ``seeking:alpha`` is ``h(u) = 1 - alpha * (1 - u)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

RiskKind = Literal["neutral", "cvar", "seeking", "wang", "cpw", "power"]
TAILS = ("cvar", "seeking")
DISTORTIONS = ("wang", "cpw", "power")
CPW_MIN_ETA = 0.28
GRAMMAR = "neutral, cvar:ALPHA or seeking:ALPHA (ALPHA in (0, 1]), wang:ETA or power:ETA (ETA any number), cpw:ETA (ETA in [0.28, 1])"

A = TypeVar("A")  # a numpy array or a torch tensor: distort() computes in the array's own library


@dataclass(frozen=True)
class RiskSetting:
    """``kind`` with its tail level ``alpha`` in (0, 1] (``cvar``, ``seeking``; 1 otherwise) or its
    distortion parameter ``eta`` (``wang``, ``cpw``, ``power``; 0 otherwise).

    ``cvar:0.1`` is the mean of the worst 10% of returns; ``seeking:0.1`` the mean of the best 10%;
    ``wang:-0.7`` the Wang-distorted mean (for a normal return ``mu + sigma * eta``, see :meth:`distort`).
    """

    kind: RiskKind = "neutral"
    alpha: float = 1.0
    eta: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("neutral", *TAILS, *DISTORTIONS):
            raise ValueError(f"unknown risk kind {self.kind!r}; expected {GRAMMAR}")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"risk level alpha must be in (0, 1], got {self.alpha}")
        if self.kind not in TAILS and self.alpha != 1.0:
            raise ValueError(f"{self.kind} takes no alpha")
        if self.kind not in DISTORTIONS and self.eta != 0.0:
            raise ValueError(f"{self.kind} takes no eta")
        if not math.isfinite(self.eta):
            raise ValueError(f"distortion parameter must be finite, got {self.eta}")
        if self.kind == "cpw" and not CPW_MIN_ETA <= self.eta <= 1.0:
            raise ValueError(
                f"cpw:ETA needs ETA in [{CPW_MIN_ETA}, 1] (below that the weighting is not monotone), got {self.eta:g}"
            )

    @classmethod
    def parse(cls, text: str) -> RiskSetting:
        """Parse ``neutral``, ``cvar:0.1``, ``seeking:0.9``, ``wang:-0.7``, ``cpw:0.71`` or ``power:-2``.

        Raises ``ValueError`` with a message naming the setting and what is allowed.
        """
        text = str(text).strip()
        if text == "neutral":
            return cls()
        kind, sep, level = text.partition(":")
        if not sep or kind not in (*TAILS, *DISTORTIONS):
            raise ValueError(f"risk setting {text!r}: expected {GRAMMAR}")
        try:
            value = float(level)
        except ValueError:
            raise ValueError(
                f"risk setting {text!r}: {level!r} is not a number; expected {GRAMMAR}"
            ) from None
        try:
            return cls(kind, value) if kind in TAILS else cls(kind, eta=value)  # type: ignore[arg-type]
        except ValueError as e:
            raise ValueError(f"risk setting {text!r}: {e}") from None

    @classmethod
    def from_data(cls, value: object, *, source: str | Path | None, path: str) -> RiskSetting:
        """Schema hook: parse a suite's risk setting, failing with a one-line user error."""
        from rsbench.errors import UserError

        try:
            return cls.parse(str(value))
        except ValueError as e:
            raise UserError(str(e), source=source, key=path) from None

    def __str__(self) -> str:
        if self.kind == "neutral":
            return "neutral"
        return f"{self.kind}:{self.alpha:g}" if self.kind in TAILS else f"{self.kind}:{self.eta:g}"

    # -- the distortion, two views -------------------------------------------------------------------
    def distort(self, u: A) -> A:
        """``h(u)``: the quantile level a uniform draw ``u`` in ``[0, 1)`` maps to (any shape; a numpy
        array or a torch tensor, computed in its own library so a GPU tensor stays on its device).

        ``E[F^{-1}(h(U))]`` is the risk measure. For ``wang:eta`` and a normal return
        ``F^{-1}(t) = mu + sigma Phi^-1(t)`` it is ``mu + sigma E[Phi^-1(U) + eta] = mu + sigma * eta``.
        """
        x: Any = u
        if self.kind == "cvar":
            return self.alpha * x  # type: ignore[no-any-return]
        if self.kind == "seeking":
            return 1.0 - self.alpha * (1.0 - x)  # type: ignore[no-any-return]
        if self.kind == "wang":
            cdf, icdf = _normal(x)
            return cdf(icdf(x) + self.eta)  # type: ignore[no-any-return]
        if self.kind == "cpw":
            e = self.eta
            return x**e / (x**e + (1.0 - x) ** e) ** (1.0 / e)  # type: ignore[no-any-return]
        if self.kind == "power":
            p = 1.0 / (1.0 + abs(self.eta))
            return 1.0 - (1.0 - x) ** p if self.eta < 0 else x**p  # type: ignore[no-any-return]
        return u

    def level_cdf(self, t: np.ndarray) -> np.ndarray:
        """``g(t) = P(h(U) <= t)`` for levels ``t`` in ``[0, 1]`` (numpy, any shape): the inverse of ``h``
        in closed form where there is one, by bisection for ``cpw`` (``h`` increasing on ``[0.28, 1]``)."""
        from scipy import special

        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
        if self.kind == "cvar":
            return np.minimum(t / self.alpha, 1.0)
        if self.kind == "seeking":
            return np.maximum((t - (1.0 - self.alpha)) / self.alpha, 0.0)
        if self.kind == "wang":
            with np.errstate(over="ignore"):
                return special.ndtr(special.ndtri(t) - self.eta)  # type: ignore[no-any-return]
        if self.kind == "power":
            q = 1.0 + abs(self.eta)
            return 1.0 - (1.0 - t) ** q if self.eta < 0 else t**q  # type: ignore[no-any-return]
        if self.kind == "cpw":
            lo, hi = np.zeros_like(t), np.ones_like(t)
            for _ in range(60):  # 2^-60: exact in float64
                mid = 0.5 * (lo + hi)
                below = self.distort(mid) <= t
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            return 0.5 * (lo + hi)
        return t

    def level_weights(self, n: int) -> np.ndarray:
        """``(n,)`` weights ``g((i + 1) / n) - g(i / n)`` over ``n`` ascending quantiles (or sorted
        samples, each of mass ``1 / n``); non-negative, summing to 1. For ``cvar:alpha`` they are the
        interpolated CVaR's (docs/design.md §6): ``1 / (n alpha)`` on the lowest ``floor(n alpha)``, the rest
        on the next."""
        g = self.level_cdf(np.arange(n + 1, dtype=np.float64) / n)
        g[0], g[-1] = 0.0, 1.0
        return np.diff(g)


def _normal(x: Any) -> tuple[Any, Any]:
    """The standard normal cdf and its inverse in ``x``'s library (torch or scipy)."""
    if hasattr(x, "detach"):
        import torch

        return torch.special.ndtr, torch.special.ndtri
    from scipy import special

    return special.ndtr, special.ndtri
