"""Nightly regression against a pinned baseline: ``rsbench baseline pin`` and ``rsbench regress``.

A baseline directory (``baselines/<suite>/``) holds the per-seed metrics of a reference run
(``per_seed.csv``, diff-friendly in git) and ``baseline.json``: the run's provenance manifest, its evaluation
protocol, and the margins (the largest acceptable drop per metric). ``regress`` compares a new run with it per
(method, risk, task, metric): REGRESSION / OK / INCONCLUSIVE (``rsbench.eval.regression``), with
Benjamini-Hochberg over the whole family of comparisons deciding the REGRESSION verdicts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsbench.errors import UserError
from rsbench.eval.regression import RegressionResult, Verdict, adjust_family, regression_verdict
from rsbench.report.leaderboard import higher_is_better, metric_label
from rsbench.results.provenance import now
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
    return max(0.1 * float(abs(np.mean(baseline))), 0.1)


def pin(run: Run, to: Path) -> Path:
    """Store ``run``'s per-seed metrics and provenance as the baseline at ``to``; returns ``baseline.json``."""
    alphas = [float(a) for a in run.suite["eval"]["alphas"]]
    if run.episodes.empty:
        raise UserError("the run has no evaluated episodes to pin", source=run.uri)
    table = per_seed(run.episodes, alphas)
    metrics = default_metrics(alphas)
    margins = {}
    for m in metrics:
        for key, rows in table.groupby(KEYS):
            margins.setdefault(m, {})["|".join(map(str, key))] = default_margin(m, rows[m].to_numpy())
    to.mkdir(parents=True, exist_ok=True)
    meta = {
        "pinned": now(),
        "run_id": run.run_id,
        "source": run.uri,
        "suite": run.suite,
        "metrics": metrics,
        "margins": margins,
        "manifest": run.manifest,
    }
    for name, text in (
        ("per_seed.csv", table.to_csv(index=False, float_format="%.10g")),
        ("baseline.json", json.dumps(meta, indent=2, default=str)),
    ):
        tmp = to / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(to / name)
    return to / "baseline.json"


@dataclass(frozen=True)
class Row:
    method: str
    task: str
    risk: str
    metric: str
    result: RegressionResult | None  # None: the baseline has it, the run does not
    baseline_mean: float
    candidate_mean: float | None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "method": self.method,
            "task": self.task,
            "risk": self.risk,
            "metric": self.metric,
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
            "reason": r.reason if r else "not in this run",
        }


def load_baseline(where: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    meta_path, table_path = where / "baseline.json", where / "per_seed.csv"
    if not meta_path.is_file() or not table_path.is_file():
        raise UserError(
            "not a baseline (expected baseline.json and per_seed.csv; pin one with `rsbench baseline pin`)",
            source=where,
            key="--baseline",
        )
    table = pd.read_csv(table_path, dtype={"sweep": str, "risk": str, "method": str, "task": str})
    return table, json.loads(meta_path.read_text())


def regress(run: Run, baseline_dir: Path, *, alpha: float = 0.05) -> list[Row]:
    """Verdicts of ``run`` against the baseline, one row per (method, task, risk, metric) of the baseline."""
    base, meta = load_baseline(baseline_dir)
    for key in ("episodes", "seed"):
        a, b = meta["suite"]["eval"].get(key), run.suite["eval"].get(key)
        if a != b:
            raise UserError(
                f"run and baseline evaluate differently: eval.{key} is {b} here and {a} in the baseline",
                source=baseline_dir,
                key=f"eval.{key}",
            )
    alphas = [float(a) for a in run.suite["eval"]["alphas"]]
    cand = per_seed(run.episodes, alphas) if not run.episodes.empty else pd.DataFrame(columns=[*KEYS, "seed"])
    results: list[tuple[tuple, str, RegressionResult | None, float, float | None]] = []
    for key, rows in base.groupby(KEYS, sort=True):
        method, task, risk, sweep = key
        mine = cand[
            (cand["method"] == method)
            & (cand["task"] == task)
            & (cand["risk"] == risk)
            & (cand["sweep"] == sweep)
        ]
        for metric in meta["metrics"]:
            b = rows.sort_values("seed")[metric].to_numpy(dtype=float)
            margin = meta["margins"][metric]["|".join(map(str, key))]
            if mine.empty:
                results.append((key, metric, None, float(b.mean()), None))
                continue
            c = mine.sort_values("seed")[metric].to_numpy(dtype=float)
            r = regression_verdict(
                b, c, margin=margin, higher_is_better=higher_is_better(metric), alpha=alpha
            )
            results.append((key, metric, r, float(b.mean()), float(c.mean())))
    tested = [r for _, _, r, _, _ in results if r is not None]
    adjusted = iter(adjust_family(tested, "bh"))
    out = []
    for key, metric, r, bmean, cmean in results:
        out.append(
            Row(key[0], key[1], key[2], metric, next(adjusted) if r is not None else None, bmean, cmean)
        )
    return out


def exit_code(rows: list[Row]) -> int:
    return 1 if any(r.result is not None and r.result.verdict is Verdict.REGRESSION for r in rows) else 0


def markdown(rows: list[Row], run: Run, baseline_dir: Path) -> str:
    def num(x: float | None, digits: int = 3) -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"

    counts = {
        v: sum(1 for r in rows if (r.result.verdict.value if r.result else "MISSING") == v)
        for v in ("REGRESSION", "OK", "INCONCLUSIVE", "MISSING")
    }
    lines = [
        f"# Regression: {run.run_id} against {baseline_dir}",
        "",
        ", ".join(f"{v}: {n}" for v, n in counts.items()),
        "",
        "| verdict | method | risk | task | metric | baseline | run | effect [90% CI] | p (BH) | margin | MDE |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.to_dict()
        effect = f"{num(d['effect'])} [{num(d['ci_low'])}, {num(d['ci_high'])}]" if row.result else "-"
        lines.append(
            f"| {d['verdict']} | {row.method} | {row.risk} | {row.task} | {metric_label(row.metric)} | "
            f"{num(row.baseline_mean)} | {num(row.candidate_mean)} | {effect} | {num(d['p_bh'], 2)} | "
            f"{num(d['margin'])} | {num(d['mde'])} |"
        )
    return "\n".join(lines) + "\n"
