"""Leaderboard statistics on hand-computable per-seed tables: intervals, Holm tiers, sentences, IQM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from rsbench.report import leaderboard as lb


def _table(values: dict[str, list[float]], metric: str = "cvar_0.1", task: str = "pm") -> pd.DataFrame:
    rows = []
    for group, xs in values.items():
        method, risk = group.split(" ")
        for seed, x in enumerate(xs):
            rows.append(
                {
                    "trial": f"{method}-{seed}",
                    "method": method,
                    "algo": method,
                    "task": task,
                    "sweep": "{}",
                    "risk": risk,
                    "seed": seed,
                    "episodes": 100,
                    "mean_return": x,
                    metric: x,
                    "violation_rate": 0.1,
                    "episode_violation_rate": 0.2,
                }
            )
    return lb.with_groups(pd.DataFrame(rows))


def test_cell_is_the_t_interval_and_rates_are_clipped() -> None:
    x = np.array([1.0, 2.0, 3.0])
    c = lb.cell(x)
    half = sps.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert (c.mean, c.low, c.high) == pytest.approx((2.0, 2 - half, 2 + half))
    assert lb.cell(np.array([0.0, 0.02]), (0.0, 1.0)).low == 0.0
    assert lb.cell(np.array([5.0])).text() == "5.00"


def test_welch_difference_matches_scipy() -> None:
    a, b = np.array([3.0, 4.0, 5.0, 6.0]), np.array([1.0, 1.5, 2.5])
    diff, low, high, p = lb.welch_difference(a, b)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert diff == pytest.approx(4.5 - 5 / 3)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert p == pytest.approx(res.pvalue)


def test_tiers_ties_with_the_leader_unless_holm_separates() -> None:
    table = _table(
        {
            "a neutral": [10.0, 10.2, 9.8, 10.1, 9.9],
            "b neutral": [9.9, 10.1, 10.0, 9.8, 10.2],  # indistinguishable from a
            "c neutral": [0.0, 0.2, -0.2, 0.1, -0.1],  # far below both
        }
    )
    board = lb.task_board(table, "pm", [0.1])
    assert [r["group"] for r in board.rows] == ["a neutral", "b neutral", "c neutral"]
    assert [r["tier"] for r in board.rows] == [1, 1, 2]
    primary = [c for c in board.comparisons if c.metric == "cvar_0.1"]
    raw = sorted(c.p for c in primary)
    assert sorted(c.p_holm for c in primary) == pytest.approx(
        [
            min(1.0, max(3 * raw[0], 0)),
            min(1.0, max(3 * raw[0], 2 * raw[1])),
            min(1.0, max(3 * raw[0], 2 * raw[1], raw[2])),
        ]
    )
    lines = lb.findings([board])
    assert lines[0].startswith("a neutral has a higher CVaR_0.1 than c neutral on pm: +10")
    assert "p = " in lines[0] and lines[0].endswith("(Holm)")
    assert not any("b neutral than a neutral" in line or "a neutral than b neutral" in line for line in lines)


def test_lower_violation_rate_reads_as_lower() -> None:
    c = lb.Comparison("pm", "violation_rate", "safe cvar:0.1", "fast neutral", -0.4, -0.5, -0.3, 0.001, 0.002)
    assert c.sentence("violation rate") == (
        "safe cvar:0.1 has a lower violation rate than fast neutral on pm: -0.4 [-0.5, -0.3], p = 0.002 (Holm)"
    )


def test_single_task_aggregate_is_the_iqm_of_the_seeds() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 100.0, -100.0, 2.5, 3.5]
    agg = lb.aggregate(_table({"a neutral": xs}), "cvar_0.1", n_boot=200)
    ordered = np.sort(xs)
    assert agg["iqm"][0] == pytest.approx(ordered[2:6].mean())  # the middle half of 8 values
    assert not agg["normalised"][0]


def test_warnings_name_thin_tails_few_seeds_and_poor_coverage() -> None:
    table = _table({"a neutral": [1.0, 2.0]})
    table["episodes"] = 50
    w = lb.warnings_for(
        table,
        [0.05, 0.25],
        {"pm": {"dataset": "d", "warnings": ["only 3 penalty events"], "penalty_episode_fraction": 0.01}},
    )
    assert any("CVaR_0.05 rests on n*alpha = 2.5 < 10" in x for x in w)
    assert not any("CVaR_0.25" in x for x in w)
    assert any("fewer than 5 seeds" in x for x in w)
    assert any("only 3 penalty events" in x for x in w) and any("low tail coverage" in x for x in w)
