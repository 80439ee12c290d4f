"""``rsbench history``: many nights of one suite -> trends, change points and the commits that bracket them.

A *night* is one run of the suite (ordered by the manifest's start time). Per (task, method, risk setting,
sweep point, metric) its *series* is the per-seed table of every night (:func:`rsbench.results.tables.per_seed`),
shown as the mean over seeds with its 95% t-interval (:func:`rsbench.report.leaderboard.cell`), each night's
verdict against the pinned baseline (:func:`rsbench.report.regress.regress`) and the night's commit. Change points
come from :mod:`rsbench.eval.changepoint` (one Benjamini-Hochberg family over every series of the history).

Breaks. Nights compare only under one suite hash, evaluation protocol (``eval_protocol``; a manifest without it
is protocol 1) and risk spec version: where any of them changes a new series starts, no change point is
looked for across it, and the page says so. A night with failed or missing trials stays in its series with
the seeds it has (the page names it; a group without any seed that night is a gap); a missing night (a gap in
the nightly cadence) is named too. Neither splits a series: a commit that both breaks some trials and lowers
the others must still show up as a change.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsbench.errors import UserError
from rsbench.eval import changepoint as cp
from rsbench.eval.metrics import metric_info, metric_label
from rsbench.eval.stats import benjamini_hochberg
from rsbench.report.leaderboard import Cell, cell
from rsbench.report.regress import (
    default_metrics,
    exit_code,
    load_baseline,
    markdown,
    regress,
    regress_against,
)
from rsbench.results.fs import Location, locate
from rsbench.results.protocol import difference, protocol_of
from rsbench.results.store import Run, RunStore, load_run
from rsbench.results.tables import group_label, per_seed

GROUP_KEYS = ["task", "method", "risk", "sweep"]


@dataclass
class Night:
    """One run of the suite: its per-seed table, the series it belongs to, its verdicts and notes."""

    run: Run
    table: pd.DataFrame  # per_seed() of its episodes; empty when no trial evaluated
    series: int = 0  # which comparable stretch of nights (suite hash, protocol, risk spec) it is in
    verdicts: dict[tuple[str, str, str, str, str], str] = field(default_factory=dict)  # GROUP_KEYS + metric
    verdict_note: str = ""  # why there are no verdicts (no baseline, a protocol the baseline does not share)
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[Any, ...]:
        """What must stay the same for nights to compare: the suite hash and the protocol keys."""
        return (self.run.manifest.get("suite_hash"), *protocol_of(self.run.suite, self.run.manifest).items())

    @property
    def protocol(self) -> int:
        return int(protocol_of(self.run.suite, self.run.manifest)["eval_protocol"])

    @property
    def started(self) -> str:
        return str(self.run.manifest.get("started") or "")

    @property
    def commit(self) -> str:
        git = self.run.manifest.get("git") or {}
        short = str(git.get("commit") or "unknown")[:10]
        return f"{short} (dirty)" if git.get("dirty") else short

    def counts(self) -> dict[str, int]:
        """Trials by status: the manifest's counts when the run finished, else from the trial records."""
        counts = self.run.manifest.get("counts")
        if isinstance(counts, dict):
            return {k: int(v) for k, v in counts.items()}
        status = self.run.trials["status"].astype(str) if not self.run.trials.empty else pd.Series(dtype=str)
        return {"trials": len(status), "finished": int((status == "finished").sum()),
                "failed": int((status == "failed").sum()), "missing": 0}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"run": self.run.run_id, "uri": self.run.uri, "started": self.started, "commit": self.commit}


@dataclass
class Series:
    """One (task, method, risk, sweep, metric) over the nights of one comparable stretch.

    ``values``: ``(len(nights), len(seeds))`` per-seed values, NaN where a seed has none that night."""

    series: int
    task: str
    method: str
    risk: str
    sweep: str | None
    metric: str
    nights: list[int]  # indices into History.nights
    seeds: list[int]
    values: np.ndarray
    changes: list[cp.ChangePoint] = field(default_factory=list)

    @property
    def group(self) -> str:
        return group_label(self.method, self.risk, self.sweep)

    def point(self, i: int) -> Cell:
        """Mean over the seeds of the ``i``-th night with its 95% t-interval."""
        x = self.values[i]
        return cell(x[np.isfinite(x)], metric_info(self.metric).bounds)


