"""``rsbench data``: build, relabel, inspect and list tail-risk datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rsbench.cli.common import JsonFlag, TaskOption, app, emit_json, err, examples, out, table
from rsbench.errors import UserError

data_app = typer.Typer(
    help="Tail-risk datasets: build, relabel, inspect, list.",
    epilog=examples("rsbench data build pointmass-mixed", "rsbench data inspect pointmass-mixed"),
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command(
    "build",
    epilog=examples(
        "rsbench data build pointmass-mixed",
        "rsbench data build hopper-medium-300k",
        "rsbench data build hopper-mixed --episodes 50",
    ),
)
def data_build(
    name: Annotated[
        str,
        typer.Argument(
            help="Catalogue dataset, e.g. pointmass-mixed (see `rsbench data list`); a size suffix "
            "(hopper-medium-300k, pointmass-mixed-200ep) builds that size under its own id."
        ),
    ],
    episodes: Annotated[int | None, typer.Option(help="Episodes to record (default: the recipe's).")] = None,
    steps: Annotated[
        int | None, typer.Option(help="Record whole episodes until at least this many transitions.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the behaviour and the episode reset seeds.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the dataset exists.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Record a tail-risk dataset locally with Minari (no download). A size other than the recipe's default
    is part of the id (`--steps 300000` builds rsbench/NAME-300k-v1); the same seed gives the same arrays
    (the printed content hash)."""
    from rsbench.data import store
    from rsbench.data.build import build, content_hash

    dataset_id, built = build(
        name, episodes=episodes, steps=steps, seed=seed, force=force, progress=not as_json
    )
    path = store.dataset_dir(store.ensure_datasets_env(), dataset_id)
    digest = content_hash(dataset_id)
    if as_json:
        emit_json({"dataset": dataset_id, "built": built, "path": str(path), "content_hash": digest})
    elif built:
        out.print(f"built {dataset_id} at {path} (content hash {digest})")
    else:
        out.print(f"{dataset_id} already exists at {path} (content hash {digest}; --force rebuilds it)")


@data_app.command(
    "relabel",
    epilog=examples(
        "rsbench data relabel mujoco/hopper/medium-v0 --task rsbench/RiskyHopper-v0",
        "rsbench data relabel rsbench/pointmass-mixed-v1 --risk-file my_risk.yaml --id me/pointmass-mine-v0",
    ),
)
def data_relabel(
    source: Annotated[str, typer.Argument(help="Minari id of a local dataset to relabel.")],
    task: TaskOption = None,
    risk_file: Annotated[
        Path | None, typer.Option(help="YAML file with a user risk spec (when/penalty/prob).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Salt of the penalty draws (0 matches the online env).")] = 0,
    new_id: Annotated[
        str | None, typer.Option("--id", help="Minari id of the new dataset (default: derived from SOURCE).")
    ] = None,
    old_out: Annotated[str | None, typer.Option("--out", hidden=True)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the new dataset if it exists.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rewrite a dataset's rewards with a risk spec and add per-step violation/penalty flags."""
    from rsbench.data.relabel import relabel, task_for_env
    from rsbench.envs import SPECS, TASKS

    if old_out is not None:
        raise UserError(f"renamed --id (--out names a directory everywhere): --id {old_out}", key="--out")
    if task is not None and task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", key="--task")
    spec = _risk_spec_from_file(risk_file) if risk_file else None
    if spec is None:
        if task is None:
            from rsbench.data import store

            env_spec = store.load_minari(source, source="source").spec.env_spec
            task = task_for_env(env_spec.id if env_spec else None)
            if task is None:
                raise UserError(
                    "cannot tell which risk spec applies; pass --task or --risk-file", key="--task"
                )
        spec = SPECS[task]
    made, written = relabel(source, spec, task_id=task, seed=seed, new_id=new_id, force=force)
    if as_json:
        emit_json({"dataset": made, "written": written, "source": source, "risk_spec": spec.to_dict()})
    else:
        out.print(f"{'wrote' if written else 'kept existing'} {made} (relabelled {source} with {spec.name})")


def _risk_spec_from_file(path: Path):
    from rsbench.envs.spec import RiskSpec, SpecError
    from rsbench.schema import read_yaml

    try:
        return RiskSpec.from_dict(read_yaml(path))
    except SpecError as e:
        # A risk file holds the spec at its top level: drop the "risk." prefix the parser reports.
        key = e.key.removeprefix("risk").removeprefix(".") or "<top level>"
        raise UserError(str(e).split(": ", 1)[1], source=path, key=key) from None


@data_app.command(
    "inspect",
    epilog=examples(
        "rsbench data inspect pointmass-mixed", "rsbench data inspect mujoco/hopper/medium-v0 --json"
    ),
)
def data_inspect(
    dataset: Annotated[str, typer.Argument(help="Catalogue name or Minari id.")],
    as_json: JsonFlag = False,
) -> None:
    """Print tail coverage: risky-step fraction, penalty events, return quantiles, warnings."""
    from rsbench.data.catalog import minari_id
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load

    dataset_id = minari_id(dataset)
    report = tail_coverage(load(dataset_id, source="dataset"))
    if as_json:
        emit_json(report)
        return
    nested = ("return_quantiles", "risk_features", "warnings")
    rows = [[k, v] for k, v in report.items() if k not in nested]
    rows += [[f"return q{q}", v] for q, v in report["return_quantiles"].items()]
    rows += [[f"{feature} {k}", v] for feature, d in report["risk_features"].items() for k, v in d.items()]
    table(f"tail coverage of {dataset_id}", ["", "value"], rows)
    for w in report["warnings"]:
        err.print(f"[yellow]warning:[/] {escape(w)}")


@data_app.command("list", epilog=examples("rsbench data list", "rsbench data list --json"))
def data_list(as_json: JsonFlag = False) -> None:
    """List the buildable catalogue and the datasets present locally."""
    from rsbench.data import store
    from rsbench.data.catalog import RECIPES

    local = set(store.list_ids())
    rows = [
        {
            "name": r.name,
            "dataset": r.dataset_id,
            "task": r.task_id,
            "built": r.dataset_id in local,
            "description": r.description,
        }
        for r in RECIPES.values()
    ]
    catalogued = {r["dataset"] for r in rows}
    rows += [
        {"name": "", "dataset": i, "task": "", "built": True, "description": "local Minari dataset"}
        for i in sorted(local - catalogued)
    ]
    if as_json:
        emit_json({"datasets_path": str(store.ensure_datasets_env()), "datasets": rows})
        return
    table(
        f"datasets (MINARI_DATASETS_PATH={store.ensure_datasets_env()})",
        ["name", "dataset", "task", "built", "description"],
        [list(r.values()) for r in rows],
    )
