"""``rsbench validate`` (a suite file and its trials) and ``rsbench methods`` (the method registry)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rsbench.cli import common
from rsbench.cli.common import (
    JsonFlag,
    MethodFiles,
    SetFlags,
    app,
    emit_json,
    examples,
    load_method_files,
    open_suite,
    say,
    table,
    yaml_value,
)

if TYPE_CHECKING:
    from rsbench.suite import Trial


@app.command(
    epilog=examples(
        "rsbench validate suites/smoke.yaml",
        "rsbench validate suites/smoke.yaml --set eval.episodes=20 --set seeds=[0,1,2] --json",
        "rsbench validate my_suite.yaml --method-file my_method.py --against baselines/smoke",
    )
)
def validate(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file.")],
    overrides: SetFlags = None,
    method_file: MethodFiles = None,
    against: Annotated[
        Path | None,
        typer.Option(
            help="A pinned baseline (e.g. baselines/smoke): check, before any training, that a run of this suite "
            "will be ranked with it (same protocol, its tasks pinned)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a suite file strictly (method names and configs included) and print its trials; with --against,
    that its runs compare with a pinned baseline."""
    from rsbench.results.pins import check_against

    load_method_files(method_file)
    s = open_suite(suite, overrides or [])
    matched = check_against(s.to_dict(), against, source=suite) if against is not None else None
    trials = s.trials()
    if as_json:
        emit_json(
            {
                "suite": s.name,
                "file": str(suite),
                "digest": s.digest(),
                "trials": [t.to_dict() for t in trials],
                **({"against": {"baseline": str(against), **matched}} if matched else {}),
            }
        )
        return
    trial_table(f"{suite}: suite '{s.name}' is valid, {len(trials)} trials", trials)
    if matched:
        say(matched["summary"])


def sweep_cell(trial: Trial) -> str:
    """The trial's training sweep point and how many inference-time points it is evaluated at."""
    from rsbench.results.tables import sweep_suffix

    evals = [p for p in trial.evals if p]
    text = sweep_suffix(trial.sweep).strip()
    more = f"{len(evals)} inference points" if evals else ""
    return " x ".join(x for x in (text, more) if x)


def trial_table(title: str, trials: list[Trial]) -> None:
    """The trials, one row each; the headers are the results store's column names (``algo``: the method)."""
    table(
        title,
        ["trial", "algo", "task", "dataset", "seed", "steps", "risk", "sweep"],
        [
            [t.id, t.method_name, t.task, t.dataset, t.seed, t.steps, ", ".join(t.risks), sweep_cell(t)]
            for t in trials
        ],
    )


@app.command(epilog=examples("rsbench methods", "rsbench methods rs_diffuser --json"))
def methods(
    name: Annotated[str | None, typer.Argument(help="Show one method's config fields in full.")] = None,
    method_file: MethodFiles = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registered methods with their config fields and defaults.

    Defaults print as YAML values, so a row pastes into a suite's ``config:`` block as it is.
    """
    from rich.markup import escape

    from rsbench.methods import available
    from rsbench.methods.registry import describe

    load_method_files(method_file)
    names = [name] if name else available()
    info = [describe(n) for n in names]
    if as_json:
        emit_json(info)
        return
    for m in info:
        risk = "risk-aware (act takes a risk setting)" if m["risk_aware"] else "risk setting fixed"
        details = escape(f"{m['class']}; {risk}; {m['paper']}")
        common.out.print(f"[bold]{escape(m['name'])}[/bold]  {escape(m['summary'])}  [dim]{details}[/dim]")
        table(
            "",
            ["field", "default", "inference", "description"],
            [
                [f["name"], yaml_value(f["default"]), "yes" if f["inference"] else "", f["doc"]]
                for f in m["config"]
            ],
        )