@dataclass
class History:
    suite: str
    nights: list[Night]
    series: list[Series]
    metrics: list[str]
    notes: list[str]
    baseline: str | None
    alpha: float
    n_perm: int
    seed: int

    def changes(self) -> list[dict[str, Any]]:
        """Every change point, newest first: the nights that bracket it, their commits, the shift."""
        out = [_change(self, s, c) for s in self.series for c in s.changes]
        return sorted(out, key=lambda c: (c["first_after"]["index"], c["task"], c["group"]), reverse=True)

    def change_in_newest_night(self) -> bool:
        newest = len(self.nights) - 1
        return any(s.nights[c.index] == newest for s in self.series for c in s.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "nights": [_night_dict(self, i) for i in range(len(self.nights))],
            "changes": self.changes(),
            "change_in_newest_night": self.change_in_newest_night(),
            "series": [_series_dict(self, s) for s in self.series],
            "notes": self.notes,
            "baseline": self.baseline,
            "detector": {
                "method": DETECTOR,
                "alpha": self.alpha,
                "permutations": self.n_perm,
                "seed": self.seed,
            },
        }


DETECTOR = (
    "binary segmentation with a standardised mean-shift scan over per-seed values; permutation null "
    "(each seed's nights permuted independently); Benjamini-Hochberg over every series of the history"
)


# ------------------------------------------------------------------------------------------------ loading


def _runs_at(where: str) -> list[Location]:
    """A run directory itself, or every run directly inside a directory (entries without a manifest are
    not runs: datasets, READMEs)."""
    loc = locate(where)
    if (loc / "manifest.json").exists():
        return [loc]
    if not loc.is_dir():
        raise UserError("expected a run directory or a directory of runs", source=where, key="RUN_OR_DIR")
    found = [c for c in loc.children() if (c / "manifest.json").exists()]
    if not found:
        raise UserError("no runs in this directory (no */manifest.json)", source=where, key="RUN_OR_DIR")
    return found


def load_nights(paths: Sequence[str], suite: str | None = None) -> tuple[list[Run], list[str]]:
    """The runs of one suite under ``paths``, ordered by start time, and notes on runs left out.

    A run that cannot be read is left out with a note (one broken night must not hide the history); runs of
    several suites without ``suite`` naming one is a usage error."""
    locations = {loc.uri: loc for p in paths for loc in _runs_at(p)}
    runs, notes = [], []
    for uri, loc in locations.items():
        try:
            runs.append(load_run(loc))
        except UserError as exc:
            notes.append(f"left out {uri}: {exc}")
    names = sorted({str(r.manifest.get("suite")) for r in runs})
    if suite is None and len(names) > 1:
        raise UserError(f"runs of several suites ({', '.join(names)}): pick one with --suite", key="--suite")
    if suite is not None:
        runs = [r for r in runs if r.manifest.get("suite") == suite]
        if not runs:
            raise UserError(
                f"no runs of suite {suite!r} (found: {', '.join(names) or 'none'})", key="--suite"
            )
    if not runs:
        raise UserError("no readable runs", key="RUN_OR_DIR")
    runs.sort(key=lambda r: (str(r.manifest.get("started") or ""), r.run_id))
    return runs, notes


def _table(run: Run) -> pd.DataFrame:
    if run.episodes.empty:
        return pd.DataFrame(columns=[*GROUP_KEYS, "seed"])
    return per_seed(run.episodes, [float(a) for a in run.suite["eval"]["alphas"]])


def _assign_series(nights: list[Night]) -> list[str]:
    """Number the comparable stretches; a note wherever one starts after the first, naming what changed."""
    notes = []
    for prev, night in itertools.pairwise(nights):
        night.series = prev.series + (night.key != prev.key)
        if night.key == prev.key:
            continue
        a, b = prev.run.manifest.get("suite_hash"), night.run.manifest.get("suite_hash")
        found = difference(prev.run.suite, prev.run.manifest, night.run.suite, night.run.manifest)
        why = found.describe(prev.run.run_id, night.run.run_id) if found else f"suite hash {a} -> {b}"
        notes.append(f"new series from {night.run.run_id} ({why}): no change point is looked for across it")
    return notes


