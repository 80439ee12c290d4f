"""``rsbench eval``: evaluate a policy on batched, seeded episodes, or re-evaluate a run's trained trials."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rsbench.cli.common import JsonFlag, app, emit_json, err, examples, parse, reject_flags, table
from rsbench.cli.run import print_run_summary
from rsbench.errors import UserError


@app.command(
    "eval",
    epilog=examples(
        "rsbench eval --policy shortcut --episodes 200",
        "rsbench eval --policy-file my_policy.py:act --task rsbench/RiskyHopper-v0 --risk cvar:0.1 --json",
        "rsbench eval results/smoke-20250101-000000 --risk cvar:0.05,cvar:0.25",
    ),
)
def eval_cmd(
    ctx: typer.Context,
    run: Annotated[
        str | None,
        typer.Argument(
            help="A run (directory or URI): evaluate its trained trials at --risk, no retraining."
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Scripted policy: shortcut | detour (point mass) | random (any task) | medium | expert "
            "(the committed behaviour policies of the locomotion tasks)."
        ),
    ] = None,
    policy_file: Annotated[
        str | None, typer.Option(help="User policy FILE.py:NAME mapping an obs batch to an action batch.")
    ] = None,
    task: Annotated[str, typer.Option(help="Registered risky task id.")] = "rsbench/RiskyPointMass-v0",
    episodes: Annotated[int, typer.Option(help="Evaluation episodes, run in lock-step.", min=1)] = 100,
    seed: Annotated[int, typer.Option(help="Evaluation base seed (shared by all methods).", min=0)] = 0,
    risk: Annotated[str, typer.Option(help="Comma-separated risk settings passed to the policy.")] = "",
    alphas: Annotated[str, typer.Option(help="Comma-separated CVaR levels.")] = "0.05,0.1,0.25",
    as_json: JsonFlag = False,
) -> None:
    """Evaluate a policy (batched seeded episodes, metrics with 95% intervals and flags), or re-evaluate a run.

    Give exactly one of: a RUN (its trained trials are evaluated at --risk), --policy or --policy-file.
    """
    if run is not None:
        reject_flags(
            ctx,
            "a RUN is evaluated with its own suite's task, episodes, seed and CVaR levels",
            ("policy", "policy_file", "task", "episodes", "seed", "alphas", "as_json"),
        )
        _reevaluate(run, risk)
        return
    if (policy is None) == (policy_file is None):
        raise UserError(
            "give a RUN to re-evaluate, --policy NAME (see --help) or --policy-file FILE.py:NAME (exactly one)",
            key="--policy",
        )

    from rsbench.behaviour.committed import task_reference_scores
    from rsbench.behaviour.named import load_policy_file, scripted_policy
    from rsbench.envs import TASKS
    from rsbench.eval.summary import evaluate_policy
    from rsbench.risk import RiskSetting

    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", key="--task")
    settings = [parse(RiskSetting.parse, r, "--risk") for r in risk.split(",") if r.strip()] or [None]
    levels = tuple(parse(float, a, "--alphas") for a in alphas.split(","))
    if not all(0 < a <= 1 for a in levels):
        raise UserError(f"expected levels in (0, 1], got {alphas}", key="--alphas")
    fn = load_policy_file(policy_file) if policy_file else scripted_policy(str(policy), task, seed)
    refs = task_reference_scores(task)
    evaluated = evaluate_policy(
        fn,
        task,
        episodes,
        seed=seed,
        settings=settings,
        alphas=levels,
        references=(refs["ref_min_score"], refs["ref_max_score"]) if refs else None,
    )
    results = [
        {"risk": str(setting or "none"), "metrics": [r.to_dict() for r in rows]}
        for setting, rows in evaluated
    ]
    _print_results(str(policy_file or policy), task, episodes, seed, results, as_json)


def _print_results(
    name: str, task: str, episodes: int, seed: int, results: list[dict[str, Any]], as_json: bool
) -> None:
    if as_json:
        emit_json({"policy": name, "task": task, "episodes": episodes, "seed": seed, "results": results})
        return
    for res in results:
        table(
            f"{name} on {task}: {episodes} episodes, eval seed {seed}, risk {res['risk']}",
            ["metric", "estimate", "95% interval", "method", "flags"],
            [
                [
                    m["metric"],
                    m["estimate"],
                    f"[{m['low']:.4g}, {m['high']:.4g}]",
                    m["method"],
                    "; ".join(m["flags"]),
                ]
                for m in res["metrics"]
            ],
        )


def _reevaluate(run: str, risk: str) -> None:
    from rsbench.risk import RiskSetting
    from rsbench.train.plan import open_run, reevaluate

    settings = [str(parse(RiskSetting.parse, r, "--risk")) for r in risk.split(",") if r.strip()]
    if not settings:
        raise UserError("expected risk settings to add, e.g. --risk cvar:0.05,cvar:0.25", key="--risk")
    done = reevaluate(run, settings)
    plan = open_run(run)
    print_run_summary(plan)
    err.print(f"evaluated {len(done)} (trial, risk) pairs; results written to {plan.store.root.uri}")
