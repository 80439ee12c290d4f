"""A group whose episodes are identical under every inference risk (an unguided sampler) is listed once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rsbench.report.compare import resolve
from rsbench.results.tables import ANY_RISK, add_costs, collapse_identical_risks, per_seed, with_groups

RISKS = ("neutral", "cvar:0.1", "seeking:0.1")
UNGUIDED = json.dumps({"methods.rs.config.guidance_scale": 0.0})
GUIDED = json.dumps({"methods.rs.config.guidance_scale": 1.0})


def _episodes(rng: np.random.Generator, sweep: str, per_risk: bool, seeds: int = 2) -> pd.DataFrame:
    """10 episodes per seed and risk; the same ones under every risk unless ``per_risk``."""
    rows = []
    for seed in range(seeds):
        base = rng.normal(0, 1, 10)
        for risk in RISKS:
            returns = base + (rng.normal(0, 1, 10) if per_risk else 0.0)
            for episode, value in enumerate(returns):
                rows.append(
                    {"trial": f"rs-s{seed}", "method": "rs", "algo": "rs", "task": "pm", "seed": seed,
                     "sweep": sweep, "risk": risk, "episode": episode, "episode_seed": 100 + episode,
                     "return": float(value), "length": 50, "violation_steps": episode % 3}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_identical_risks_collapse_to_one_group_and_differing_ones_stay() -> None:
    rng = np.random.default_rng(0)
    unguided, guided = _episodes(rng, UNGUIDED, per_risk=False), _episodes(rng, GUIDED, per_risk=True)
    out = collapse_identical_risks(pd.concat([unguided, guided], ignore_index=True))
    assert sorted(out.loc[out["sweep"] == UNGUIDED, "risk"].unique()) == [ANY_RISK]
    assert len(out.loc[out["sweep"] == UNGUIDED]) == 2 * 10  # one copy of each seed's episodes
    assert sorted(out.loc[out["sweep"] == GUIDED, "risk"].unique()) == sorted(RISKS)
    kept = out.loc[out["sweep"] == UNGUIDED].sort_values(["seed", "episode"])["return"].to_numpy()
    first = unguided.loc[unguided["risk"] == RISKS[0]].sort_values(["seed", "episode"])["return"].to_numpy()
    np.testing.assert_array_equal(kept, first)

    table = with_groups(per_seed(out, [0.1]))
    assert resolve("rs@cvar:0.1[guidance_scale=0.0]", table) == "rs any [guidance_scale=0.0]"
    assert resolve("rs@cvar:0.1[guidance_scale=1.0]", table) == "rs cvar:0.1 [guidance_scale=1.0]"


def test_one_differing_episode_or_a_single_risk_keeps_the_rows() -> None:
    rng = np.random.default_rng(1)
    episodes = _episodes(rng, UNGUIDED, per_risk=False)
    one_off = episodes.copy()
    hit = one_off.index[(one_off["seed"] == 1) & (one_off["risk"] == "cvar:0.1") & (one_off["episode"] == 9)]
    one_off.loc[hit, "violation_steps"] += 1  # same returns, one more violating step in one episode
    assert sorted(collapse_identical_risks(one_off)["risk"].unique()) == sorted(RISKS)
    single = episodes.loc[episodes["risk"] == "neutral"]
    pd.testing.assert_frame_equal(collapse_identical_risks(single), single.reset_index(drop=True))


def test_a_collapsed_groups_latency_is_the_mean_over_its_risks() -> None:
    latency = [
        {"risk": r, "sweep": UNGUIDED, "ms_per_env": ms} for r, ms in zip(RISKS, (2.0, 3.0, 4.0), strict=True)
    ]
    trials = pd.DataFrame(
        [{"trial": "rs-s0", "method": "rs", "steps": 10, "train_seconds": 1.0, "packed": 1,
          "decision_latency": json.dumps(latency)}]
    )  # fmt: skip
    table = pd.DataFrame({"trial": ["rs-s0"] * 2, "method": ["rs"] * 2, "risk": [ANY_RISK, "cvar:0.1"],
                          "sweep": [UNGUIDED] * 2})  # fmt: skip
    assert list(add_costs(table, trials)["act_ms_per_env"]) == [3.0, 3.0]


def test_the_locomotion_pin_lists_its_unguided_sampler_once() -> None:
    from rsbench.report.render import merge
    from rsbench.results import load_run

    pin = Path(__file__).resolve().parents[2] / "baselines" / "locomotion"
    table = merge([load_run(str(pin))]).table
    hopper = table.loc[(table["task"] == "hopper") & (table["method"] == "rs_diffuser")]
    groups = hopper.groupby("group")["seed"].nunique().to_dict()
    assert groups == {
        "rs_diffuser any [guidance_scale=0.0]": 3,
        **{f"rs_diffuser {r} [guidance_scale=1.0]": 3 for r in RISKS},
    }