def _night_notes(nights: list[Night]) -> list[str]:
    """Incomplete runs and gaps in the nightly cadence."""
    notes = []
    for night in nights:
        c = night.counts()
        bad = {k: c.get(k, 0) for k in ("failed", "missing") if c.get(k, 0)}
        if "finished" not in night.run.manifest:
            night.notes.append("run not finished")
        if bad:
            night.notes.append(
                ", ".join(f"{v} {k}" for k, v in bad.items()) + f" of {c.get('trials', '?')} trials"
            )
        if night.table.empty:
            night.notes.append("no evaluated episodes")
        if night.notes:
            notes.append(
                f"{night.run.run_id}: {'; '.join(night.notes)} (its groups have fewer seeds or none)"
            )
    return notes + _gaps(nights)


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _gaps(nights: list[Night]) -> list[str]:
    """Missing nights: a gap between starts over 1.5x the usual (median) one."""
    times = [_time(n.started) for n in nights]
    if len(times) < 3 or any(t is None for t in times):
        return []
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]  # type: ignore[operator]
    usual = float(np.median(steps))
    if usual <= 0:
        return []
    notes = []
    for i, step in enumerate(steps):
        if step > 1.5 * usual:
            k = round(step / usual) - 1
            notes.append(
                f"{k} night(s) missing between {nights[i].run.run_id} and {nights[i + 1].run.run_id} "
                f"(usual gap {usual / 3600:.3g} h)"
            )
    return notes


# ------------------------------------------------------------------------------------------------ series


def _series_of(nights: list[Night], members: list[int], series: int, metrics: list[str]) -> list[Series]:
    """Every (group, metric) of one stretch of nights as a ``(nights, seeds)`` array."""
    tables = [nights[i].table.assign(night=k) for k, i in enumerate(members) if not nights[i].table.empty]
    if not tables:
        return []
    rows = pd.concat(tables, ignore_index=True)
    rows["sweep"] = rows["sweep"].astype(object).where(rows["sweep"].notna(), None)
    seeds = sorted(int(s) for s in rows["seed"].unique())
    column = {s: j for j, s in enumerate(seeds)}
    out = []
    for key, group in rows.groupby(GROUP_KEYS, sort=True, dropna=False):
        task, method, risk, sweep = (str(k) if k is not None else None for k in key)
        for metric in metrics:
            values = np.full((len(members), len(seeds)), np.nan)
            if metric in group:
                cols = [column[int(s)] for s in group["seed"]]
                values[group["night"].to_numpy(), cols] = group[metric].to_numpy(dtype=float)
            out.append(
                Series(series, str(task), str(method), str(risk), sweep, metric, members, seeds, values)
            )
    return out


def _verdicts(nights: list[Night], baseline: Path | None) -> None:
    """Each night's verdicts against the pinned baseline; a night the baseline cannot judge gets a note."""
    if baseline is None:
        for night in nights:
            night.verdict_note = "no baseline given"
        return
    base, meta = load_baseline(baseline)
    for night in nights:
        if night.table.empty:
            night.verdict_note = "nothing evaluated"
            continue
        try:
            rows = regress_against(night.run, base, meta, baseline)
        except UserError as exc:
            night.verdict_note = f"not compared: {exc.detail}"
            continue
        for r in rows:
            verdict = r.result.verdict.value if r.result else "MISSING"
            night.verdicts[(r.task, r.method, r.risk, str(r.sweep), r.metric)] = verdict


