"""Change points in a nightly series of per-seed values (docs/design.md §8): where did a metric shift, and is it real?

Data. One series is a ``(T, n)`` array: ``T`` nights in start order, ``n`` training seeds (the same seeds every
night: one suite), NaN where a seed has no value that night (a failed trial, a non-finite metric).

Model. ``x[t, s] = mu_t + u_s + e[t, s]``: a persistent seed effect ``u_s`` (seed ``s`` is evaluated on the same
episode set every night, docs/design.md §6) and independent noise ``e`` (nondeterministic training, other hardware).
H0 "nothing changed": ``mu_t`` constant, so each seed's values are exchangeable across nights. A shared night
effect (all seeds of one night moved together, e.g. a new library version) is not noise under this model: it is
a change of what was measured, and it is reported as one.

Detector: binary segmentation (Vostrikova 1981) with a standardised mean-shift scan and a permutation null
(Antoch & Huskova 2001), a Pinpoint-style two-sample comparison of per-seed values at every split:

- Each seed's values are centred on that seed's mean over the segment (removing ``u_s``); the residuals ``r``
  have pooled SD ``s``. The split before night ``tau`` compares the ``N_L`` residuals before with the ``N_R``
  after: ``Z_tau = |sum_L r| sqrt(N / (N_L N_R)) / s``, which is ``|mean_R - mean_L| / (s sqrt(1/N_L + 1/N_R))``,
  the two-sample z of the split. The scan statistic is ``max_tau Z_tau``: every split, including the newest night
  alone, has the same null scale, so a drop in the newest night is found as soon as it happens.
- Null: ``n_perm`` random permutations of each seed's nights, independently per seed (an explicit
  ``numpy.random.Generator``), ``p = (1 + #{max Z* >= max Z}) / (1 + n_perm)``. Exact under H0 whatever the
  distribution (heavy tails, a crashed seed): a lone outlier is as likely on any night under the permutations.
- A family of series (every group and metric of a history) is tested at once: Benjamini-Hochberg over the
  series' global p-values at ``alpha`` decides which series changed (with no change anywhere this bounds the
  chance of any reported change by ``alpha``); inside a changed series each further split is kept at the level
  BH admitted the series at (``alpha k / m``), each sub-segment tested with fresh permutations.
- The size of a shift: per seed, its mean over the nights after minus its mean over the nights before (the
  segments between neighbouring change points), then a t-interval over seeds (the seed is the unit, docs/design.md §6).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rsbench.eval.stats import Interval, benjamini_hochberg, t_interval

__all__ = [
    "ChangePoint",
    "Scan",
    "detect",
    "detect_family",
    "night_effect",
    "scan_statistic",
    "scan_test",
    "shift_interval",
]

N_PERM = 1999  # resolves p down to 5e-4: BH over a few dozen series needs alpha / m ~ 1e-3
STOP_AFTER = 20  # Besag-Clifford: stop once this many permutations reach the observed statistic
BATCH = 200
LEVEL = 0.95


@dataclass(frozen=True)
class Scan:
    """The best split of a segment: ``split`` is the first night after it (segment-relative, ``1..T-1``)."""

    statistic: float
    split: int
    p_value: float


@dataclass(frozen=True)
class ChangePoint:
    """A change before night ``index`` (the first night after it; ``index - 1`` is the last night before).

    ``before``/``after``: the ``[start, stop)`` night ranges on either side (up to the neighbouring change
    points); ``shift``: mean after minus mean before, metric units, with its t-interval over seeds;
    ``p_value``: the permutation p of the split when it was found; ``level``: the level it was kept at.
    """

    index: int
    statistic: float
    p_value: float
    level: float
    before: tuple[int, int]
    after: tuple[int, int]
    shift: Interval


def _as_matrix(x: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a (nights, seeds) array, got shape {arr.shape}")
    return np.where(np.isfinite(arr), arr, np.nan)


def _residuals(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``(T, n)`` -> residuals about each seed's mean (NaN kept), pooled SD (0 when nothing varies)."""
    ok = np.isfinite(x)
    counts = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(counts > 0, np.nansum(x, axis=0) / np.maximum(counts, 1), 0.0)
    r = x - centre
    dof = int(ok.sum()) - int(np.count_nonzero(counts))
    ss = float(np.nansum(r**2))
    return r, math.sqrt(ss / dof) if dof > 0 and ss > 0 else 0.0


