"""Q-learning baseline benchmarks: CQL's, IQN's and RADAC's training steps at their reference configurations,
and the decision latency of their ``act`` (one environment, and 64 at once).

CORL's reference CQL (obs 17, act 6, batch 256, three hidden layers of 256 for the actor and both critics,
10 sampled actions for the log-sum-exp) took about 150 ms per step with 2 threads on ``planners.REFERENCE_MACHINE``
(2026-11-24): a constant from that machine (records.py).
"""

from __future__ import annotations

import numpy as np
from planners import REFERENCE_MACHINE, _median_seconds, _sync, _synthetic

import records

REF_CQL_MS = 150.0
CORL_REFERENCE = {
    "machine": REFERENCE_MACHINE,
    "when": "2026-11-24",
    "source": "CORL's CQL (tinkoff-ai/CORL), 2 threads, commit 03c1c52",
}


def _step_ms(name: str, config: dict, device: str) -> float:
    """Median ms of one ``update`` on a fixed batch of 256 synthetic HalfCheetah-sized transitions."""
    from rsbench.methods import Space, create

    data = _synthetic()
    method = create(name, Space.from_data(data), config, device=device)
    method.prepare(data)
    sampler = method.data_spec().sampler(data, 256, np.random.default_rng(0))
    batch = method.to_batch(sampler.sample())
    return 1000 * _median_seconds(lambda: (method.update(batch), _sync(device)), 20, warmup=3)


def cql_train_step(device: str = "cpu") -> list[dict]:
    """CQL training step (actor, temperature, twin critics with the CQL penalty, targets) at CORL's setting."""
    ms = _step_ms("cql", {"hidden": [256, 256, 256], "cql_n_actions": 10}, device)
    figure = {"name": f"CQL training step, batch 256 [{device}]", "value": round(ms, 1), "unit": "ms"}
    if device == "cpu":
        figure["target"] = records.constant("<=", REF_CQL_MS, CORL_REFERENCE)
    return [figure]


def iqn_train_step(device: str = "cpu") -> list[dict]:
    """IQN training step (twin quantile critics, 32 x 32 taus, CVaR actor), plain and conservative (CODAC)."""
    config = {"hidden": [256, 256, 256], "train_risk": "cvar:0.1"}
    return [
        {
            "name": f"IQN training step, batch 256, {label} [{device}]",
            "value": round(_step_ms("iqn", {**config, "conservative": conservative}, device), 1),
            "unit": "ms",
        }
        for label, conservative in (("plain", False), ("conservative", True))
    ]


def radac_train_step(device: str = "cpu") -> list[dict]:
    """RADAC training step (twin IQN critics with 32 x 32 taus, a 5-step diffusion actor differentiated through
    its chain, EMA target actions) at RAMAC's HalfCheetah medium-expert settings, and at suites/pointmass.yaml's."""
    figures = [
        {
            "name": f"RADAC training step, batch 256, RAMAC's config [{device}]",
            "value": round(_step_ms("radac", {}, device), 1),
            "unit": "ms",
        }
    ]
    figures.append(
        {
            "name": f"RADAC training step, batch 256, pointmass suite's config [{device}]",
            "value": round(_step_ms("radac", POINTMASS_RADAC, device), 1),
            "unit": "ms",
        }
    )
    return figures


# suites/pointmass.yaml's RADAC config overrides (the suite's sizes, so the row prices one of its trials)
POINTMASS_RADAC = {"hidden": [64, 64, 64], "critic_hidden": [64, 64]}


def act_latency(device: str = "cpu") -> list[dict]:
    """Decision latency: median wall time of ``act`` for 1 and for 64 HalfCheetah-sized environments, for the
    actor-critic baselines at their reference configurations (IQN and CQL: one MLP pass; RADAC: 5 denoiser
    passes)."""
    import torch

    from rsbench.methods import Space, create

    data = _synthetic()
    configs = {
        "CQL": ("cql", {"hidden": [256, 256, 256]}),
        "IQN": ("iqn", {"hidden": [256, 256, 256]}),
        "RADAC": ("radac", {}),
    }
    figures = []
    for label, (name, config) in configs.items():
        method = create(name, Space.from_data(data), config, device=device)
        method.prepare(data)
        gen = torch.Generator(device=device).manual_seed(0)
        for n in (1, 64):
            obs = data.observations[:n]
            seconds = _median_seconds(
                lambda o=obs, m=method, g=gen: (m.act(o, generator=g), _sync(device)), 50, warmup=5
            )
            figures.append(
                {
                    "name": f"{label} act, {n} env{'s' if n > 1 else ''} [{device}]",
                    "value": round(1000 * seconds, 2),
                    "unit": "ms",
                }
            )
    return figures


def radac_iqn_interleaved(device: str = "cpu") -> list[dict]:
    """RADAC against IQN, each at its reference configuration, timed alternately in one process (so a shared
    machine's load hits both alike): ratios of the median training step and of ``act`` for 64 environments."""
    import time

    import torch

    from rsbench.methods import Space, create

    data = _synthetic()
    configs = {"radac": {}, "iqn": {"hidden": [256, 256, 256], "train_risk": "cvar:0.1"}}
    methods, steps, acts = {}, {k: [] for k in configs}, {k: [] for k in configs}
    for name, config in configs.items():
        method = create(name, Space.from_data(data), config, device=device)
        method.prepare(data)
        sampler = method.data_spec().sampler(data, 256, np.random.default_rng(0))
        methods[name] = (
            method,
            method.to_batch(sampler.sample()),
            torch.Generator(device=device).manual_seed(0),
        )
    obs = data.observations[:64]
    for rep in range(10):
        for name, (method, batch, gen) in methods.items():
            t0 = time.perf_counter()
            method.update(batch)
            _sync(device)
            t1 = time.perf_counter()
            method.act(obs, generator=gen)
            _sync(device)
            if rep >= 2:  # warm-up
                steps[name].append(t1 - t0)
                acts[name].append(time.perf_counter() - t1)
    med = {k: (float(np.median(steps[k])), float(np.median(acts[k]))) for k in configs}
    return [
        {
            "name": f"RADAC / IQN training step time, batch 256, interleaved [{device}]",
            "value": round(med["radac"][0] / med["iqn"][0], 2),
            "unit": "x",
        },
        {
            "name": f"RADAC / IQN act time, 64 envs, interleaved [{device}]",
            "value": round(med["radac"][1] / med["iqn"][1], 1),
            "unit": "x",
        },
    ]
