"""PNG figures of a benchmark report, rendered headless with seaborn/matplotlib.

:func:`render_figures` writes, for each task, the return distribution (ECDF and violins), CVaR against its
level alpha, the risk-return frontier, violation rates, training curves and, for methods whose critic
predicts return quantiles, a calibration plot. A "group" is ``f"{method} {risk}"``: one trained model
evaluated at several risk settings gives several groups with the same method. Each group keeps one colour
in every figure.

matplotlib and seaborn are imported inside :func:`render_figures` only, so that importing this module (e.g.
from the CLI, or to read :class:`Figure`) stays cheap and never picks a GUI backend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rsbench.eval.metrics import cvar
from rsbench.eval.stats import t_interval, wilson_interval
from rsbench.results.tables import group_labels
from rsbench.risk import DISTORTIONS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CVAR_GRID", "Figure", "render_figures"]

DPI = 100
SIZE = (6.4, 4.0)
# Alpha grid of the CVaR-alpha figure; starts at 0.05 because smaller tails hold one or two episodes.
CVAR_GRID = np.linspace(0.05, 1.0, 20)
MAX_LOSS_PANELS = 4
FRONTIER_ALPHA = 0.1

Colour = tuple[float, float, float]
Palette = dict[str, Colour]

_RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


@dataclass(frozen=True)
class Figure:
    """One rendered PNG: ``file`` is its name inside the output directory, ``task`` None for cross-task."""

    file: str
    title: str
    caption: str
    task: str | None


# ------------------------------------------------------------------------------------------------ helpers


def _slug(task: str) -> str:
    """The task as it appears in a file name: anything but letters, digits, ``.``, ``_``, ``-`` becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(task))


def _has(frame: pd.DataFrame | None, columns: Sequence[str]) -> bool:
    return frame is not None and not frame.empty and all(c in frame.columns for c in columns)


def _risk_key(risk: str) -> tuple[int, float, str]:
    """Order of risk settings along a method's frontier: neutral, CVaR from mild to strict, then seeking,
    then the distortions (``wang``, ``cpw``, ``power``), each by decreasing ``eta`` (for ``wang`` and
    ``power``: from seeking through neutral to strictly averse).

    Unparseable settings go last, alphabetically, rather than failing the whole report.
    """
    text = str(risk).strip()
    if text == "neutral":
        return (0, 0.0, text)
    kind, sep, level = text.partition(":")
    try:
        alpha = float(level) if sep else math.nan
    except ValueError:
        alpha = math.nan
    if kind in ("cvar", "seeking") and not math.isnan(alpha):
        return (1 if kind == "cvar" else 2, -alpha, text)
    if kind in DISTORTIONS and not math.isnan(alpha):
        return (3 + DISTORTIONS.index(kind), -alpha, text)
    return (3 + len(DISTORTIONS), 0.0, text)


def _finite_returns(episodes: pd.DataFrame | None, task: str, columns: Sequence[str]) -> pd.DataFrame | None:
    """:func:`_with_group` rows of ``task`` whose return is finite, or None when none are left."""
    rows = _with_group(episodes, task, columns)
    if rows is None:
        return None
    rows = rows.loc[np.isfinite(rows["return"].to_numpy(dtype=float))]
    return None if rows.empty else rows


def _with_group(frame: pd.DataFrame | None, task: str, columns: Sequence[str]) -> pd.DataFrame | None:
    """Rows of ``task`` with a ``group`` column, or None when the frame is empty or lacks ``columns``."""
    needed = ["task", "method", "risk", *columns]
    if not _has(frame, needed):
        return None
    assert frame is not None
    rows = frame.loc[frame["task"] == task].copy()
    if rows.empty:
        return None
    rows["method"] = rows["method"].astype(str)
    rows["risk"] = rows["risk"].astype(str)
    rows["group"] = group_labels(rows)  # swept trials are separate series, named as the leaderboard's rows
    return rows


def _group_order(rows: pd.DataFrame) -> list[str]:
    """Groups by method, then by risk setting in frontier order."""
    pairs = rows[["method", "risk", "group"]].drop_duplicates()
    keyed = sorted(pairs.itertuples(index=False), key=lambda p: (p.method, _risk_key(p.risk)))
    return [p.group for p in keyed]


