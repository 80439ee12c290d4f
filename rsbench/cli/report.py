"""``rsbench report`` (HTML + Markdown leaderboard), ``rsbench regress`` (nightly verdicts) and
``rsbench baseline pin``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rsbench.cli.common import JsonFlag, app, emit_json, examples, say, table
from rsbench.errors import UserError

baseline_app = typer.Typer(
    help="Pinned baselines for nightly regression.",
    epilog=examples("rsbench baseline pin results/RUN --to baselines/smoke"),
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")


@app.command(
    "report",
    epilog=examples(
        "rsbench report results/smoke-20250101-000000",
        "rsbench report results/night-1 results/night-2 --out reports/both --json",
        "rsbench report results/RUN --compare rs_diffuser@cvar:0.1,rs_diffuser@neutral",
        "rsbench report results/MY_RUN baselines/smoke   # a new method among the pinned ones",
    ),
)
def report_cmd(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run directories or URIs, or pinned baselines (baselines/X); several merge into one leaderboard."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Report directory (default <project>/reports/<run>).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report's paths as JSON on stdout.")
    ] = False,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            metavar="A,B",
            help="A planned comparison, stated in the report whether significant or not (Holm over the planned "
            "ones); A and B are METHOD[@RISK][[KEY=VALUE,...]], e.g. rs@cvar:0.1[candidates=1]. Repeatable.",
        ),
    ] = None,
) -> None:
    """Render index.html, leaderboard.md and PNG figures for one or more runs."""
    from rsbench.paths import project_root
    from rsbench.report.render import render_report
    from rsbench.results.store import load_run

    loaded = [load_run(r) for r in runs]
    target = out or project_root() / "reports" / "+".join(r.run_id for r in loaded)
    report = render_report(loaded, target, compare=compare or [])
    if as_json:
        emit_json(
            {
                "runs": [r.uri for r in loaded],
                "report_dir": str(target),
                "index": str(report.index),
                "leaderboard": str(report.markdown),
                "figures": [str(f) for f in report.figures],
                "seconds": round(report.seconds, 3),
            }
        )
    say(f"report written to {report.index} ({len(report.figures)} figures, {report.seconds:.1f} s)")
    say(f"leaderboard: {report.markdown}")
    for line in report.planned:
        say(f"planned: {line}")


@app.command(
    "regress",
    epilog=examples(
        "rsbench regress results/nightly-20250102-030000 --baseline baselines/smoke",
        "rsbench regress results/nightly-20250102-030000 --baseline baselines/smoke --alpha 0.01 --json",
    ),
)
def regress_cmd(
    run: Annotated[str, typer.Argument(help="The run to check (directory or URI).")],
    baseline: Annotated[
        Path | None, typer.Option(help="Pinned baseline directory, e.g. baselines/smoke.")
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(help="A directory of earlier nights: adds a rolling baseline beside the pinned one."),
    ] = None,
    last: Annotated[
        int, typer.Option(help="Nights in the rolling baseline (the last that passed).", min=1)
    ] = 7,
    alpha: Annotated[
        float, typer.Option(help="Level of each test (BH over the family).", min=0.0001, max=0.49)
    ] = 0.05,
    out: Annotated[
        Path | None, typer.Option(help="Where regression.md/json go (default: beside the run).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Nightly verdicts against a pinned baseline (and, with --history, a rolling one of the last nights that
    passed): exit 1 on any REGRESSION, 0 otherwise."""
    from rsbench.report.history import nightly_verdicts
    from rsbench.results.fs import locate
    from rsbench.results.store import load_run

    if baseline is None and history is None:
        raise UserError("expected --baseline DIR, --history DIR or both", key="--baseline")
    loaded = load_run(run)
    target = locate(out or (loaded.uri if "://" not in loaded.uri else Path.cwd()))
    judged = nightly_verdicts(
        loaded, target, baseline=baseline, history=history, last=last, alpha=alpha, note=say
    )
    for v in judged:
        if not as_json:
            Console(width=200).print(v.markdown, markup=False, highlight=False)  # Markdown rows stay one line
        say(f"verdicts written to {v.written} and {v.name}.json")
    code = max(v.exit_code for v in judged)
    if as_json:
        baselines = [v.to_dict() for v in judged]
        emit_json({"run": loaded.uri, "alpha": alpha, "baselines": baselines, "exit_code": code})
    raise typer.Exit(code)