def build_history(
    paths: Sequence[str], *, suite: str | None = None, baseline: Path | None = None, alpha: float = 0.05,
    seed: int = 0, n_perm: int = cp.N_PERM,
) -> History:  # fmt: skip
    """Load the nights under ``paths`` (runs, or directories of runs), build every series, judge each night
    against ``baseline`` when given, and find the change points (``numpy.random.default_rng(seed)``)."""
    runs, notes = load_nights(paths, suite)
    nights = [Night(r, _table(r)) for r in runs]
    notes += _assign_series(nights) + _night_notes(nights)
    newest = runs[-1].suite
    metrics = default_metrics([float(a) for a in newest["eval"]["alphas"]])
    if baseline is not None:
        metrics = list(load_baseline(baseline)[1]["metrics"])
    _verdicts(nights, baseline)
    series: list[Series] = []
    for k in sorted({n.series for n in nights}):
        members = [i for i, n in enumerate(nights) if n.series == k]
        series += _series_of(nights, members, k, metrics)
    found = cp.detect_family(
        [s.values for s in series], rng=np.random.default_rng(seed), alpha=alpha, n_perm=n_perm
    )
    for s, changes in zip(series, found, strict=True):
        s.changes = changes
    notes += _night_effect_note(series, alpha)
    name = str(runs[-1].manifest.get("suite"))
    return History(
        name, nights, series, metrics, notes, str(baseline) if baseline else None, alpha, n_perm, seed
    )


def _night_effect_note(series: list[Series], alpha: float) -> list[str]:
    """The detector's model check (:func:`rsbench.eval.changepoint.night_effect`), BH over the series: a note
    naming the series whose nights move together beyond their seeds' noise."""
    p = [cp.night_effect(s.values, [c.index for c in s.changes]) for s in series]
    flagged = [s for s, q in zip(series, benjamini_hochberg(p), strict=True) if q <= alpha]
    if not flagged:
        return []
    names = ", ".join(f"{s.group} {metric_label(s.metric)} on {s.task}" for s in flagged[:4])
    more = f" and {len(flagged) - 4} more" if len(flagged) > 4 else ""
    return [
        f"whole nights move together beyond their seeds' noise in {len(flagged)} of {len(series)} series "
        f"({names}{more}; two-way ANOVA F-test, BH at {alpha:g}): the detector counts such a shared shift as a "
        "change, so compare those nights' manifests (versions, host) before blaming a commit"
    ]


# ----------------------------------------------------------------------------------------- JSON records


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _change(h: History, s: Series, c: cp.ChangePoint) -> dict[str, Any]:
    before, after = s.nights[c.index - 1], s.nights[c.index]
    better = (c.shift.estimate > 0) == metric_info(s.metric).higher_is_better
    return {
        "task": s.task,
        "method": s.method,
        "risk": s.risk,
        "sweep": s.sweep,
        "group": s.group,
        "metric": s.metric,
        "metric_label": metric_label(s.metric),
        "series": s.series,
        "last_before": {**h.nights[before].describe(), "index": before},
        "first_after": {**h.nights[after].describe(), "index": after},
        "shift": _num(c.shift.estimate),
        "shift_low": _num(c.shift.low),
        "shift_high": _num(c.shift.high),
        "shift_level": c.shift.level,
        "direction": "better" if better else "worse",
        "nights_before": c.before[1] - c.before[0],
        "nights_after": c.after[1] - c.after[0],
        "p": c.p_value,
        "level": c.level,
        "statistic": c.statistic,
        "newest_night": after == len(h.nights) - 1,
    }


def _night_dict(h: History, i: int) -> dict[str, Any]:
    night = h.nights[i]
    return {
        **night.describe(),
        "index": i,
        "series": night.series,
        "suite_hash": night.key[0],
        "eval_protocol": night.protocol,
        "counts": night.counts(),
        "notes": night.notes,
        "verdict_note": night.verdict_note,
    }


def _series_dict(h: History, s: Series) -> dict[str, Any]:
    points = []
    for k, i in enumerate(s.nights):
        c = s.point(k)
        verdict = h.nights[i].verdicts.get((s.task, s.method, s.risk, str(s.sweep), s.metric))
        points.append({"night": i, "run": h.nights[i].run.run_id, "mean": _num(c.mean), "low": _num(c.low),
                       "high": _num(c.high), "seeds": int(np.isfinite(s.values[k]).sum()), "verdict": verdict,
                       "note": c.note})  # fmt: skip
    return {"task": s.task, "method": s.method, "risk": s.risk, "sweep": s.sweep, "group": s.group,
            "metric": s.metric, "series": s.series, "points": points,
            "changes": [c["first_after"]["run"] for c in (_change(h, s, c) for c in s.changes)]}  # fmt: skip


