"""Behaviour policies for D4RL-style datasets (docs/design.md §3).

Risk-unaware PPO policies trained online on the base MuJoCo tasks (stable-baselines3, the optional
``rsbench[behaviour]`` extra), exported as plain torch files (:mod:`rsbench.behaviour.policy`) that rsbench
runs with torch alone. The committed files live in ``rsbench/behaviour/policies/``.
"""

from rsbench.behaviour.policy import BehaviourPolicy, load_policy

__all__ = ["BehaviourPolicy", "load_policy"]
