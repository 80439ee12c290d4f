"""Decision latency: the evaluator's act calls are timed, the env steps are not."""

from __future__ import annotations

import itertools

import numpy as np

from rsbench.eval.rollout import ActTimer, evaluate
from rsbench.risk import RiskSetting


def test_the_timer_counts_calls_and_decided_rows_and_passes_the_keywords_through() -> None:
    ticks = itertools.count()
    timer = ActTimer(clock=lambda: float(next(ticks)))  # each call: start, end -> 1 "second"
    seen: list[tuple[int, str]] = []

    def policy(obs: np.ndarray, *, risk: RiskSetting, env_ids: np.ndarray) -> np.ndarray:
        seen.append((len(env_ids), str(risk)))
        return np.zeros((len(obs), 2))

    eps = evaluate(timer.wrap(policy), "rsbench/RiskyPointMass-v0", 5, risk=RiskSetting.parse("cvar:0.1"))
    assert timer.calls == len(seen) == int(eps.lengths.max())  # one lock-step call per step
    assert timer.rows == int(eps.lengths.sum()) == sum(n for n, _ in seen)  # every live episode decided
    assert {r for _, r in seen} == {"cvar:0.1"}
    assert timer.seconds == timer.calls  # only the policy's calls are on the clock
    assert timer.to_dict()["ms_per_env"] == 1000.0 * timer.calls / timer.rows


def test_a_policy_that_takes_no_keywords_still_gets_none() -> None:
    timer = ActTimer()
    eps = evaluate(timer.wrap(lambda obs: np.zeros((len(obs), 2))), "rsbench/RiskyPointMass-v0", 3)
    assert timer.rows == int(eps.lengths.sum()) and timer.seconds > 0
    assert np.isnan(ActTimer().to_dict()["ms_per_env"])
