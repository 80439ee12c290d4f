"""Nightly regression against a pinned baseline: ``rsbench baseline pin`` and ``rsbench regress``.

A baseline directory (``baselines/<suite>/``, laid out in :mod:`rsbench.results.pins`) holds the per-seed
metrics of the pinned runs (``per_seed.csv``, diff-friendly in git) and ``baseline.json``: their provenance
manifests, the suite and protocol, and the margins (the largest acceptable drop per metric); the run must
have the baseline's protocol (:func:`rsbench.results.protocol.difference`). ``regress`` compares it per
(method, risk, task, metric): REGRESSION / OK / INCONCLUSIVE (``rsbench.eval.regression``), with
Benjamini-Hochberg over the whole family of comparisons deciding the REGRESSION verdicts and the minimum
detectable effect stated at that family's level. Non-finite per-seed values (a NaN episode return) are
dropped from the test and named in the row's reason; margins may be edited in ``baseline.json`` (>= 0).

What the comparison includes (protocol 2, docs/design.md §6): each training seed of the run and of the
baseline is evaluated on its own episode set (eval.seed, task, seed), so the per-seed values, and the Welch
test over them, carry episode-sampling noise as well as training noise; seed s of the run meets the same
episodes as seed s of the baseline. A run and a baseline of different ``eval_protocol`` are refused (exit 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsbench.errors import ExitCode, UserError
from rsbench.eval.metrics import metric_info, metric_label
from rsbench.eval.regression import RegressionResult, Verdict, adjust_family, regression_verdict
from rsbench.results.protocol import difference
from rsbench.results.store import Run
from rsbench.results.tables import cvar_column, per_seed

KEYS = ["method", "task", "risk", "sweep"]


def default_metrics(alphas: list[float]) -> list[str]:
    return ["mean_return", cvar_column(min(alphas, key=lambda a: abs(a - 0.1))), "violation_rate"]


def default_margin(metric: str, baseline: np.ndarray) -> float:
    """Largest acceptable drop: 10% of the baseline's magnitude for returns and CVaRs (at least 0.1), 0.05 for
    violation rates (absolute, they live in [0, 1])."""
    if "violation" in metric:
        return 0.05
    finite = baseline[np.isfinite(baseline)]
    return max(0.1 * float(abs(finite.mean())), 0.1) if finite.size else 0.1


def pin(run: Run, to: Path) -> Path:
    """Pin ``run``'s finished trials into the baseline at ``to`` (:mod:`rsbench.results.pins`): a new pin, or a
    chunk added to one of the same suite and protocol (re-run trials replace their pinned ones). Margins of
    groups already pinned (which may have been edited) are kept; new groups get :func:`default_margin`.
    Returns ``baseline.json``."""
    from rsbench.results import pins

    alphas = [float(a) for a in run.suite["eval"]["alphas"]]
    with pins.locked(to):
        existing = pins.read_pin(to) if pins.is_pin(to) else None
        merged = pins.add_chunk(existing, run, to)
        table = per_seed(merged.episodes, alphas)
        metrics = merged.meta.get("metrics") or default_metrics(alphas)
        margins: dict[str, dict[str, float]] = {
            m: dict(v) for m, v in (merged.meta.get("margins") or {}).items()
        }
        for m in metrics:
            for key, rows in table.groupby(KEYS):
                margins.setdefault(m, {}).setdefault(
                    "|".join(map(str, key)), default_margin(m, rows[m].to_numpy())
                )
        merged.meta.update(metrics=metrics, margins=margins)
        return pins.write_pin(merged, to, table)


@dataclass(frozen=True)
class Row:
    method: str
    task: str
    risk: str
    metric: str
    result: RegressionResult | None  # None: the baseline has it, the run does not
    baseline_mean: float
    candidate_mean: float | None
    dropped: tuple[str, ...] = ()  # "baseline seed 2 (nan)": non-finite values left out of the test
    sweep: str | None = None  # the sweep point (JSON text), as in the per-seed table

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "method": self.method,
            "task": self.task,
            "risk": self.risk,
            "metric": self.metric,
            "sweep": self.sweep,
            "verdict": r.verdict.value if r else "MISSING",
            "baseline_mean": self.baseline_mean,
            "candidate_mean": self.candidate_mean,
            "effect": r.effect if r else None,
            "ci_low": r.ci.low if r else None,
            "ci_high": r.ci.high if r else None,
            "p": r.p_value if r else None,
            "p_bh": r.p_adjusted if r else None,
            "margin": r.margin if r else None,
            "mde": r.mde if r else None,
            "seeds": [r.n_baseline, r.n_candidate] if r else None,
            "reason": self.reason,
            "dropped": list(self.dropped),
        }

    @property
    def reason(self) -> str:
        text = self.result.reason if self.result else "not in this run"
        return f"{text}; dropped non-finite: {', '.join(self.dropped)}" if self.dropped else text


def load_baseline(where: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    meta_path, table_path = where / "baseline.json", where / "per_seed.csv"
    if not meta_path.is_file() or not table_path.is_file():
        raise UserError(
            "not a baseline (expected baseline.json and per_seed.csv; pin one with `rsbench baseline pin`)",
            source=where,
            key="--baseline",
        )
    try:
        table = pd.read_csv(table_path, dtype={"sweep": str, "risk": str, "method": str, "task": str})
        meta = json.loads(meta_path.read_text())
    except (ValueError, pd.errors.ParserError) as exc:  # JSONDecodeError is a ValueError
        source = meta_path if isinstance(exc, json.JSONDecodeError) else table_path
        raise UserError(f"unreadable ({str(exc).splitlines()[0]})", source=source) from None
    _check_baseline(table, meta, where)
    return table, meta


def _check_baseline(table: pd.DataFrame, meta: dict[str, Any], where: Path) -> None:
    """What regress reads from a (possibly hand-edited) baseline, checked up front: one line, exit 2."""
    suite = meta.get("suite") if isinstance(meta, dict) else None
    if not (isinstance(suite, dict) and isinstance(suite.get("eval"), dict)):
        raise UserError(
            "expected the pinned suite's eval block", source=where / "baseline.json", key="suite.eval"
        )
    metrics = meta.get("metrics")
    if not (isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics)):
        raise UserError(
            "expected a non-empty list of metric names", source=where / "baseline.json", key="metrics"
        )
    missing = [c for c in [*KEYS, "seed", *metrics] if c not in table.columns]
    if missing:
        raise UserError(f"missing column(s) {', '.join(missing)}", source=where / "per_seed.csv")


def _margin(meta: dict[str, Any], metric: str, key: str, source: Path) -> float:
    """The margin for (metric, group key) from ``baseline.json``: a finite number >= 0 (0: any drop counts)."""
    value = (meta.get("margins") or {}).get(metric, {}).get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value >= 0)
    ):
        raise UserError(
            f"expected a finite number >= 0 (the largest acceptable drop), got {value!r}",
            source=source,
            key=f"margins.{metric}.{key}",
        )
    return float(value)


def _finite(rows: pd.DataFrame, metric: str, side: str) -> tuple[np.ndarray, list[str]]:
    """Per-seed values of ``metric`` (seed order) without non-finite ones, and the dropped ones by name."""
    rows = rows.sort_values("seed")
    x = rows[metric].to_numpy(dtype=float)
    ok = np.isfinite(x)
    label = rows["trial"].astype(str) if "trial" in rows else "seed " + rows["seed"].astype(str)
    return x[ok], [f"{side} {name} ({v})" for name, v in zip(label[~ok], x[~ok], strict=True)]


def regress(run: Run, baseline_dir: Path, *, alpha: float = 0.05) -> list[Row]:
    """Verdicts of ``run`` against the baseline, one row per (method, task, risk, metric) of the baseline."""
    base, meta = load_baseline(baseline_dir)
    return regress_against(run, base, meta, baseline_dir, alpha=alpha)


def regress_against(
    run: Run, base: pd.DataFrame, meta: dict[str, Any], baseline_dir: Path, *, alpha: float = 0.05
) -> list[Row]:
    """:func:`regress` on a baseline already in memory: ``base`` is its per-seed table, ``meta`` its
    ``baseline.json`` (``suite``, ``manifest``, ``metrics``, ``margins``), ``baseline_dir`` names it in errors
    (a rolling baseline of recent nights is built this way, see :mod:`rsbench.report.history`)."""
    found = difference(run.suite, run.manifest, meta["suite"], meta.get("manifest") or {})
    if found is not None:
        raise UserError(
            f"run and baseline evaluate differently: {found.describe(run.run_id, 'the baseline')}",
            source=baseline_dir,
            key=found.key,
        )
    alphas = [float(a) for a in run.suite["eval"]["alphas"]]
    cand = per_seed(run.episodes, alphas) if not run.episodes.empty else pd.DataFrame(columns=[*KEYS, "seed"])
    results: list[tuple[tuple, str, RegressionResult | None, float, float | None, list[str]]] = []
    for key, rows in base.groupby(KEYS, sort=True):
        method, task, risk, sweep = key
        mine = cand[
            (cand["method"] == method)
            & (cand["task"] == task)
            & (cand["risk"] == risk)
            & (cand["sweep"] == sweep)
        ]
        for metric in meta["metrics"]:
            b, dropped = _finite(rows, metric, "baseline")
            margin = _margin(meta, metric, "|".join(map(str, key)), baseline_dir / "baseline.json")
            bmean = float(b.mean()) if b.size else math.nan
            if mine.empty:
                results.append((key, metric, None, bmean, None, dropped))
                continue
            c, dropped_c = _finite(mine, metric, "run")
            info = metric_info(metric)
            r = regression_verdict(
                b, c, margin=margin, higher_is_better=info.higher_is_better, alpha=alpha, bounds=info.bounds
            )
            cmean = float(c.mean()) if c.size else math.nan
            results.append((key, metric, r, bmean, cmean, dropped + dropped_c))
    adjusted = iter(adjust_family([r for _, _, r, *_ in results if r is not None], "bh"))
    return [
        Row(key[0], key[1], key[2], metric, next(adjusted) if r is not None else None, bmean, cmean, tuple(d),
            sweep=key[3])
        for key, metric, r, bmean, cmean, d in results
    ]  # fmt: skip


def exit_code(rows: list[Row]) -> ExitCode:
    regressed = any(r.result is not None and r.result.verdict is Verdict.REGRESSION for r in rows)
    return ExitCode.FINDING if regressed else ExitCode.OK


def markdown(rows: list[Row], run: Run, baseline_dir: Path | str) -> str:
    def num(x: float | None, digits: int = 3) -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"

    counts = {
        v: sum(1 for r in rows if (r.result.verdict.value if r.result else "MISSING") == v)
        for v in ("REGRESSION", "OK", "INCONCLUSIVE", "MISSING")
    }
    tested = [r.result for r in rows if r.result is not None]
    level = tested[0].ci.level if tested else 0.9
    family = [r for r in tested if r.p_adjusted is not None and not math.isnan(r.p_adjusted)]
    mde_note = (
        f"MDE: the drop that the family's own verdict (BH over {len(family)} tests) flags with power "
        f"{family[0].power:g}, i.e. computed at level {family[0].mde_alpha:.3g} = alpha / {len(family)}."
        if family
        else "MDE: no testable comparison."
    )
    lines = [
        f"# Regression: {run.run_id} against {baseline_dir}",
        "",
        ", ".join(f"{v}: {n}" for v, n in counts.items()),
        "",
        mde_note,
        "",
        f"| verdict | method | risk | task | metric | baseline | run | effect [{100 * level:g}% CI] | p (BH) "
        "| margin | MDE | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.to_dict()
        effect = f"{num(d['effect'])} [{num(d['ci_low'])}, {num(d['ci_high'])}]" if row.result else "-"
        lines.append(
            f"| {d['verdict']} | {row.method} | {row.risk} | {row.task} | {metric_label(row.metric)} | "
            f"{num(row.baseline_mean)} | {num(row.candidate_mean)} | {effect} | {num(d['p_bh'], 2)} | "
            f"{num(d['margin'])} | {num(d['mde'])} | {_note(row)} |"
        )
    return "\n".join(lines) + "\n"


def _note(row: Row) -> str:
    """Only what the numbers do not say: untestable rows and dropped values."""
    r = row.result
    parts = []
    if r is not None and math.isnan(r.p_value):
        parts.append(r.reason)
    if row.dropped:
        parts.append(f"dropped non-finite: {', '.join(row.dropped)}")
    return "; ".join(parts).replace("|", "/")
