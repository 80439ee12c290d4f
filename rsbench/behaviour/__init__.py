"""Behaviour policies for D4RL-style datasets (docs/design.md §3).

Risk-unaware PPO policies trained online on the base MuJoCo tasks (stable-baselines3, the optional
``rsbench[behaviour]`` extra), exported as plain torch files (:mod:`rsbench.behaviour.policy`) that rsbench
runs with torch alone. The committed files live in ``rsbench/behaviour/policies/``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BehaviourPolicy", "load_policy"]


def __getattr__(name: str) -> Any:
    # Lazy: the policies need torch, the scripted and user policies of rsbench.behaviour.named do not.
    if name in __all__:
        from rsbench.behaviour import policy

        return getattr(policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
