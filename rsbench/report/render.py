"""``rsbench report``: one or more runs -> ``index.html`` + ``leaderboard.md`` + PNG figures (reads the store only).

Runs merge into one leaderboard when they share the evaluation protocol (the tasks they both have, the
evaluation block and the risk spec version): a new method's run is then compared with a stored baseline run
without retraining the baselines. Anything else is a one-line error naming the key that differs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rsbench.errors import UserError
from rsbench.eval.metrics import NORMALISED_SCORE_REFERENCES, metric_label
from rsbench.report import leaderboard as lb
from rsbench.results.fs import locate
from rsbench.results.protocol import difference
from rsbench.results.store import Run
from rsbench.results.tables import (
    ANY_RISK,
    COST_NOTE,
    COSTS,
    add_costs,
    add_normalised_score,
    collapse_identical_risks,
    infer_packed,
    per_seed,
    training_risks,
)

TEMPLATE = Path(__file__).with_name("templates") / "index.html.j2"

RISKS = (
    "Training risk: the risk level a method is trained for (IQN's train_risk; neutral for a method that "
    "learns the mean; - for one whose risk is chosen at inference only; ? where the trial's record does not "
    "state it, as in runs from before records carried it). Inference risk: the risk setting "
    "passed to act; a method whose act ignores it is listed only under its training risk, and a group whose "
    f"episodes were identical under every risk it was evaluated at (an unguided sampler) once, as {ANY_RISK}."
)
TIERS = (
    "Tiers are monotone in rank: walking down the ranking, a new tier starts at the first group that a "
    "Holm-corrected Welch test (over every pair of the task's primary metric) separates from the first group "
    'of the current tier, so a lower-ranked group never sits in a better tier and a tier means "not '
    'separated from its top group". Groups with fewer than two usable seeds, or whose seeds are all '
    "identical, are untested."
)
REFERENCES = f"Reference scores are the dataset's; on rsbench's tasks the {NORMALISED_SCORE_REFERENCES}."


@dataclass
class Merged:
    """Several runs as one: per-seed table (with groups), episodes, curves, calibration, and their provenance."""

    runs: list[Run]
    alphas: list[float]
    table: pd.DataFrame
    episodes: pd.DataFrame
    curves: pd.DataFrame
    calibration: pd.DataFrame
    datasets: dict[str, Any]


def check_comparable(runs: list[Run]) -> None:
    """Runs merge only under one evaluation protocol (:func:`rsbench.results.protocol.difference`): the
    protocol and risk spec versions, the evaluation block and the definitions of the tasks they share."""
    first = runs[0]
    for other in runs[1:]:
        found = difference(first.suite, first.manifest, other.suite, other.manifest)
        if found is not None:
            raise UserError(
                f"cannot merge runs {first.run_id} and {other.run_id}: "
                f"{found.describe(first.run_id, other.run_id)}; their metrics were not measured the same way",
                key=found.key,
            )


def merge(runs: list[Run]) -> Merged:
    """Merge runs (see :func:`check_comparable`); a method label used by two runs gets ``@run-id``."""
    if not runs:
        raise UserError("expected at least one run", key="RUN")
    check_comparable(runs)
    alphas = [float(a) for a in runs[0].suite["eval"]["alphas"]]
    labels: dict[str, list[str]] = {}
    for run in runs:
        for label in run.suite["methods"]:
            labels.setdefault(label, []).append(run.run_id)
    parts: dict[str, list[pd.DataFrame]] = {"episodes": [], "curves": [], "calibration": [], "trials": []}
    datasets: dict[str, Any] = {}
    for run in runs:
        for name in parts:
            frame = getattr(run, name).copy() if name != "trials" else infer_packed(run.trials, run.suite)
            if not frame.empty:
                clash = frame["method"].map(lambda m: len(labels.get(m, [])) > 1)
                frame.loc[clash, "method"] = frame.loc[clash, "method"] + "@" + run.run_id
                frame["run"] = run.run_id
                parts[name].append(frame)
        datasets.update(run.manifest.get("datasets", {}))
    frames = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}
    if frames["episodes"].empty:
        raise UserError("no evaluated episodes in these runs (did every trial fail?)", key="RUN")
    frames["episodes"] = collapse_identical_risks(frames["episodes"])
    distortions = runs[0].suite["eval"].get("distortions", [])
    table = add_costs(lb.with_groups(per_seed(frames["episodes"], alphas, distortions)), frames["trials"])
    table["train_risk"] = training_risks(table, frames["trials"])
    references = lb.reference_scores(datasets)
    if references:
        table = add_normalised_score(table, references)
    return Merged(runs, alphas, table, frames["episodes"], frames["curves"], frames["calibration"], datasets)


@dataclass(frozen=True)
class Report:
    index: Path
    markdown: Path
    figures: list[Path]
    seconds: float
    planned: list[str] = field(default_factory=list)


def aggregate_note(m: Merged, metric: str) -> str:
    """What the cross-task IQM is computed on, or why there is none (no score depends on other groups)."""
    tasks = sorted(m.table["task"].unique())
    refs = lb.reference_scores(m.datasets)
    missing = [t for t in tasks if t not in refs]
    if refs:
        left_out = f" Left out (no reference scores): {', '.join(missing)}." if missing else ""
        return (
            f"IQM of normalised scores over every seed of each task: each seed's {metric_label(metric)} x "
            f"as 100 (x - min) / (max - min). {REFERENCES}{left_out}"
        )
    if len(tasks) == 1:
        return "IQM over the seeds of the single task, in raw units (its dataset has no reference scores)."
    return (
        f"No cross-task IQM: the datasets of {', '.join(tasks)} have no reference scores, and raw returns of "
        "different tasks are not comparable (normalising by the groups in the run would make one method's "
        "score depend on which others were run)."
    )


def _markdown(
    m: Merged, boards: list[lb.TaskBoard], found: list[lb.Findings], warnings: list[str], agg: pd.DataFrame
) -> str:
    out = [
        f"# Leaderboard: {', '.join(r.run_id for r in m.runs)}",
        "",
        lb.INTERVALS,
        "",
        TIERS,
        "",
        RISKS,
        "",
    ]
    for board in boards:
        cols = board.metrics
        out += [
            f"## {board.task} (ranked by {metric_label(board.primary)}, mean over seeds [95% interval: t; "
            "CVaR: hull of t and two-level bootstrap])",
            "",
            "| rank | tier | method | training risk | inference risk | seeds | "
            + " | ".join([*(metric_label(c) for c in cols), *COSTS.values()])
            + " |",
            "|---|---|---|---|---|---|" + "---|" * (len(cols) + len(COSTS)),
        ]
        for r in board.rows:
            digits = {c: 3 if "violation" in c else 2 for c in cols}
            out.append(
                f"| {r['rank']} | {r['tier']} | {r['method']}{r.get('sweep', '')} | {r['train_risk']} | {r['risk']} | "
                f"{r['seeds']} | "
                + " | ".join(
                    [*(r[c].text(digits[c]) for c in cols), *(lb.cost_text(r["cost"][c]) for c in COSTS)]
                )
                + " |"
            )
        out += ["", COST_NOTE, ""]
    primary = boards[0].primary if boards else "mean_return"
    out += ["## Across tasks (IQM, stratified bootstrap 95%)", "", aggregate_note(m, primary), ""]
    if not agg.empty:
        out += ["| group | IQM | interval |", "|---|---|---|"]
        out += [
            f"| {r['group']} | {r['iqm']:.3g} | [{r['low']:.3g}, {r['high']:.3g}] |"
            for r in agg.to_dict("records")
        ]
        out.append("")
    out += ["## Significant differences", "", "Listed per Holm family: one task and one metric.", ""]
    for family in found:
        out += [f"### {family.heading}", ""] + [f"- {line}" for line in family.lines] + [""]
    if not found:
        out += ["- none at 0.05 (Holm)"]
    if warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    out += ["", "## Provenance", ""]
    for run in m.runs:
        out += [f"- {line}" for line in _provenance_lines(run)]
    return "\n".join(out) + "\n"


def _provenance_lines(run: Run) -> list[str]:
    """One line per run, or per chunk of a pinned baseline (each chunk is a run of its own)."""
    chunks = run.manifest.get("chunks")
    if chunks is None:
        return [_provenance_line(run.run_id, run.manifest)]
    return [
        f"{run.run_id} (pinned): chunk {_provenance_line(c.get('run_id'), c)}, pinned {c.get('pinned')}, "
        f"{len(c.get('pinned_trials', []))} trials"
        for c in chunks
    ]


def _provenance_line(run_id: object, man: dict[str, Any]) -> str:
    git = man.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    versions = man.get("versions", {})
    cluster = man.get("cluster", {})
    return (
        f"{run_id}: suite {man.get('suite')} ({man.get('suite_hash')}), commit {commit}, "
        f"rsbench {versions.get('rsbench')}, torch {versions.get('torch')}, ray {versions.get('ray')}, "
        f"host {man.get('host')}, {cluster.get('nodes', '?')} node(s), {man.get('started')} to {man.get('finished')}, "
        f"risk spec v{man.get('risk_spec_version')}{_deviations_text(man.get('deviations') or {})}"
    )


def _deviations_text(deviations: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The manifest's ``deviations`` (:meth:`Suite.deviations`) as one clause: where a method ran off its
    reference's defaults (e.g. for the budget)."""
    if not deviations:
        return ""
    parts = []
    for label, fields in sorted(deviations.items()):
        items = ", ".join(
            f"{name} {'/'.join(map(str, d['runs']))} (reference {d['reference']})"
            for name, d in fields.items()
        )
        parts.append(f"{label}: {items}")
    return "; deviations from the reference defaults: " + "; ".join(parts)


