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
                    "trial": f"{method}-{task}-s{seed}",
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
    found = lb.findings([board])
    assert found[0].heading == "pm, CVaR_0.1 (Holm over 3 pairs)"
    lines = found[0].lines
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


# ------------------------------------------------------------------------------------------------ issue 15


def _tiers(table: pd.DataFrame) -> dict[str, object]:
    return {r["group"]: r["tier"] for r in lb.task_board(table, "pm", [0.1]).rows}


def test_tiers_are_monotone_in_rank() -> None:
    # Issue 15 item 2: C (wide) is not separated from A or B, B is from A; the old scheme gave 1, 2, 1.
    rng = np.random.default_rng(0)
    table = _table(
        {
            "a neutral": list(10 + 0.05 * rng.standard_normal(5)),
            "b neutral": list(9 + 0.05 * rng.standard_normal(5)),
            "c neutral": list(8 + 5 * rng.standard_normal(5)),
        }
    )
    board = lb.task_board(table, "pm", [0.1])
    assert [r["group"] for r in board.rows] == ["a neutral", "b neutral", "c neutral"]
    holm = {(c.a, c.b): c.p_holm for c in board.comparisons if c.metric == "cvar_0.1"}
    assert holm[("a neutral", "b neutral")] < 0.05 and holm[("b neutral", "c neutral")] > 0.05
    assert holm[("a neutral", "c neutral")] > 0.05  # the old scheme put C in tier 1 for this reason
    assert [r["tier"] for r in board.rows] == [1, 2, 2]


def test_one_seed_leader_is_untested_and_does_not_make_everyone_tier_one() -> None:
    table = _table(
        {"lucky neutral": [50.0], "a neutral": [10.0, 10.1, 9.9, 10.05], "b neutral": [1.0, 1.1, 0.9, 1.05]}
    )
    assert _tiers(table) == {"lucky neutral": lb.UNTESTED, "a neutral": 1, "b neutral": 2}


def test_nan_primary_metric_ranks_last_and_nonfinite_seeds_are_dropped_by_name() -> None:
    table = _table(
        {
            "broken neutral": [float("nan"), float("nan"), float("nan")],
            "a neutral": [10.0, 10.2, 9.8, float("inf")],
            "b neutral": [1.0, 1.2, 0.8],
        }
    )
    board = lb.task_board(table, "pm", [0.1])
    assert [r["group"] for r in board.rows] == ["a neutral", "b neutral", "broken neutral"]
    assert board.rows[-1]["tier"] == lb.UNTESTED and board.rows[-1]["cvar_0.1"].text() == "-"
    a = board.rows[0]["cvar_0.1"]
    assert a.mean == pytest.approx(10.0) and np.isfinite([a.low, a.high]).all()  # inf left out
    warnings = lb.warnings_for(table, [0.1])
    assert any("dropped non-finite CVaR_0.1 = inf of trial a-pm-s3" in w for w in warnings)
    assert sum("of trial broken-pm-s" in w and "CVaR_0.1" in w for w in warnings) == 3


def test_zero_variance_is_flagged_not_read_as_certainty() -> None:
    # Issue 15 item 5: [5, 5, 5] vs [4.99, 4.99, 4.99] gave "+0.01 [+0.01, +0.01], p = 0".
    table = _table({"a neutral": [5.0, 5.0, 5.0], "b neutral": [4.99, 4.99, 4.99]})
    table["violation_rate"] = 0.0
    _, low, high, p = lb.welch_difference(np.full(3, 5.0), np.full(3, 4.99))
    assert np.isnan([low, high, p]).all()
    board = lb.task_board(table, "pm", [0.1])
    assert board.comparisons == [] and lb.findings([board]) == []
    assert {r["tier"] for r in board.rows} == {lb.UNTESTED}
    cell = board.rows[0]["cvar_0.1"]
    assert cell.low is None and "was the seed applied?" in cell.text()
    assert any(
        "every seed gives the same" in w and "was the seed applied?" in w
        for w in lb.warnings_for(table, [0.1])
    )
    # No violations on any seed sits on the rate's bound: a real outcome, not a flag.
    assert "zero variance" not in board.rows[0]["violation_rate"].text(3)
    assert lb.cell(np.zeros(3), (0.0, 1.0)).note == ""


def test_findings_are_listed_per_holm_family() -> None:
    table = _table(
        {"a neutral": [10.0, 10.2, 9.8, 10.1], "b neutral": [0.0, 0.2, -0.2, 0.1]}, metric="cvar_0.1"
    )
    board = lb.task_board(table, "pm", [0.1])
    found = lb.findings([board])
    # cvar_0.1 and mean_return hold the same values here: two families of one pair each, listed apart.
    assert [(f.metric, f.pairs, len(f.lines)) for f in found] == [("cvar_0.1", 1, 1), ("mean_return", 1, 1)]
    assert found[1].heading == "pm, mean return (Holm over 1 pairs)"


def _two_tasks(extra: dict[str, list[float]] | None = None) -> pd.DataFrame:
    one = _table({"a neutral": [0.0, 10.0, 20.0, 30.0, 40.0], **(extra or {})}, task="t1")
    two = _table({"a neutral": [100.0, 200.0, 300.0], **(extra or {})}, task="t2")
    return pd.concat([one, two], ignore_index=True)


def test_cross_task_iqm_uses_every_run_and_reference_scores() -> None:
    # Issue 15 item 3: 5 seeds on one task and 3 on another: the IQM is over all 8 normalised runs.
    refs = {"t1": (0.0, 40.0), "t2": (0.0, 400.0)}
    agg = lb.aggregate(_two_tasks(), "cvar_0.1", references=refs, n_boot=200)
    scores = [0, 25, 50, 75, 100, 25, 50, 75]
    assert agg["iqm"][0] == pytest.approx(sps.trim_mean(scores, 0.25))
    assert agg["normalised"][0] and agg["low"][0] <= agg["iqm"][0] <= agg["high"][0]
    # A group's score does not depend on which other groups are in the run.
    more = lb.aggregate(
        _two_tasks({"z neutral": [-1000.0, 5000.0, 7.0]}), "cvar_0.1", references=refs, n_boot=200
    )
    assert more.set_index("group").loc["a neutral", "iqm"] == pytest.approx(agg["iqm"][0])
    # Without reference scores there is no cross-task IQM (raw returns of two tasks are not comparable).
    assert lb.aggregate(_two_tasks(), "cvar_0.1", n_boot=200).empty
    assert lb.reference_scores({"t1": {"ref_min_score": 0.0, "ref_max_score": 40.0}, "t2": {}}) == {
        "t1": (0.0, 40.0)
    }


def test_a_distortion_column_shows_beside_cvar_with_its_interval() -> None:
    table = _table({"radac cvar:0.1": [1.0, 2.0, 3.0], "iqn cvar:0.1": [0.0, 1.0, 2.0]})
    table["wang:-0.7"] = table["mean_return"] - 0.5
    board = lb.task_board(table, "pm", [0.1])
    assert board.metrics.index("wang:-0.7") == board.metrics.index("cvar_0.1") + 1
    row = next(r for r in board.rows if r["group"] == "radac cvar:0.1")
    assert row["wang:-0.7"] == lb.cell(np.array([0.5, 1.5, 2.5]), None)
    assert "wang:-0.7" not in lb.task_board(_table({"a neutral": [1.0, 2.0]}), "pm", [0.1]).metrics
