"""Q-learning baseline benchmarks: CQL's training step at CORL's configuration.

CORL's reference CQL (obs 17, act 6, batch 256, three hidden layers of 256 for the actor and both critics,
10 sampled actions for the log-sum-exp) took about 150 ms per step with 2 threads on this machine.
"""

from __future__ import annotations

import numpy as np
from planners import _median_seconds, _sync, _synthetic

REF_CQL_MS = 150.0


def cql_train_step(device: str = "cpu") -> list[dict]:
    """CQL training step (actor, temperature, twin critics with the CQL penalty, targets) at CORL's setting."""
    from rsbench.methods import Space, create

    data = _synthetic()
    method = create(
        "cql", Space.from_data(data), {"hidden": [256, 256, 256], "cql_n_actions": 10}, device=device
    )
    method.prepare(data)
    sampler = method.data_spec().sampler(data, 256, np.random.default_rng(0))
    batch = method.to_batch(sampler.sample())
    ms = 1000 * _median_seconds(lambda: (method.update(batch), _sync(device)), 20, warmup=3)
    figure = {"name": f"CQL training step, batch 256 [{device}]", "value": round(ms, 1), "unit": "ms"}
    if device == "cpu":
        figure.update(target=f"<= {REF_CQL_MS:g} (CORL reference)", met=ms <= REF_CQL_MS)
    return [figure]
