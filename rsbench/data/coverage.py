"""Tail coverage of a dataset: is there enough of the lower tail for a method to learn it?"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsbench.data.offline import OfflineData

# Fewer penalty events than this and the worst outcomes are a handful of episodes: a distributional
# critic cannot calibrate its lower quantiles on them (RS-Diffuser's central caveat).
MIN_PENALTY_EVENTS = 20
QUANTILES = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.95, 1.0)


def tail_coverage(data: OfflineData, *, min_penalty_events: int = MIN_PENALTY_EVENTS) -> dict[str, Any]:
    """Plain-data summary: sizes, risky-step fraction, penalty events, return quantiles and warnings."""
    returns = data.episode_returns()
    idx = data.episode_index
    risky_episodes = np.bincount(idx, weights=data.violations, minlength=data.n_episodes) > 0
    penalty_episodes = np.bincount(idx, weights=data.penalties, minlength=data.n_episodes) > 0
    events = int(data.penalties.sum())
    warnings = []
    if not data.has_risk_flags:
        warnings.append("no violation/penalty flags recorded: relabel it with `rsbench data relabel`")
    elif events < min_penalty_events:
        warnings.append(
            f"only {events} penalty events (< {min_penalty_events}): too few for the tail of the return "
            "distribution to be learned; CVaR estimates from this data will not be calibrated"
        )
    return {
        "dataset": data.dataset_id,
        # The build's size and pieces (None for datasets not built by rsbench): part of its identity.
        "size": data.metadata.get("size"),
        "parts": data.metadata.get("parts"),
        "task": data.metadata.get("task_id"),
        "risk_spec": (data.metadata.get("risk_spec") or {}).get("name"),
        "risk_spec_version": data.metadata.get("risk_spec_version"),
        "episodes": data.n_episodes,
        "steps": data.n_steps,
        "mean_episode_length": float(data.episode_lengths.mean()),
        "risky_step_fraction": float(data.violations.mean()),
        "risky_episode_fraction": float(risky_episodes.mean()),
        "penalty_events": events,
        "penalty_episode_fraction": float(penalty_episodes.mean()),
        "mean_return": float(returns.mean()),
        "return_quantiles": {f"{q:g}": float(np.quantile(returns, q)) for q in QUANTILES},
        **_reference(data, returns),
        "risk_features": risk_features(data),
        "content_hash": data.content_hash(),
        "warnings": warnings,
    }


def _reference(data: OfflineData, returns: np.ndarray) -> dict[str, float]:
    """Reference scores and the data's mean normalised score, where the dataset has them."""
    from rsbench.eval.metrics import normalised_score

    if data.reference_scores is None:
        return {}
    lo, hi = data.reference_scores
    return {
        "ref_min_score": lo,
        "ref_max_score": hi,
        "normalised_score": float(np.mean(normalised_score(returns, lo, hi))),
    }


def risk_features(data: OfflineData) -> dict[str, dict[str, float]]:
    """Distribution of every observation a risk clause thresholds (``obs[i] OP value``), over the next
    states of the data: quantiles and the fraction past the threshold (e.g. HalfCheetah's forward velocity
    obs[8] against 4.0). Empty when the dataset's risk spec has no such clause."""
    from rsbench.envs.spec import Compare, RiskSpec

    spec = data.metadata.get("risk_spec")
    if not spec:
        return {}
    out = {}
    for clause in RiskSpec.from_dict(spec).clauses:
        if not (isinstance(clause, Compare) and clause.source == "obs"):
            continue
        x = data.next_observations[:, int(clause.key)].astype(np.float64)
        past = clause.holds(data.next_observations.astype(np.float64), None)
        out[f"obs[{clause.key}] {clause.op} {clause.value:g}"] = {
            **{f"q{q:g}": float(np.quantile(x, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
            "fraction_past_threshold": float(past.mean()),
        }
    return out
