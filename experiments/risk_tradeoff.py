"""Does a method learn the risk trade-off? Train each method of a suite once per seed, evaluate it at every
risk setting the suite lists, and test the differences across seeds (Welch, the seed is the unit).

    python experiments/risk_tradeoff.py                      # suites/pointmass.yaml: RS-Diffuser + Diffuser
    python experiments/risk_tradeoff.py --methods rs_diffuser,diffuser,decision_diffuser --jobs 2

Trials run in ``--jobs`` worker processes with one torch thread each, without Ray (this is the plain
``train.fit`` path; ``rsbench run`` runs the same trials on Ray Tune). Writes ``results.json`` (per-seed
metrics) and ``results.md`` (the table) under ``--out`` and prints where.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ALPHA = 0.1


def run_trial(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Train one (method, seed) and evaluate it at each risk setting; one row per risk setting."""
    import torch

    from rsbench.data.offline import load
    from rsbench.eval import metrics
    from rsbench.eval.rollout import evaluate
    from rsbench.methods import Space, create, load_method_file
    from rsbench.risk import RiskSetting
    from rsbench.runtime import configure_environment
    from rsbench.train import fit

    configure_environment()
    torch.set_num_threads(1)
    for f in job["method_files"]:
        load_method_file(f)
    data = load(job["dataset"])
    method = create(job["method"], Space.from_data(data), job["config"], seed=job["seed"])
    start = time.perf_counter()
    result = fit(
        method, data, job["steps"], batch_size=job["batch_size"], seed=job["seed"], log_every=job["log_every"]
    )
    train_time = time.perf_counter() - start
    rows = []
    for risk in job["risk"]:
        start = time.perf_counter()
        policy = method.policy(risk=risk, seed=job["eval_seed"])
        eps = evaluate(
            policy, job["task"], job["episodes"], seed=job["eval_seed"], risk=RiskSetting.parse(risk)
        )
        rows.append(
            {
                "label": job["label"],
                "method": job["method"],
                "seed": job["seed"],
                "risk": risk,
                "mean_return": float(eps.returns.mean()),
                **{f"cvar_{a:g}": float(metrics.cvar(eps.returns, a)) for a in job["alphas"]},
                "violation_rate": float(metrics.violation_rate(eps.violation_steps, eps.lengths)),
                "episode_violation_rate": float(metrics.episode_violation_rate(eps.violation_steps)),
                "mean_length": float(eps.lengths.mean()),
                "train_seconds": train_time,
                "eval_seconds": time.perf_counter() - start,
                "final_losses": {k: v for k, v in result.curves[-1].items() if k.endswith("loss")},
            }
        )
    return rows


def _jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    from rsbench.data.catalog import minari_id
    from rsbench.envs import TASKS
    from rsbench.errors import UserError
    from rsbench.methods import available, load_method_file
    from rsbench.methods.registry import check_suite_methods
    from rsbench.suite import load_suite

    for f in args.method_file:
        load_method_file(f)
    suite = load_suite(args.suite, known_methods=available())
    check_suite_methods(suite, source=args.suite)
    labels = args.methods.split(",") if args.methods else list(suite.methods)
    unknown = sorted(set(labels) - set(suite.methods))
    if unknown:
        raise UserError(
            f"no method labels {unknown} in {args.suite}; it has {', '.join(suite.methods)}", key="--methods"
        )
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(suite.seeds)
    except ValueError:
        raise UserError(f"expected comma-separated integers, got {args.seeds!r}", key="--seeds") from None
    jobs = []
    for task_name, task in suite.tasks.items():
        if task.env not in TASKS:
            continue
        dataset = minari_id(task.dataset)
        for label in labels:
            entry = suite.methods[label]
            for seed in seeds:
                jobs.append(
                    {
                        "label": label,
                        "method": entry.method,
                        "config": dict(entry.config),
                        "risk": [str(r) for r in entry.risk],
                        "seed": seed,
                        "task": task.env,
                        "task_name": task_name,
                        "dataset": dataset,
                        "steps": args.steps or entry.steps or suite.train.steps,
                        "batch_size": entry.batch_size or suite.train.batch_size,
                        "log_every": suite.train.log_every,
                        "episodes": args.episodes or suite.eval.episodes,
                        "eval_seed": suite.eval.seed,
                        "alphas": list(suite.eval.alphas),
                        "method_files": [str(f) for f in args.method_file],
                    }
                )
    return jobs


