"""Figures and tables show the same interval (issue 15 item 6): a t-interval across seeds, not 1.96 SE."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from rsbench.report import figures
from rsbench.report import leaderboard as lb


@pytest.mark.parametrize("n", [2, 3, 10])
def test_figure_band_is_the_table_t_interval(n: int) -> None:
    x = np.random.default_rng(n).normal(size=n)
    mean, half = figures._mean_half_width(x)
    cell = lb.cell(x)
    assert (mean - half, mean + half) == pytest.approx((cell.low, cell.high))
    assert half == pytest.approx(sps.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    if n == 2:  # 12.7 / 1.96: the old band was 6x too narrow at two seeds
        assert half / (1.96 * x.std(ddof=1) / np.sqrt(2)) == pytest.approx(6.48, abs=0.01)
