"""Inference-time risk settings: ``neutral``, ``cvar:ALPHA`` (averse) and ``seeking:ALPHA``.

A risk setting says which functional of a return distribution a method should optimise when acting.
It is a value object shared by suites, the evaluator and the methods, so it lives at the package root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

RiskKind = Literal["neutral", "cvar", "seeking"]


@dataclass(frozen=True)
class RiskSetting:
    """``kind`` with its tail level ``alpha`` in (0, 1] (``alpha = 1`` for neutral).

    ``cvar:0.1`` is the mean of the worst 10% of returns; ``seeking:0.1`` the mean of the best 10%.
    """

    kind: RiskKind = "neutral"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("neutral", "cvar", "seeking"):
            raise ValueError(
                f"unknown risk kind {self.kind!r}; expected neutral, cvar:ALPHA or seeking:ALPHA"
            )
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"risk level alpha must be in (0, 1], got {self.alpha}")
        if self.kind == "neutral" and self.alpha != 1.0:
            raise ValueError("neutral takes no alpha")

    @classmethod
    def parse(cls, text: str) -> RiskSetting:
        """Parse ``neutral``, ``cvar:0.1`` or ``seeking:0.9``; raises ``ValueError`` with what was expected."""
        text = str(text).strip()
        if text == "neutral":
            return cls()
        kind, sep, level = text.partition(":")
        if not sep or kind not in ("cvar", "seeking"):
            raise ValueError(f"expected 'neutral', 'cvar:ALPHA' or 'seeking:ALPHA', got {text!r}")
        try:
            alpha = float(level)
        except ValueError:
            raise ValueError(f"risk level in {text!r} is not a number") from None
        return cls(kind, alpha)  # type: ignore[arg-type]

    @classmethod
    def from_data(cls, value: object, *, source: str | Path | None, path: str) -> RiskSetting:
        """Schema hook: parse a suite's risk setting, failing with a one-line user error."""
        from rsbench.errors import UserError

        try:
            return cls.parse(str(value))
        except ValueError as e:
            raise UserError(str(e), source=source, key=path) from None

    def __str__(self) -> str:
        return "neutral" if self.kind == "neutral" else f"{self.kind}:{self.alpha:g}"
