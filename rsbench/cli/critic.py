"""``rsbench critic``: fit a new critic to a trained RS-Diffuser, its diffusion model frozen."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsbench.cli.common import app, err, examples


@app.command(
    "critic",
    epilog=examples(
        "rsbench critic results/RUN/checkpoints/TRIAL/step-000003000 --dataset pointmass-mixed --steps 2000 "
        "--out results/refit --set critic=td",
    ),
)
def critic_cmd(
    checkpoint: Annotated[
        Path, typer.Argument(help="An RS-Diffuser checkpoint directory (method.json, state.pt).")
    ],
    dataset: Annotated[str, typer.Option(help="Catalogue name or local Minari dataset id to fit on.")],
    steps: Annotated[int, typer.Option(help="Critic updates.", min=1)],
    out: Annotated[Path, typer.Option(help="Directory the refitted checkpoint is written under.")],
    batch_size: Annotated[int, typer.Option(help="Windows per update.", min=1)] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the fresh critics and the data sampler.", min=0)] = 0,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="A critic field FIELD=VALUE, e.g. critic=td (repeatable)."),
    ] = None,
) -> None:
    """Fit a new critic to a trained RS-Diffuser, its diffusion model frozen (no retraining of the planner)."""
    from rsbench.data.build import ensure_dataset
    from rsbench.data.offline import load
    from rsbench.suite import parse_set
    from rsbench.train.critic import fit_critic

    changes = dict(parse_set(text) for text in overrides or [])
    data = load(ensure_dataset(dataset), source="--dataset")
    path = fit_critic(checkpoint, data, steps, out=out, batch_size=batch_size, seed=seed, changes=changes)
    err.print(f"critic fitted for {steps} steps: {path}")