@baseline_app.command(
    "pin",
    epilog=examples(
        "rsbench baseline pin results/smoke-20250101-000000 --to baselines/smoke",
        "rsbench baseline pin results/smoke-20250101-000000 --to baselines/smoke --json",
        "rsbench baseline pin results/locomotion-hopper-q --to baselines/locomotion   # one chunk of a pin",
    ),
)
def baseline_pin(
    run: Annotated[str, typer.Argument(help="The run whose finished trials are pinned.")],
    to: Annotated[Path, typer.Option(help="Baseline directory, e.g. baselines/smoke.")],
    as_json: JsonFlag = False,
) -> None:
    """Pin a run's finished trials (suite, per-episode records, trial records, provenance) as a baseline that
    report ranks with and regress compares against; a run of the same suite and protocol adds a chunk to an
    existing pin, replacing the trials it re-ran."""
    from rsbench.report.regress import pin
    from rsbench.results.pins import describe
    from rsbench.results.store import load_run

    loaded = load_run(run)
    path = pin(loaded, to)
    if as_json:
        meta: dict[str, Any] = json.loads(path.read_text())
        emit_json(
            {
                "baseline": str(path.parent),
                "files": sorted(p.name for p in path.parent.iterdir() if not p.name.startswith(".")),
                "run": meta.get("run_id"),
                "metrics": meta.get("metrics"),
                "pinned": meta.get("pinned"),
                "chunks": [{"run": c["run_id"], "trials": c["trials"]} for c in meta.get("chunks", [])],
            }
        )
    say(f"pinned run {loaded.run_id} into {path.parent}: {describe(path.parent)}")


@baseline_app.command(
    "status",
    epilog=examples(
        "rsbench baseline status baselines/locomotion",
        "rsbench baseline status baselines/locomotion --json",
    ),
)
def baseline_status(
    where: Annotated[Path, typer.Argument(help="Baseline directory, e.g. baselines/locomotion.")],
    as_json: JsonFlag = False,
) -> None:
    """What a pin holds of its suite: seeds pinned per method and task, the chunks it was built from, and the
    --only names of the trials still to run."""
    from rsbench.results.pins import status

    st = status(where)
    only = st.only()
    if as_json:
        emit_json({"baseline": str(where), "suite": st.suite, "cells": st.cells, "chunks": st.chunks,
                   "missing": st.missing, "only": only})  # fmt: skip
        return
    tasks = list(dict.fromkeys(c["task"] for c in st.cells))
    methods = list(dict.fromkeys(c["method"] for c in st.cells))
    cell = {(c["method"], c["task"]): f"{len(c['pinned'])}/{len(c['seeds'])}" for c in st.cells}
    table(f"{where}: seeds pinned", ["method", *tasks],
          [[m, *(cell.get((m, t), "") for t in tasks)] for m in methods])  # fmt: skip
    table("chunks, in pinning order", ["run", "trials", "pinned", "commit"],
          [[c["run"], c["trials"], c["pinned"], (c["commit"] or "?")[:7]] for c in st.chunks])  # fmt: skip
    if only:
        say(f"{len(st.missing)} trials of suite {st.suite} not pinned: --only '{','.join(only)}'")
        say(f"run a chunk at a time, e.g.: rsbench run {where / 'suite.yaml'} --only '{only[0]}'")
    else:
        say(f"every trial of suite {st.suite} is pinned")