def _mean_half_width(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of the 95% t-interval across seeds, as in the leaderboard tables (NaN with
    fewer than two seeds)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    if values.size < 2:
        return float(values.mean()), math.nan
    ci = t_interval(values, 0.95)
    return ci.estimate, ci.high - ci.estimate


def _unit(frame: pd.DataFrame) -> str:
    """The column naming the statistical unit (one training run); ``trial`` when the frame has it."""
    return "trial" if "trial" in frame.columns else "seed"


def _all_groups(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """Every (method, risk, group) of the frames: the palette's keys are the groups the figures draw."""
    parts = [
        f.assign(sweep=f["sweep"] if "sweep" in f.columns else None)[["method", "risk", "sweep"]]
        .astype({"method": str, "risk": str})
        .assign(group=lambda p: group_labels(p))[["method", "risk", "group"]]
        .drop_duplicates()
        for f in frames
        if _has(f, ["method", "risk"])
    ]
    if not parts:
        return pd.DataFrame({"method": [], "risk": [], "group": []}, dtype=str)
    return pd.concat(parts, ignore_index=True).drop_duplicates()


def _colours(n: int) -> list[Colour]:
    import seaborn as sns

    # tab10 is the most distinguishable set up to ten; beyond that evenly spaced hues keep colours distinct.
    name = "tab10" if n <= 10 else "husl"
    return [tuple(float(c) for c in rgb) for rgb in sns.color_palette(name, max(n, 1))]  # type: ignore[misc]


def _palettes(
    per_seed: pd.DataFrame, episodes: pd.DataFrame, calibration: pd.DataFrame, curves: pd.DataFrame
) -> tuple[Palette, Palette]:
    """One colour per group from the sorted group labels of all tasks, and one per method.

    A method takes the colour of its first group in frontier order (``neutral`` when it has one), so a
    method evaluated at a single risk setting has the same colour in the training curves as elsewhere.
    Methods that only have training curves get colours after the groups'.
    """
    pairs = _all_groups(per_seed, episodes, calibration)
    groups = sorted(set(pairs["group"]))
    curve_methods = set(curves["method"].astype(str)) if _has(curves, ["method"]) else set()
    orphans = sorted(curve_methods - set(pairs["method"]))
    colours = _colours(len(groups) + len(orphans))
    palette = dict(zip(groups, colours, strict=False))
    by_method: Palette = {}
    for p in sorted(pairs.itertuples(index=False), key=lambda p: (p.method, _risk_key(p.risk))):
        by_method.setdefault(p.method, palette[p.group])
    by_method.update(zip(orphans, colours[len(groups) :], strict=False))
    return palette, by_method


class _Canvas:
    """Creates figures under one style and writes them; every figure is closed, drawn or not."""

    def __init__(self, out_dir: Path) -> None:
        import matplotlib

        # Agg before pyplot: rendering must work without a display (CI, Ray workers, ssh sessions).
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import seaborn as sns

        self.plt = plt
        self.sns = sns
        self.out_dir = out_dir
        self.style = {**sns.axes_style("whitegrid"), **_RC}

    @contextmanager
    def figure(
        self, file: str, nrows: int = 1, ncols: int = 1, size: tuple[float, float] = SIZE, **kwargs: Any
    ) -> Iterator[tuple[Any, Any]]:
        # rc_context instead of sns.set_theme: the style must not leak into the caller's own plots.
        with self.plt.rc_context(self.style):
            fig, axes = self.plt.subplots(
                nrows, ncols, figsize=size, layout="constrained", squeeze=False, **kwargs
            )
            try:
                yield fig, axes
                # No "Software" entry: the PNG bytes then depend on the drawing only, not the matplotlib version.
                fig.savefig(self.out_dir / file, dpi=DPI, metadata={"Software": None})
            finally:
                self.plt.close(fig)


def _legend(ax: Axes, n: int) -> None:
    if n:
        ax.legend(loc="best", frameon=True, ncols=1 if n <= 8 else 2)


# ------------------------------------------------------------------------------------------------ figures


def _ecdf(cv: _Canvas, task: str, episodes: pd.DataFrame, palette: Palette) -> Figure | None:
    rows = _finite_returns(episodes, task, ["return"])
    if rows is None:
        return None
    order = _group_order(rows)
    file = f"{_slug(task)}-ecdf.png"
    with cv.figure(file) as (_, axes):
        ax = axes[0, 0]
        for group in order:
            returns = np.sort(rows.loc[rows["group"] == group, "return"].to_numpy(dtype=float))
            # A leading (min, 0) point draws the first jump from zero instead of starting mid-air at 1/n.
            cdf = np.arange(0, returns.size + 1) / returns.size
            ax.step(
                np.r_[returns[0], returns],
                cdf,
                where="post",
                color=palette[group],
                label=group,
                linewidth=1.4,
            )
        ax.set_xlabel("episode return")
        ax.set_ylabel("fraction of episodes with return <= x")
        ax.set_ylim(0.0, 1.02)
        ax.set_title(f"{task}: distribution of episode returns")
        _legend(ax, len(order))
    return Figure(
        file,
        f"{task}: distribution of episode returns",
        "Empirical CDF of the evaluation episode returns of each method and risk setting, seeds pooled: "
        "curves further right are better, and the left end is the lower tail that CVaR averages.",
        task,
    )


def _violins(cv: _Canvas, task: str, episodes: pd.DataFrame, palette: Palette) -> Figure | None:
    rows = _finite_returns(episodes, task, ["return"])
    if rows is None:
        return None
    order = _group_order(rows)
    file = f"{_slug(task)}-violins.png"
    height = min(max(2.4, 0.45 * len(order) + 1.2), 4.8)
    with cv.figure(file, size=(SIZE[0], height)) as (_, axes):
        ax = axes[0, 0]
        cv.sns.violinplot(
            data=rows[["group", "return"]].astype({"return": float}),
            x="return",
            y="group",
            order=order,
            hue="group",
            hue_order=order,
            palette={g: palette[g] for g in order},
            legend=False,
            orient="h",
            cut=0,  # no density beyond the observed returns: the extremes are what a risk reader looks at
            inner="quart",
            density_norm="width",
            linewidth=0.8,
            ax=ax,
        )
        ax.set_xlabel("episode return")
        ax.set_ylabel("")
        ax.set_title(f"{task}: episode returns per method and risk setting")
    return Figure(
        file,
        f"{task}: episode returns per method and risk setting",
        "Violin plots (kernel density, cut at the observed extremes) of evaluation episode returns per method "
        "and risk setting, seeds pooled; the inner dashed lines are the quartiles.",
        task,
    )


def _cvar_alpha(cv: _Canvas, task: str, episodes: pd.DataFrame, palette: Palette) -> Figure | None:
    unit = _unit(episodes)
    rows = _finite_returns(episodes, task, ["return", unit])
    if rows is None:
        return None
    order = _group_order(rows)
    file = f"{_slug(task)}-cvar-alpha.png"
    with cv.figure(file) as (_, axes):
        ax = axes[0, 0]
        for group in order:
            per_run = [
                r["return"].to_numpy(dtype=float)
                for _, r in rows.loc[rows["group"] == group].groupby(unit, sort=True)
            ]
            # (n_seeds, n_alphas): the per-seed CVaR is the unit, as in the benchmark's tables.
            curves = np.array([[float(cvar(r, a)) for a in CVAR_GRID] for r in per_run])
            stats = [_mean_half_width(curves[:, j]) for j in range(CVAR_GRID.size)]
            mean = np.array([s[0] for s in stats])
            half = np.array([s[1] for s in stats])
            colour = palette[group]
            ax.plot(CVAR_GRID, mean, color=colour, label=f"{group} (n={len(per_run)})", linewidth=1.4)
            if len(per_run) >= 2:
                ax.fill_between(CVAR_GRID, mean - half, mean + half, color=colour, alpha=0.2, linewidth=0)
        ax.set_xlabel("alpha (fraction of worst episodes averaged)")
        ax.set_ylabel("CVaR_alpha of episode return")
        ax.set_xlim(0.0, 1.0)
        ax.set_title(f"{task}: CVaR against its level alpha")
        _legend(ax, len(order))
    return Figure(
        file,
        f"{task}: CVaR against its level alpha",
        "CVaR_alpha (mean of the worst alpha-fraction of a seed's episode returns) against alpha, averaged "
        "over seeds (n in the legend); bands are 95% t-intervals across seeds (the tables' CVaR columns show the hull with a two-level bootstrap), drawn for groups "
        "with two or more seeds, and alpha = 1 is the mean return.",
        task,
    )


def _frontier_alpha(per_seed: pd.DataFrame, alphas: Sequence[float]) -> float | None:
    present = [float(a) for a in alphas if f"cvar_{float(a):g}" in per_seed.columns]
    if not present:
        return None
    return min(present, key=lambda a: (abs(a - FRONTIER_ALPHA), a))


def _frontier(
    cv: _Canvas, task: str, per_seed: pd.DataFrame, alphas: Sequence[float], palette: Palette
) -> Figure | None:
    if not _has(per_seed, ["mean_return"]):
        return None
    alpha = _frontier_alpha(per_seed, alphas)
    if alpha is None:
        return None
    column = f"cvar_{alpha:g}"
    rows = _with_group(per_seed, task, ["mean_return", column])
    if rows is None:
        return None
    order = _group_order(rows)
    points = _frontier_points(rows, order, column)
    if not points:
        return None
    file = f"{_slug(task)}-frontier.png"
    with cv.figure(file) as (_, axes):
        ax = axes[0, 0]
        _draw_frontier(ax, rows, order, points, palette)
        ax.set_xlabel("mean episode return")
        ax.set_ylabel(f"CVaR_{alpha:g} of episode return")
        ax.set_title(f"{task}: risk-return frontier")
        _legend(ax, len(points))
    return Figure(
        file,
        f"{task}: risk-return frontier",
        f"Mean return against CVaR_{alpha:g}, one point per method and risk setting (mean over seeds) with "
        "error bars of 95% t-intervals across seeds (the tables' CVaR columns show the hull with a two-level bootstrap); dashed lines join one trained model's risk "
        "settings (neutral, then CVaR from mild to strict, then risk-seeking), and up-right is better.",
        task,
    )


def _frontier_points(
    rows: pd.DataFrame, order: list[str], column: str
) -> dict[str, tuple[float, float, float, float]]:
    """Per group: mean return, mean ``column`` and their 95% t half-widths across seeds (finite means only)."""
    points = {}
    for group in order:
        sel = rows.loc[rows["group"] == group]
        x, xh = _mean_half_width(sel["mean_return"].to_numpy(dtype=float))
        y, yh = _mean_half_width(sel[column].to_numpy(dtype=float))
        if np.isfinite(x) and np.isfinite(y):
            points[group] = (x, y, xh, yh)
    return points


def _draw_frontier(
    ax: Any,
    rows: pd.DataFrame,
    order: list[str],
    points: dict[str, tuple[float, float, float, float]],
    palette: Palette,
) -> None:
    # The line shows how one trained model trades mean for tail as its risk setting changes.
    pairs = rows[["method", "risk", "group"]].drop_duplicates()
    for _, sel in pairs.groupby("method", sort=True):
        path = [g for g in order if g in set(sel["group"]) and g in points]
        if len(path) >= 2:
            ax.plot(
                [points[g][0] for g in path],
                [points[g][1] for g in path],
                color="0.55",
                linewidth=0.9,
                linestyle="--",
                zorder=1,
            )
    risk_of = dict(zip(pairs["group"], pairs["risk"], strict=True))
    for group in order:
        if group not in points:
            continue
        x, y, xh, yh = points[group]
        ax.errorbar(
            x,
            y,
            xerr=None if math.isnan(xh) else xh,
            yerr=None if math.isnan(yh) else yh,
            fmt="o",
            markersize=5,
            capsize=3,
            color=palette[group],
            label=group,
            zorder=2,
        )
        ax.annotate(risk_of[group], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)


def _violations(cv: _Canvas, task: str, episodes: pd.DataFrame, palette: Palette) -> Figure | None:
    rows = _with_group(episodes, task, ["violation_steps", "length"])
    if rows is None:
        return None
    order = _group_order(rows)
    stats: dict[str, tuple[Any, Any]] = {}
    for group in order:
        sel = rows.loc[rows["group"] == group]
        v = sel["violation_steps"].to_numpy(dtype=float)
        n = sel["length"].to_numpy(dtype=float)
        ok = np.isfinite(v) & np.isfinite(n)
        v, n = v[ok], n[ok]
        steps = int(n.sum())
        if steps <= 0:
            continue
        # min(): a corrupt row with more violating steps than steps must not abort the whole report.
        k_steps = min(int(v.sum()), steps)
        k_eps = int((v > 0).sum())
        stats[group] = (wilson_interval(k_steps, steps), wilson_interval(k_eps, int(v.size)))
    if not stats:
        return None
    shown = [g for g in order if g in stats]
    file = f"{_slug(task)}-violations.png"
    height = min(max(2.4, 0.35 * len(shown) + 1.2), 4.8)
    with cv.figure(file, ncols=2, size=(SIZE[0], height), sharey=True) as (fig, axes):
        ypos = np.arange(len(shown))[::-1]  # first group at the top
        colours = [palette[g] for g in shown]
        for j, (ax, label) in enumerate(
            zip(axes[0], ["steps in violation", "episodes with a violation"], strict=True)
        ):
            est = np.array([stats[g][j].estimate for g in shown])
            low = np.array([stats[g][j].low for g in shown])
            high = np.array([stats[g][j].high for g in shown])
            ax.barh(ypos, est, color=colours, height=0.6, alpha=0.85)
            # Clipped: at k = 0 rounding can put the Wilson low bound a hair above the estimate.
            ax.errorbar(
                est,
                ypos,
                xerr=np.clip([est - low, high - est], 0.0, None),
                fmt="none",
                ecolor="0.2",
                capsize=3,
                linewidth=1,
            )
            ax.set_xlabel(f"fraction of {label.split()[0]}")
            ax.set_title(label)
            ax.set_xlim(0.0, max(float(high.max()) * 1.1, 0.01))
        axes[0, 0].set_yticks(ypos, shown)
        fig.suptitle(f"{task}: safety violations", fontsize=9)
    return Figure(
        file,
        f"{task}: safety violations",
        "Left: fraction of environment steps in violation (violating steps / steps, pooled over a group's "
        "episodes and seeds); right: fraction of episodes with at least one violation; error bars are Wilson "
        "95% intervals that treat steps (left) or episodes (right) as independent.",
        task,
    )


def _curves(cv: _Canvas, task: str, curves: pd.DataFrame, method_palette: Palette) -> Figure | None:
    if not _has(curves, ["task", "method", "step", "name", "value"]):
        return None
    rows = curves.loc[curves["task"] == task].copy()
    rows = rows.loc[np.isfinite(pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float))]
    if rows.empty:
        return None
    rows["method"] = rows["method"].astype(str)
    rows["name"] = rows["name"].astype(str)
    rows["value"] = rows["value"].astype(float)
    unit = _unit(rows) if {"trial", "seed"} & set(rows.columns) else None
    all_names = sorted(rows["name"].unique())
    names = all_names[:MAX_LOSS_PANELS]
    methods = sorted(rows["method"].unique())
    ncols = 1 if len(names) == 1 else 2
    nrows = 1 if len(names) <= 2 else 2
    file = f"{_slug(task)}-curves.png"
    with cv.figure(file, nrows=nrows, ncols=ncols) as (fig, axes):
        flat = list(axes.ravel())
        for ax in flat[len(names) :]:
            ax.set_visible(False)
        for ax, name in zip(flat, names, strict=False):
            for method in methods:
                sel = rows.loc[(rows["method"] == method) & (rows["name"] == name)]
                if sel.empty:
                    continue
                # One value per (run, step): the same trial's curve may appear once per risk setting.
                keys = [unit, "step"] if unit else ["step"]
                per_run = sel.groupby(keys, sort=True)["value"].mean().reset_index()
                agg = per_run.groupby("step", sort=True)["value"].agg(["mean", "min", "max"])
                steps = agg.index.to_numpy(dtype=float)
                colour = method_palette.get(method, (0.3, 0.3, 0.3))
                ax.plot(steps, agg["mean"], color=colour, label=method, linewidth=1.2)
                ax.fill_between(steps, agg["min"], agg["max"], color=colour, alpha=0.2, linewidth=0)
            ax.set_title(name)
            ax.set_xlabel("training step")
        _legend(flat[0], len(methods))
        fig.suptitle(f"{task}: training curves", fontsize=9)
    hidden = all_names[MAX_LOSS_PANELS:]
    extra = (
        f" (the first {MAX_LOSS_PANELS} in sorted order; not shown: {', '.join(hidden)})" if hidden else ""
    )
    return Figure(
        file,
        f"{task}: training curves",
        f"Training losses per method against the training step, one panel per loss name{extra}: lines are "
        "the mean over seeds, bands the range min..max over seeds.",
        task,
    )


def _calibration(cv: _Canvas, task: str, calibration: pd.DataFrame, palette: Palette) -> Figure | None:
    rows = _with_group(calibration, task, ["tau", "predicted", "realised"])
    if rows is None:
        return None
    rows = rows.astype({"tau": float, "predicted": float, "realised": float})
    rows = rows.loc[np.isfinite(rows["predicted"]) & np.isfinite(rows["realised"])]
    if rows.empty:
        return None
    order = _group_order(rows)
    file = f"{_slug(task)}-calibration.png"
    with cv.figure(file) as (_, axes):
        ax = axes[0, 0]
        for group in order:
            means = (
                rows.loc[rows["group"] == group].groupby("tau", sort=True)[["predicted", "realised"]].mean()
            )
            ax.plot(
                means["predicted"],
                means["realised"],
                marker="o",
                markersize=3,
                linewidth=1.2,
                color=palette.get(group, (0.3, 0.3, 0.3)),
                label=group,
            )
        lo = float(min(rows["predicted"].min(), rows["realised"].min()))
        hi = float(max(rows["predicted"].max(), rows["realised"].max()))
        ax.plot([lo, hi], [lo, hi], color="0.2", linestyle="--", linewidth=0.8, label="y = x")
        ax.set_xlabel("predicted return quantile (critic, start states)")
        ax.set_ylabel("realised return quantile (episodes)")
        ax.set_title(f"{task}: return-quantile calibration")
        _legend(ax, len(order) + 1)
    return Figure(
        file,
        f"{task}: return-quantile calibration",
        "Critic's predicted return quantiles at the evaluation start states against the realised quantiles "
        "of the episode returns at the same levels tau (one point per tau, mean over seeds); a calibrated "
        "critic lies on the dashed diagonal and points below it are over-optimistic.",
        task,
    )


# -------------------------------------------------------------------------------------------------- entry


def _tasks(*frames: pd.DataFrame | None) -> list[str]:
    tasks: set[str] = set()
    for frame in frames:
        if _has(frame, ["task"]):
            assert frame is not None
            tasks.update(str(t) for t in frame["task"].dropna().unique())
    return sorted(tasks)


def render_figures(
    per_seed: pd.DataFrame,
    episodes: pd.DataFrame,
    curves: pd.DataFrame,
    calibration: pd.DataFrame,
    alphas: Sequence[float],
    out_dir: Path,
) -> list[Figure]:
    """Write the report's PNG figures into ``out_dir`` (created if missing) and describe them.

    per_seed: one row per (trial, risk setting): ``trial, method, algo, task, sweep, risk, seed, episodes,
        mean_return, violation_rate, episode_violation_rate`` and ``cvar_<alpha:g>`` for each of ``alphas``.
    episodes: one row per evaluation episode: ``trial, method, algo, task, env, dataset, seed, sweep, risk,
        episode, episode_seed, return, length, violation_steps, penalty_events, terminated, truncated``.
    curves: training curves in long format: ``trial, method, algo, task, env, dataset, seed, sweep, step,
        wall_time, name, value``.
    calibration: ``trial, method, task, seed, sweep, risk, tau, predicted, realised`` for methods whose
        critic predicts return quantiles; may be empty.
    alphas: the CVaR levels present as ``cvar_<alpha>`` columns of ``per_seed``.

    For each task, in sorted order: ``<task>-ecdf.png``, ``-violins.png``, ``-cvar-alpha.png``,
    ``-frontier.png``, ``-violations.png``, ``-curves.png`` and ``-calibration.png``; a figure whose data
    (or a column it needs) is missing is skipped. Returns the figures written, in that order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = [per_seed, episodes, curves, calibration]
    per_seed, episodes, curves, calibration = (f if f is not None else pd.DataFrame() for f in frames)
    tasks = _tasks(per_seed, episodes, curves, calibration)
    if not tasks:
        return []
    canvas = _Canvas(out_dir)
    palette, method_palette = _palettes(per_seed, episodes, calibration, curves)
    figures: list[Figure] = []
    for task in tasks:
        made = [
            _ecdf(canvas, task, episodes, palette),
            _violins(canvas, task, episodes, palette),
            _cvar_alpha(canvas, task, episodes, palette),
            _frontier(canvas, task, per_seed, alphas, palette),
            _violations(canvas, task, episodes, palette),
            _curves(canvas, task, curves, method_palette),
            _calibration(canvas, task, calibration, palette),
        ]
        figures.extend(f for f in made if f is not None)
    return figures