def _z(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``(..., T)`` residual sums and counts per night -> ``(..., T-1)`` split statistics (times ``s``)."""
    left = np.cumsum(sums, axis=-1)[..., :-1]
    n_left = np.cumsum(counts, axis=-1)[..., :-1]
    total = counts.sum(axis=-1, keepdims=True)
    n_right = total - n_left
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(left) * np.sqrt(total / (n_left * n_right))
    return np.where((n_left > 0) & (n_right > 0), z, 0.0)


def scan_statistic(x: npt.ArrayLike) -> np.ndarray:
    """``(T, n)`` per-seed values -> ``(T-1,)`` standardised mean shifts ``Z_tau`` (module docstring); entry
    ``tau - 1`` is the split before night ``tau``. All zeros when no value varies."""
    r, s = _residuals(_as_matrix(x))
    ok = np.isfinite(r)
    z = _z(np.where(ok, r, 0.0).sum(axis=1), ok.sum(axis=1).astype(np.float64))
    return z / s if s > 0 else np.zeros_like(z)


def _null_maxima(filled: np.ndarray, ok: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` permutations of each seed's nights: ``(n, T)`` residuals (0 where missing) -> ``(size,)`` maxima."""
    n, t_len = filled.shape
    order = rng.permuted(np.broadcast_to(np.arange(t_len, dtype=np.intp), (size, n, t_len)), axis=-1)
    seeds = np.arange(n)[None, :, None]
    sums = filled[seeds, order].sum(axis=1)  # (size, T)
    counts = ok[seeds, order].sum(axis=1).astype(np.float64)
    return _z(sums, counts).max(axis=-1)


def scan_test(
    x: npt.ArrayLike, *, rng: np.random.Generator, n_perm: int = N_PERM, stop_after: int = STOP_AFTER
) -> Scan:
    """The best split of a segment ``(T, n)`` and its permutation p-value (each seed's nights permuted
    independently). ``T < 2`` or nothing varying: untestable, no split and ``p = NaN``.

    Sequential Monte Carlo p-value (Besag & Clifford 1991): permutations are drawn in batches until
    ``stop_after`` of them reach the observed maximum (at permutation ``L``: ``p = stop_after / L``) or
    ``n_perm`` are drawn (``g`` reached it: ``p = (g + 1) / (n_perm + 1)``). Both are valid p-values; a series
    without change stops after a few dozen permutations instead of ``n_perm``.
    """
    arr = _as_matrix(x)
    if n_perm < 1 or stop_after < 1:
        raise ValueError(f"n_perm and stop_after must be positive, got {n_perm!r}, {stop_after!r}")
    r, s = _residuals(arr)
    if arr.shape[0] < 2 or s == 0:
        return Scan(0.0, 0, math.nan)
    ok = np.isfinite(r)
    filled = np.where(ok, r, 0.0)
    observed = _z(filled.sum(axis=1), ok.sum(axis=1).astype(np.float64))
    best = int(np.argmax(observed))
    # Relative tolerance: a permutation equal to the observed arrangement must count despite round-off.
    threshold = observed[best] * (1 - 1e-9)
    exceed = drawn = 0
    while drawn < n_perm:
        size = min(BATCH, n_perm - drawn)
        hits = np.flatnonzero(_null_maxima(filled.T, ok.T, rng, size) >= threshold)
        if exceed + hits.size >= stop_after:
            stopped = drawn + int(hits[stop_after - exceed - 1]) + 1
            return Scan(float(observed[best] / s), best + 1, stop_after / stopped)
        exceed, drawn = exceed + hits.size, drawn + size
    return Scan(float(observed[best] / s), best + 1, (1 + exceed) / (1 + n_perm))


def shift_interval(
    x: npt.ArrayLike, before: tuple[int, int], after: tuple[int, int], level: float = LEVEL
) -> Interval:
    """Mean after minus mean before, per seed, then a t-interval over the seeds present on both sides.

    x: ``(T, n)``; before/after: ``[start, stop)`` night ranges. With fewer than two such seeds the interval
    is NaN (the estimate is then the difference of the pooled means)."""
    arr = _as_matrix(x)
    left, right = arr[before[0] : before[1]], arr[after[0] : after[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a seed missing on one side: an all-NaN slice
        d = np.nanmean(right, axis=0) - np.nanmean(left, axis=0)
        pooled = float(np.nanmean(right) - np.nanmean(left))
    d = d[np.isfinite(d)]
    if d.size >= 2:
        return t_interval(d, level)
    return Interval(pooled, math.nan, math.nan, level, "t")


def _segment(
    x: np.ndarray, start: int, stop: int, scan: Scan | None, *, rng: np.random.Generator, level: float,
    n_perm: int,
) -> list[tuple[int, Scan, float]]:  # fmt: skip
    """Binary segmentation of nights ``[start, stop)``: ``(first night after, scan, level)`` per change."""
    found = scan if scan is not None else scan_test(x[start:stop], rng=rng, n_perm=n_perm)
    if found.split == 0 or not found.p_value <= level:
        return []
    cut = start + found.split
    left = _segment(x, start, cut, None, rng=rng, level=level, n_perm=n_perm)
    right = _segment(x, cut, stop, None, rng=rng, level=level, n_perm=n_perm)
    return [*left, (cut, found, level), *right]


def _change_points(x: np.ndarray, cuts: list[tuple[int, Scan, float]]) -> list[ChangePoint]:
    bounds = [0, *(c for c, _, _ in cuts), x.shape[0]]
    out = []
    for i, (cut, scan, level) in enumerate(cuts, 1):
        before, after = (bounds[i - 1], cut), (cut, bounds[i + 1])
        shift = shift_interval(x, before, after)
        out.append(ChangePoint(cut, scan.statistic, scan.p_value, level, before, after, shift))
    return out


def detect(
    x: npt.ArrayLike, *, rng: np.random.Generator, level: float = 0.05, n_perm: int = N_PERM
) -> list[ChangePoint]:
    """Change points of one series ``(T, n)``, each split kept at ``level`` (no family correction)."""
    arr = _as_matrix(x)
    return _change_points(arr, _segment(arr, 0, arr.shape[0], None, rng=rng, level=level, n_perm=n_perm))


def detect_family(
    series: Sequence[npt.ArrayLike], *, rng: np.random.Generator, alpha: float = 0.05, n_perm: int = N_PERM
) -> list[list[ChangePoint]]:
    """Change points of every series of a family (module docstring): BH at ``alpha`` over the series' global
    p-values picks the changed series; their further splits are kept at ``alpha k / m``. Untestable series
    (fewer than two nights, or no value varying) have NaN p and do not count in ``m``. Returns one list per
    series, in input order."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    arrays = [_as_matrix(x) for x in series]
    scans = [scan_test(a, rng=rng, n_perm=n_perm) for a in arrays]
    adjusted = benjamini_hochberg([s.p_value for s in scans]) if scans else np.array([])
    changed = [i for i, q in enumerate(adjusted) if q <= alpha]
    level = alpha * len(changed) / max(int(np.count_nonzero(np.isfinite(adjusted))), 1)
    out: list[list[ChangePoint]] = [[] for _ in arrays]
    for i in changed:
        a = arrays[i]
        out[i] = _change_points(a, _segment(a, 0, a.shape[0], scans[i], rng=rng, level=level, n_perm=n_perm))
    return out


def night_effect(x: npt.ArrayLike, cuts: Sequence[int] = ()) -> float:
    """p-value of an F-test for nights that differ beyond their seeds' noise, within the segments between
    ``cuts`` (first nights after each change point): the check of the detector's model.

    In each segment, residuals about each seed's mean; ``SS_nights = sum_t c_t mean_t^2`` over ``T - 1``
    degrees of freedom against the residual sum of squares about the night means over ``N - T - (n - 1)``
    (two-way additive ANOVA, one value per cell; approximate with missing cells), pooled over the segments.
    A small p says that whole nights move together more than seed noise explains (a shared night effect, or a
    drift too slow to split): the detector then counts such nights as changes. NaN when nothing can be tested.
    """
    from scipy import stats as _st

    arr = _as_matrix(x)
    bounds = [0, *sorted(cuts), arr.shape[0]]
    between = within = df_b = df_w = 0.0
    for a, b in itertools.pairwise(bounds):
        r, _ = _residuals(arr[a:b])
        ok = np.isfinite(r)
        counts = ok.sum(axis=1)
        live = counts > 0
        if live.sum() < 2:
            continue
        means = np.where(live, np.where(ok, r, 0.0).sum(axis=1) / np.maximum(counts, 1), 0.0)
        between += float(np.sum(counts * means**2))
        within += float(np.nansum((r - means[:, None]) ** 2))
        df_b += float(live.sum() - 1)
        df_w += float(ok.sum() - live.sum() - (np.count_nonzero(ok.any(axis=0)) - 1))
    if df_b < 1 or df_w < 1 or within <= 0:
        return math.nan
    return float(_st.f.sf((between / df_b) / (within / df_w), df_b, df_w))