# ---------------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class HistoryReport:
    index: Path
    markdown: Path
    json: Path
    figures: list[Path]


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _shift_text(c: dict[str, Any]) -> str:
    interval = f" [{_fmt(c['shift_low'])}, {_fmt(c['shift_high'])}]" if c["shift_low"] is not None else ""
    return f"{c['shift']:+.3g}{interval}"


def _night_label(n: dict[str, Any]) -> str:
    return f"{n['run']} ({n['commit']})"


def change_rows(h: History) -> list[dict[str, str]]:
    """The changes as table cells, newest first (shared by the HTML page and the Markdown)."""
    return [
        {"first_after": _night_label(c["first_after"]), "last_before": _night_label(c["last_before"]),
         "task": c["task"], "group": c["group"], "metric": c["metric_label"], "shift": _shift_text(c),
         "direction": c["direction"], "p": f"{c['p']:.2g}", "level": f"{c['level']:.2g}",
         "nights": f"{c['nights_before']} / {c['nights_after']}"}
        for c in h.changes()
    ]  # fmt: skip


def night_rows(h: History) -> list[dict[str, str]]:
    rows = []
    for i, night in enumerate(h.nights):
        c = night.counts()
        found = sorted({v for v in night.verdicts.values()})
        tally = ", ".join(f"{v}: {sum(1 for x in night.verdicts.values() if x == v)}" for v in found)
        rows.append({"index": str(i), "run": night.run.run_id, "started": night.started, "commit": night.commit,
                     "series": str(night.series), "protocol": str(night.protocol),
                     "trials": f"{c.get('finished', 0)} / {c.get('failed', 0)} / {c.get('missing', 0)}",
                     "verdicts": tally or night.verdict_note, "notes": "; ".join(night.notes)})  # fmt: skip
    return rows


def series_tables(h: History) -> list[dict[str, Any]]:
    """One table per (task, metric): a row per night, a column per group; a cell is the mean [95% CI] and
    the night's verdict, flagged where a change point puts the first night after a change."""
    out = []
    for task, metric in sorted({(s.task, s.metric) for s in h.series}):
        members = [s for s in h.series if s.task == task and s.metric == metric]
        groups = sorted({s.group for s in members})
        cells: dict[tuple[int, str], dict[str, str]] = {}
        for s in members:
            starts = {s.nights[c.index] for c in s.changes}
            for k, i in enumerate(s.nights):
                verdict = h.nights[i].verdicts.get((s.task, s.method, s.risk, str(s.sweep), s.metric), "")
                text = s.point(k).text(3 if "violation" in metric else 2)
                cells[(i, s.group)] = {
                    "text": text,
                    "verdict": verdict,
                    "change": "change" if i in starts else "",
                }
        rows = [
            {"night": h.nights[i].run.run_id, "commit": h.nights[i].commit,
             "cells": [cells.get((i, g), {"text": "-", "verdict": "", "change": ""}) for g in groups]}
            for i in range(len(h.nights))
        ]  # fmt: skip
        slug = f"{task}-{metric}".replace(":", "-").replace("/", "-")
        out.append({"task": task, "metric": metric, "label": metric_label(metric), "groups": groups,
                    "rows": rows, "id": f"series-{slug}", "figure": f"history-{slug}.png"})  # fmt: skip
    return out


def _title(h: History) -> str:
    first, last = h.nights[0].run.run_id, h.nights[-1].run.run_id
    return f"rsbench history: {h.suite}, {len(h.nights)} nights ({first} to {last})"


def method_text(h: History) -> str:
    return (
        f"Each point is the mean over training seeds with its 95% t-interval. Change points: {DETECTOR}, at "
        f"alpha = {h.alpha:g} ({h.n_perm} permutations at most, numpy Generator seed {h.seed}); a shift is the mean "
        "after minus the mean before (per seed, then a 95% t-interval over seeds), between the neighbouring "
        "change points or series ends. Verdicts: each night against the pinned baseline "
        f"({h.baseline or 'none given'}), as `rsbench regress` gives them."
    )


