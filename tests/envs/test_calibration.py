"""docs/design.md §2: the shortcut through the hazard has the higher mean but the worse CVaR_0.1."""

import numpy as np

from rsbench.envs import make
from rsbench.envs.policies import detour, shortcut
from rsbench.eval.metrics import cvar

EPISODES = 1000


def returns(policy) -> np.ndarray:
    env = make("rsbench/RiskyPointMass-v0")
    out = np.empty(EPISODES)
    for i in range(EPISODES):
        obs, _ = env.reset(seed=i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(policy(obs[None])[0])
            total += r
            done = term or trunc
        out[i] = total
    return out


def test_shortcut_has_higher_mean_but_worse_cvar():
    short, safe = returns(shortcut), returns(detour)
    se = np.sqrt(short.var(ddof=1) / EPISODES + safe.var(ddof=1) / EPISODES)
    # Higher mean by more than 5 standard errors, and a CVaR_0.1 worse by several return units.
    assert short.mean() - safe.mean() > 5 * se
    assert cvar(short, 0.1) < cvar(safe, 0.1) - 5.0