def _planned_sections(text: str, planned: list[str], training: list[str]) -> str:
    """The markdown with the training warnings and planned comparisons ahead of the significant differences."""
    extra = []
    if training:
        extra += ["## Training warnings", "", *(f"- {w}" for w in training), ""]
    if planned:
        extra += [
            "## Planned comparisons (`--compare`; paired t over seeds where the groups share episodes, else "
            "Welch; Holm over the planned family)",
            "",
            *(f"- {line}" for line in planned),
            "",
        ]
    return text.replace("## Significant differences", "\n".join([*extra, "## Significant differences"]), 1)


def render_report(runs: list[Run], out_dir: Path, *, compare: Sequence[str] = ()) -> Report:
    """Write ``out_dir/index.html``, ``out_dir/leaderboard.md`` and ``out_dir/figures/*.png``; ``compare``
    holds planned comparisons ``A,B`` (:mod:`rsbench.report.compare`), stated whether significant or not."""
    import jinja2

    from rsbench.report.compare import planned_comparisons
    from rsbench.report.figures import render_figures
    from rsbench.report.training import training_warnings

    start = time.perf_counter()
    m = merge(runs)
    planned = [p.sentence() for p in planned_comparisons(m.table, list(compare), m.alphas)]
    early = training_warnings(m.curves)
    tasks = sorted(m.table["task"].unique())
    episodes = lb.with_groups(m.episodes)
    boards = [lb.task_board(m.table, task, m.alphas, episodes=episodes) for task in tasks]
    found = lb.findings(boards)
    warnings = lb.warnings_for(m.table, m.alphas, m.datasets)
    refs = lb.reference_scores(m.datasets)
    agg = lb.aggregate(m.table, boards[0].primary, references=refs) if boards else pd.DataFrame()
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = render_figures(m.table, m.episodes, m.curves, m.calibration, m.alphas, out_dir / "figures")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True)
    html = env.get_template(TEMPLATE.name).render(
        title=f"rsbench report: {', '.join(r.run_id for r in m.runs)}",
        boards=boards,
        metric_label=metric_label,
        costs=COSTS,
        cost_text=lb.cost_text,
        cost_note=COST_NOTE,
        findings=found,
        planned=planned,
        training=early,
        tiers=TIERS,
        risks=RISKS,
        intervals=lb.INTERVALS,
        aggregate_note=aggregate_note(m, boards[0].primary) if boards else "",
        warnings=warnings,
        aggregate=agg.to_dict("records"),
        aggregate_metric=metric_label(boards[0].primary) if boards else "",
        figures=figures,
        tasks=tasks,
        provenance=[line for r in m.runs for line in _provenance_lines(r)],
        manifests=[json.dumps(r.manifest, indent=2, default=str) for r in m.runs],
    )
    index, md = out_dir / "index.html", out_dir / "leaderboard.md"
    for path, text in (
        (index, html),
        (md, _planned_sections(_markdown(m, boards, found, warnings, agg), planned, early)),
    ):
        locate(path).write_text(text)
    return Report(
        index, md, [out_dir / "figures" / f.file for f in figures], time.perf_counter() - start, planned
    )
