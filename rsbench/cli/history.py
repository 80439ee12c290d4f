"""``rsbench history``: many nights of one suite, their trends, change points and verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsbench.cli.common import JsonFlag, app, emit_json, examples, say, table
from rsbench.errors import ExitCode


@app.command(
    "history",
    epilog=examples(
        "rsbench history results --suite nightly",
        "rsbench history results --suite nightly --baseline baselines/nightly --out reports/nightly-history",
        "rsbench history results/nightly-20250101-030000 results/nightly-20250102-030000 --json",
    ),
)
def history_cmd(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Runs, or directories of runs (every run in one), of one suite; ordered by start."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Page directory (default <project>/reports/<suite>-history).")
    ] = None,
    as_json: JsonFlag = False,
    baseline: Annotated[
        Path | None, typer.Option(help="Pinned baseline: each night's regress verdicts beside its values.")
    ] = None,
    suite: Annotated[
        str | None, typer.Option(help="The suite's name, when the directories hold runs of several.")
    ] = None,
    alpha: Annotated[
        float,
        typer.Option(
            help="Chance of any change reported in a history without one (BH).", min=0.0001, max=0.5
        ),
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the permutations' numpy Generator.")] = 0,
) -> None:
    """Trends over nights, change points and the commits that bracket them; HTML, Markdown and JSON.
    Exit 1 when a change point falls on the newest night."""
    from rsbench.paths import project_root
    from rsbench.report.history import build_history, change_rows, render_history

    found = build_history(runs, suite=suite, baseline=baseline, alpha=alpha, seed=seed)
    report = render_history(found, out or project_root() / "reports" / f"{found.suite}-history")
    if as_json:
        emit_json({**found.to_dict(), "index": str(report.index), "markdown": str(report.markdown)})
    else:
        rows = change_rows(found)
        table(
            f"{len(rows)} change point(s) over {len(found.nights)} nights of {found.suite}",
            ["first night after", "last night before", "task", "group", "metric", "shift [95% CI]", "p"],
            [
                [r["first_after"], r["last_before"], r["task"], r["group"], r["metric"], r["shift"], r["p"]]
                for r in rows
            ],
        )
    for note in found.notes:
        say(f"note: {note}")
    say(f"history written to {report.index} (history.md, history.json, {len(report.figures)} figures)")
    raise typer.Exit(ExitCode.FINDING if found.change_in_newest_night() else ExitCode.OK)