def _ensure_datasets(jobs: list[dict[str, Any]]) -> None:
    from rsbench.data.build import ensure_dataset
    from rsbench.data.catalog import RECIPES, minari_id

    for name in RECIPES:
        if any(j["dataset"] == minari_id(name) for j in jobs):
            ensure_dataset(name, progress=True)


Group = tuple[str, str]  # (method label, risk setting)


def parse_group(text: str, groups: list[Group]) -> Group:
    """``LABEL@RISK`` (or ``LABEL`` when the label was evaluated at one risk setting) -> a group of the rows."""
    from rsbench.errors import UserError

    label, _, risk = text.partition("@")
    matches = [g for g in groups if g[0] == label and (not risk or g[1] == risk)]
    if len(matches) != 1:
        have = ", ".join("@".join(g) for g in groups)
        raise UserError(f"{text!r} names {len(matches)} of the evaluated groups ({have})", key="--compare")
    return matches[0]


def comparisons(groups: list[Group], extra: Sequence[str]) -> list[tuple[Group, Group]]:
    """``cvar:0.1`` against ``neutral`` within each label evaluated at both, then each ``--compare A,B``."""
    out = [
        ((label, f"cvar:{ALPHA:g}"), (label, "neutral"))
        for label in sorted({g[0] for g in groups})
        if {(label, "neutral"), (label, f"cvar:{ALPHA:g}")} <= set(groups)
    ]
    for pair in extra:
        a, _, b = pair.partition(",")
        out.append((parse_group(a, groups), parse_group(b, groups)))
    return out