def _markdown(h: History) -> str:
    out = [f"# {_title(h)}", "", method_text(h), "", "## Changes", ""]
    changes = change_rows(h)
    if changes:
        out += ["| first night after | last night before | task | group | metric | shift [95% CI] | direction "
                "| p | kept at | nights before / after |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        out += [
            f"| {c['first_after']} | {c['last_before']} | {c['task']} | {c['group']} | {c['metric']} | "
            f"{c['shift']} | {c['direction']} | {c['p']} | {c['level']} | {c['nights']} |"
            for c in changes
        ]
    else:
        out.append("- none")
    if h.notes:
        out += ["", "## Notes", "", *(f"- {n}" for n in h.notes)]
    out += ["", "## Nights", "", "| # | run | started | commit | series | protocol | trials finished / failed / "
            "missing | verdicts | notes |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    out += [" | ".join(["", *r.values(), ""]).strip() for r in night_rows(h)]
    for table in series_tables(h):
        out += ["", f"## {table['task']}: {table['label']}", "", f"![{table['label']}](figures/{table['figure']})", "",
                "| night | commit | " + " | ".join(table["groups"]) + " |", "|---|---|" + "---|" * len(table["groups"])]  # fmt: skip
        for row in table["rows"]:
            cells = [f"{'**' if c['change'] else ''}{c['text']}{'**' if c['change'] else ''} {c['verdict']}".strip()
                     for c in row["cells"]]  # fmt: skip
            out.append(f"| {row['night']} | {row['commit']} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def render_history(h: History, out_dir: Path) -> HistoryReport:
    """Write ``index.html``, ``history.md``, ``history.json`` and ``figures/history-<task>-<metric>.png``."""
    import json

    import jinja2

    from rsbench.report.render import TEMPLATE

    out_dir.mkdir(parents=True, exist_ok=True)
    tables = series_tables(h)
    figures = _figures(h, tables, out_dir / "figures")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True)
    html = env.get_template("history.html.j2").render(
        title=_title(h), method=method_text(h), changes=change_rows(h), notes=h.notes, nights=night_rows(h),
        tables=tables, newest=h.change_in_newest_night(),
    )  # fmt: skip
    paths = out_dir / "index.html", out_dir / "history.md", out_dir / "history.json"
    texts = html, _markdown(h), json.dumps(h.to_dict(), indent=2, default=str)
    for path, text in zip(paths, texts, strict=True):
        locate(path).write_text(text)
    return HistoryReport(*paths, figures)


def _figures(h: History, tables: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per (task, metric): every group's nightly means with intervals, dashed lines at its change
    points, grey lines where a new series starts."""
    from rsbench.report.figures import _Canvas, _colours

    out_dir.mkdir(parents=True, exist_ok=True)
    canvas = _Canvas(out_dir)
    groups = sorted({s.group for s in h.series})
    palette = dict(zip(groups, _colours(len(groups)), strict=True))
    breaks = [i for i in range(1, len(h.nights)) if h.nights[i].series != h.nights[i - 1].series]
    written = []
    for table in tables:
        members = [s for s in h.series if s.task == table["task"] and s.metric == table["metric"]]
        width = min(max(6.4, 0.25 * len(h.nights)), 16.0)
        with canvas.figure(table["figure"], size=(width, 3.6)) as (_, axes):
            _draw_series(axes[0][0], h, members, palette, breaks)
            axes[0][0].set_title(f"{table['task']}: {table['label']} over nights")
            axes[0][0].set_ylabel(table["label"])
        written.append(out_dir / table["figure"])
    return written


def _draw_series(ax: Any, h: History, members: list[Series], palette: dict, breaks: list[int]) -> None:
    groups = sorted({s.group for s in members})
    labelled: set[str] = set()
    for s in members:
        offset = 0.08 * (groups.index(s.group) - (len(groups) - 1) / 2)
        points = [s.point(k) for k in range(len(s.nights))]
        mean = np.array([p.mean for p in points])
        low = np.array([p.low if p.low is not None else np.nan for p in points])
        high = np.array([p.high if p.high is not None else np.nan for p in points])
        x = np.asarray(s.nights, dtype=float) + offset
        colour = palette[s.group]
        ax.errorbar(x, mean, yerr=[np.nan_to_num(mean - low), np.nan_to_num(high - mean)], fmt="o-", ms=3, lw=1,
                    capsize=2, color=colour, label=None if s.group in labelled else s.group)  # fmt: skip
        labelled.add(s.group)
        for c in s.changes:
            ax.axvline(s.nights[c.index] - 0.5, color=colour, ls="--", lw=1.2)
    for i in breaks:
        ax.axvline(i - 0.5, color="0.35", lw=2)
        ax.annotate("new series", (i - 0.45, 1.0), xycoords=("data", "axes fraction"), va="top", fontsize=6)
    step = max(1, len(h.nights) // 20)
    ticks = list(range(0, len(h.nights), step))
    ax.set_xticks(ticks, [h.nights[i].started[5:10] or str(i) for i in ticks], rotation=45)
    ax.set_xlabel("night (start date)")
    ax.legend(loc="best", frameon=True, fontsize=6)


# ----------------------------------------------------------------------------------------- rolling baseline


def _passed(loc: Location, manifest: dict[str, Any]) -> bool:
    """A night that passed: it finished with every trial, and its own regression verdicts (``regression.json``
    beside it, when the nightly job judged it against a pinned baseline) hold no REGRESSION."""
    counts = manifest.get("counts") or {}
    if "finished" not in manifest or counts.get("failed", 1) or counts.get("missing", 1):
        return False
    verdicts = loc / "regression.json"
    if not verdicts.exists():
        return True
    import json

    try:
        rows = json.loads(verdicts.read_text())
    except ValueError:
        return False
    return not any(isinstance(r, dict) and r.get("verdict") == "REGRESSION" for r in rows)


def rolling_baseline(
    run: Run, history: str, last: int, pinned: Path | None = None
) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """A baseline from the ``last`` nights before ``run`` in ``history`` (a directory of runs) that passed
    (:func:`_passed`) under the same suite hash, evaluation protocol and risk spec version.

    Per seed, the mean of its values over those nights: the seed stays the unit (pooling the nights' values
    as if they were more seeds would count each seed's persistent offset several times). Margins come from the
    pinned baseline where it has the group, else :func:`rsbench.report.regress.default_margin`. Returns the
    per-seed table, a ``baseline.json``-like dict for :func:`rsbench.report.regress.regress_against`, and the
    run ids used."""
    from rsbench.report.regress import KEYS, default_margin

    if last < 1:
        raise UserError(f"expected a number of nights >= 1, got {last}", key="--last")
    chosen = _passing_nights(run, history)[-last:]
    if not chosen:
        raise NoRollingBaseline(
            f"no earlier night of suite {run.manifest.get('suite')!r} with the same suite hash and protocol "
            "passed (finished every trial, no REGRESSION) to build a rolling baseline from",
            source=history,
            key="--history",
        )
    runs = [load_run(loc) for loc in chosen]
    pinned_meta = load_baseline(pinned)[1] if pinned is not None else {}
    metrics = pinned_meta.get("metrics") or default_metrics([float(a) for a in run.suite["eval"]["alphas"]])
    tables = pd.concat([_table(r) for r in runs], ignore_index=True)
    table = tables.groupby([*KEYS, "seed"], sort=True, dropna=False)[metrics].mean().reset_index()
    margins: dict[str, dict[str, float]] = {}
    for metric in metrics:
        for group_key, rows in table.groupby(KEYS, dropna=False):
            name = "|".join(map(str, group_key))
            pinned_margin = (pinned_meta.get("margins") or {}).get(metric, {}).get(name)
            margins.setdefault(metric, {})[name] = (
                pinned_margin
                if pinned_margin is not None
                else default_margin(metric, rows[metric].to_numpy())
            )
    meta = {"suite": runs[-1].suite, "metrics": metrics, "margins": margins, "manifest": runs[-1].manifest,
            "nights": [r.run_id for r in runs]}  # fmt: skip
    return table, meta, [r.run_id for r in runs]


class NoRollingBaseline(UserError):
    """No earlier night passed: the rolling baseline cannot be built (yet)."""


def _passing_nights(run: Run, history: str) -> list[Location]:
    """Runs in ``history`` that started before ``run``, compare with it and passed, oldest first (manifests
    only: no parquet is read)."""
    started = str(run.manifest.get("started") or "")
    found = []
    for loc in _runs_at(history):
        info = _manifest(loc)
        same = info.get("suite_hash") == run.manifest.get("suite_hash") and protocol_of(
            RunStore(loc).read_suite_dict(), info
        ) == protocol_of(run.suite, run.manifest)
        earlier = str(info.get("started") or "") < started and loc.uri != run.uri
        if same and earlier and info.get("suite") == run.manifest.get("suite") and _passed(loc, info):
            found.append((str(info.get("started")), loc.name, loc))
    return [loc for *_, loc in sorted(found, key=lambda f: f[:2])]


def _manifest(loc: Location) -> dict[str, Any]:
    """A run's manifest alone (cheap: no parquet), or a one-line error naming it."""
    try:
        info = RunStore(loc).read_manifest()
    except ValueError as exc:
        raise UserError(f"unreadable manifest ({exc})", source=(loc / "manifest.json").uri) from None
    if not isinstance(info, dict):
        raise UserError("expected a JSON object", source=(loc / "manifest.json").uri)
    return info


def regress_rolling(
    run: Run, history: str, last: int, *, pinned: Path | None = None, alpha: float = 0.05
) -> tuple[list[Any], str]:
    """``run``'s verdicts against the rolling baseline of the ``last`` passing nights in ``history``
    (:func:`rolling_baseline`), and the baseline's name for the report."""
    table, meta, used = rolling_baseline(run, history, last, pinned)
    label = f"the rolling baseline of {len(used)} night(s) in {history} ({used[0]} to {used[-1]})"
    return regress_against(run, table, meta, Path(history), alpha=alpha), label


@dataclass(frozen=True)
class Verdicts:
    """One baseline's verdicts on a night, as written: ``NAME.md`` and ``NAME.json`` in the output directory."""

    name: str  # "regression" (the pinned baseline) or "regression-rolling"
    baseline: str  # the baseline's name in the report
    rows: list[Any]
    markdown: str
    written: str  # where NAME.md was written

    @property
    def exit_code(self) -> int:
        return int(exit_code(self.rows))

    def to_dict(self) -> dict[str, Any]:
        verdicts = [r.to_dict() for r in self.rows]
        return {
            "name": self.name,
            "baseline": self.baseline,
            "verdicts": verdicts,
            "markdown": self.written,
            "exit_code": self.exit_code,
        }


def nightly_verdicts(
    run: Run,
    out: Location,
    *,
    baseline: Path | None = None,
    history: str | None = None,
    last: int = 7,
    alpha: float = 0.05,
    note: Callable[[str], None] = print,
) -> list[Verdicts]:
    """``run``'s verdicts against the pinned ``baseline`` and/or the rolling baseline of ``history``, each
    written to ``out`` (atomically) as NAME.md and NAME.json. With both given and no rolling baseline yet
    (too few passing nights), ``note`` says so and the pinned one alone judges the night."""
    if baseline is None and history is None:
        raise ValueError("nightly_verdicts needs a pinned baseline, a history or both")
    tables = []
    if baseline is not None:
        tables.append(("regression", regress(run, baseline, alpha=alpha), str(baseline)))
    if history is not None:
        try:
            rows, label = regress_rolling(run, history, last, pinned=baseline, alpha=alpha)
            tables.append(("regression-rolling", rows, label))
        except NoRollingBaseline as exc:
            if baseline is None:
                raise
            note(f"note: no rolling baseline yet ({exc.detail}); the pinned one alone judges this night")
    judged = []
    for name, rows, label in tables:
        text = markdown(rows, run, label)
        (out / f"{name}.md").write_text(text)
        (out / f"{name}.json").write_text(json.dumps([r.to_dict() for r in rows], indent=2, default=str))
        judged.append(Verdicts(name, label, rows, text, (out / f"{name}.md").uri))
    return judged
