"""``rsbench behaviour``: train, evaluate and select the behaviour policies of the locomotion datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsbench.cli.common import app
from rsbench.errors import UserError
from rsbench.errors import examples as _examples

behaviour_app = typer.Typer(
    help="Behaviour policies for D4RL-style datasets: train (SB3 PPO), eval, select.",
    epilog=_examples(
        "rsbench behaviour train hopper", "rsbench behaviour select hopper", "rsbench behaviour eval"
    ),
    no_args_is_help=True,
)
app.add_typer(behaviour_app, name="behaviour")


@behaviour_app.command(
    "train",
    epilog=_examples(
        "rsbench behaviour train hopper --steps 1000000 --seed 0",
        "rsbench behaviour train hopper --steps 1000000 --seed 0 --resume",
    ),
)
def train_cmd(
    task: Annotated[str, typer.Argument(help="halfcheetah, hopper or walker2d")],
    steps: Annotated[int, typer.Option(help="Environment steps of PPO training.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the env, the networks and PPO.")] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Export a policy file every N steps.")] = 25_000,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default results/behaviour/TASK-seedS).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from out/latest.zip.")] = False,
) -> None:
    """Train a risk-unaware PPO policy on TASK's base env; checkpoints land in OUT/checkpoints."""
    from rsbench.behaviour.train import PPOConfig, train
    from rsbench.paths import project_root

    cfg = PPOConfig(steps=steps, seed=seed, checkpoint_every=checkpoint_every)
    where = out or project_root() / "results" / "behaviour" / f"{task}-seed{seed}"
    train(task, where, cfg, resume=resume)
    typer.echo(f"checkpoints written to {where / 'checkpoints'}")


@behaviour_app.command("select", epilog=_examples("rsbench behaviour select hopper"))
def select_cmd(
    task: Annotated[str, typer.Argument(help="halfcheetah, hopper or walker2d")],
    run: Annotated[
        Path | None, typer.Option(help="Training output (default results/behaviour/TASK-seed0).")
    ] = None,
    episodes: Annotated[int, typer.Option(help="Episodes per measured return.")] = 100,
) -> None:
    """Pick expert (final), medium (~1/3 of the expert's base-task return) and the replay checkpoints,
    copy them into rsbench/behaviour/policies/TASK and record their returns and the reference scores.
    """
    from rsbench.behaviour.committed import POLICIES_DIR
    from rsbench.behaviour.select import select
    from rsbench.paths import project_root

    record = select(task, run or project_root() / "results" / "behaviour" / f"{task}-seed0", episodes)
    p = record["policies"]
    typer.echo(
        f"{task}: ref_min_score {record['ref_min_score']:.1f}, ref_max_score {record['ref_max_score']:.1f}; "
        f"medium = step {p['medium']['steps']} (base-task return {p['medium']['base_mean']:.1f}, target "
        f"{record['medium_target']:.1f} = a third of the expert's); written to {POLICIES_DIR / task}"
    )


@behaviour_app.command(
    "eval", epilog=_examples("rsbench behaviour eval", "rsbench behaviour eval hopper --episodes 20 --json")
)
def eval_cmd(
    tasks: Annotated[list[str] | None, typer.Argument(help="Tasks (default: every committed one).")] = None,
    episodes: Annotated[int, typer.Option(help="Episodes per return.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same data as JSON.")] = False,
) -> None:
    """Returns of the committed random, medium and expert policies on the base task (1000 steps, no
    penalty) and on the risky task (its evaluation horizon), with the normalised score.
    """
    import json
    from dataclasses import asdict

    from rsbench.behaviour.committed import TASKS, policy, provenance
    from rsbench.behaviour.evaluate import PolicyReturns, stochastic, uniform_random
    from rsbench.eval.metrics import NORMALISED_SCORE_REFERENCES, normalised_score

    unknown = sorted(set(tasks or []) - set(provenance()))
    if unknown:
        raise UserError(
            f"no committed behaviour policies for {', '.join(unknown)}; expected one of {', '.join(sorted(provenance()))}",
            key="TASKS",
        )
    rows = []
    for task in tasks or sorted(provenance()):
        task_id = TASKS[task][1]
        record = provenance()[task]
        lo, hi = record["ref_min_score"], record["ref_max_score"]
        for level in ("random", "medium", "expert"):
            pi = (
                uniform_random(policy(task, "expert").act_dim)
                if level == "random"
                else stochastic(policy(task, level))
            )
            measured = PolicyReturns.measure(pi, task_id, episodes)
            rows.append(
                {
                    "task": task,
                    "level": level,
                    **asdict(measured),
                    "normalised": float(normalised_score(measured.risky_mean, lo, hi)),
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(
        f"{'task':<12}{'level':<8}{'base return':>20}{'risky return':>20}{'viol.rate':>10}{'norm.':>8}"
    )
    for r in rows:
        typer.echo(
            f"{r['task']:<12}{r['level']:<8}{r['base_mean']:>12.1f} ± {r['base_std']:<6.1f}"
            f"{r['risky_mean']:>12.1f} ± {r['risky_std']:<6.1f}{r['risky_violation_rate']:>10.3f}{r['normalised']:>8.1f}"
        )
    typer.echo(NORMALISED_SCORE_REFERENCES)