def summarize(rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> dict[str, Any]:
    """Per (label, risk) means with t-intervals across seeds, and one-sided Welch tests of each comparison
    (the first group should have the higher CVaR and the lower violation rate; mean return two-sided)."""
    from rsbench.eval import stats

    def values(label: str, risk: str, metric: str) -> np.ndarray:
        return np.array(
            [
                r[metric]
                for r in sorted(rows, key=lambda r: r["seed"])
                if r["label"] == label and r["risk"] == risk
            ]
        )

    cvar_key = f"cvar_{ALPHA:g}"
    groups = sorted({(r["label"], r["risk"]) for r in rows}, key=lambda g: (g[0], g[1] != "neutral", g[1]))
    table = []
    for label, risk in groups:
        row: dict[str, Any] = {"label": label, "risk": risk, "seeds": int(values(label, risk, "seed").size)}
        for metric in ("mean_return", cvar_key, "violation_rate", "episode_violation_rate", "mean_length"):
            x = values(label, risk, metric)
            ci = stats.t_interval(x) if x.size >= 2 else None
            row[metric] = {
                "mean": float(x.mean()),
                "low": ci.low if ci else None,
                "high": ci.high if ci else None,
            }
        table.append(row)
    tests = []
    for averse, reference in comparisons(groups, extra):
        for metric, alternative in (
            (cvar_key, "greater"),
            ("violation_rate", "less"),
            ("mean_return", "two-sided"),
        ):
            a, b = values(*averse, metric), values(*reference, metric)
            if a.size < 2 or b.size < 2:
                continue
            t = stats.welch_t_test(a, b, alternative)
            tests.append(
                {
                    "comparison": f"{'@'.join(averse)} vs {'@'.join(reference)}",
                    "metric": metric,
                    "difference": float(a.mean() - b.mean()),
                    "alternative": alternative,
                    "p_value": t.p_value,
                    "p_two_sided": stats.welch_t_test(a, b).p_value,
                }
            )
    return {"table": table, "tests": tests}


def markdown(summary: dict[str, Any], header: str) -> str:
    cvar_key = f"cvar_{ALPHA:g}"

    def cell(m: dict[str, Any], digits: int = 2) -> str:
        if m["low"] is None:
            return f"{m['mean']:.{digits}f}"
        return f"{m['mean']:.{digits}f} [{m['low']:.{digits}f}, {m['high']:.{digits}f}]"

    lines = [
        header,
        "",
        f"| method | risk at inference | seeds | mean return | CVaR_{ALPHA:g} | violation rate | episodes with a violation |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["table"]:
        lines.append(
            f"| {r['label']} | {r['risk']} | {r['seeds']} | {cell(r['mean_return'])} | {cell(r[cvar_key])} | "
            f"{cell(r['violation_rate'], 3)} | {cell(r['episode_violation_rate'], 2)} |"
        )
    if summary["tests"]:
        lines += [
            "",
            "| comparison | metric | difference | Welch p (one-sided) | Welch p (two-sided) |",
            "|---|---|---|---|---|",
        ]
        for t in summary["tests"]:
            one = f"{t['p_value']:.2g} ({t['alternative']})" if t["alternative"] != "two-sided" else "-"
            lines.append(
                f"| {t['comparison']} | {t['metric']} | {t['difference']:+.3f} | {one} | {t['p_two_sided']:.2g} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "pointmass.yaml")
    parser.add_argument(
        "--methods", default="rs_diffuser,diffuser", help="suite method labels, comma-separated ('' = all)"
    )
    parser.add_argument("--seeds", default="", help="comma-separated seeds (default: the suite's)")
    parser.add_argument("--steps", type=int, default=0, help="override the training steps")
    parser.add_argument("--episodes", type=int, default=0, help="override the evaluation episodes")
    parser.add_argument("--jobs", type=int, default=2, help="trials in parallel (one CPU thread each)")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="A,B",
        help="also test group A against B, each LABEL or LABEL@RISK (e.g. iqn@cvar:0.1,cql); repeatable",
    )
    parser.add_argument("--method-file", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "experiments" / "risk_tradeoff")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.progress import Progress

    from rsbench.errors import UserError
    from rsbench.runtime import configure_environment

    console = Console(stderr=True)
    configure_environment()
    try:
        jobs = _jobs(args)
        comparisons(sorted({(j["label"], r) for j in jobs for r in j["risk"]}), args.compare)
    except UserError as e:
        console.print(f"risk_tradeoff: error: {e}", markup=False, soft_wrap=True)
        return 2
    _ensure_datasets(jobs)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with (
        Progress(console=console) as progress,
        ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool,
    ):
        bar = progress.add_task(f"{len(jobs)} trials", total=len(jobs))
        futures = {pool.submit(run_trial, job): job for job in jobs}
        for future in as_completed(futures):
            rows.extend(future.result())
            job = futures[future]
            progress.console.print(f"done: {job['label']} seed {job['seed']}")
            progress.advance(bar)
    wall = time.perf_counter() - start
    summary = summarize(rows, args.compare)
    header = f"`{args.suite.name}`, {len(jobs)} trials, {wall / 60:.1f} min wall on {args.jobs} processes"
    text = markdown(summary, header)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / ".results.json.tmp"
    tmp.write_text(
        json.dumps({"suite": str(args.suite), "wall_seconds": wall, "rows": rows, **summary}, indent=2)
    )
    tmp.replace(args.out / "results.json")
    (args.out / ".results.md.tmp").write_text(text)
    (args.out / ".results.md.tmp").replace(args.out / "results.md")
    print(text)
    console.print(f"results written to {args.out}/results.json and results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
