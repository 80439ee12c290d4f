"""``rsbench run``: parse the flags and call :func:`rsbench.train.job.run_suite` (or ``resume_suite``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rsbench.cli.common import MethodFiles, SetFlags, app, emit_json, err, examples, say, table
from rsbench.cli.methods import trial_table
from rsbench.errors import ExitCode, UserError

if TYPE_CHECKING:
    from rsbench.train.job import SuiteOutcome


@app.command(
    "run",
    epilog=examples(
        "rsbench run suites/smoke.yaml",
        "rsbench run suites/smoke.yaml --set train.steps=200 --tracker tensorboard --json",
        "rsbench run --resume results/smoke-20250101-000000 --retry-failed",
        "rsbench run suites/pointmass.yaml --only cql,iqn   # a chunk; cut off: rsbench run --resume RUN",
        "rsbench run --resume RUN --only iqn_neutral        # add trials to the run (--only '*': the rest)",
    ),
)
def run_cmd(
    suite: Annotated[Path | None, typer.Argument(help="Suite YAML file (omit with --resume).")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue the run at this directory/URI: its trials without results run (of its --only "
            "selection, if it was started with one)."
        ),
    ] = None,
    overrides: SetFlags = None,
    name: Annotated[str | None, typer.Option(help="Run id (default SUITE-<UTC time>).")] = None,
    results: Annotated[
        str | None,
        typer.Option(help="Results root: a path or s3:// / gs:// URI (default <project>/results)."),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address ('auto'); default $RAY_ADDRESS, else a local Ray.")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(help="At most this many trials at once.", min=1)
    ] = None,
    max_failures: Annotated[int, typer.Option(help="Retries per trial from its last checkpoint.", min=0)] = 2,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="With --resume: rerun failed trials too.")
    ] = False,
    tracker: Annotated[
        list[str] | None,
        typer.Option(
            metavar="tensorboard|mlflow|wandb",
            help="Also log every trial's metrics to this tracker, inside the run directory (repeatable).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the trial table and exit.")] = False,
    only: Annotated[
        str | None,
        typer.Option(
            metavar="NAME[,NAME]",
            help="Run only these method labels, trial ids or patterns (`rsbench validate SUITE` lists the "
            "ids): a chunk of the suite, which a bare --resume continues. With --resume: add these trials.",
        ),
    ] = None,
    method_file: MethodFiles = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a summary as JSON on stdout: run dir, trial counts, failures."),
    ] = False,
) -> None:
    """Run a suite's trials on Ray Tune (local by default) and store their results."""
    from rsbench.train import job
    from rsbench.train.trackers import check_trackers

    _check_run_flags(suite, resume, overrides, name, results, retry_failed, method_file)
    trackers = check_trackers(tracker or [])  # before anything is written
    labels = [label.strip() for label in (only or "").split(",") if label.strip()]
    if dry_run:
        _dry_run(suite, resume, overrides or [], method_file or [], retry_failed, labels, as_json)
        return
    execution: dict[str, Any] = dict(
        trackers=trackers,
        address=address,
        max_concurrent=max_concurrent,
        max_failures=max_failures,
        console=err,
        log=say,
    )
    if resume is not None:
        outcome = job.resume_suite(resume, retry_failed=retry_failed, only=labels, **execution)
    else:
        assert suite is not None
        outcome = job.run_suite(
            suite,
            overrides=overrides or [],
            name=name,
            results=results,
            method_files=method_file or [],
            only=labels,
            **execution,
        )
    finish(outcome, as_json)


def _check_run_flags(
    suite: Path | None,
    resume: str | None,
    overrides: list[str] | None,
    name: str | None,
    results: str | None,
    retry_failed: bool,
    method_file: list[Path] | None,
) -> None:
    """Flags that do not apply are mistakes, not silently ignored."""
    if (suite is None) == (resume is None):
        raise UserError("give a SUITE file or --resume RUN (not both)", key="SUITE")
    if resume is None and retry_failed:
        raise UserError("applies only with --resume RUN (failed trials of that run)", key="--retry-failed")
    if resume is not None:
        for flag, given in (("--set", overrides), ("--name", name), ("--results", results)):
            if given:
                raise UserError(f"a resumed run keeps its suite and directory; drop {flag}", key=flag)
        if method_file:
            raise UserError("a resumed run uses the method files it was started with", key="--method-file")


def _dry_run(
    suite: Path | None,
    resume: str | None,
    overrides: list[str],
    method_files: list[Path],
    retry_failed: bool,
    only: list[str],
    as_json: bool,
) -> None:
    """The trials a run would run, nothing started (a resumed run's manifest is stamped as resumed)."""
    from rsbench.train import job
    from rsbench.train.plan import resume_run

    if resume is not None:
        plan = resume_run(resume, retry_failed=retry_failed, only=only, dry_run=True)
        title, trials = f"{plan.store.root.uri}: {len(plan.pending)} trials to run (dry run)", plan.pending
    else:
        assert suite is not None
        trials = job.dry_run(suite, overrides=overrides, method_files=method_files, only=only)
        title = f"{suite}: {len(trials)} trials (dry run, nothing started)"
    if as_json:
        emit_json({"dry_run": True, "trials": [t.to_dict() for t in trials]})
    else:
        trial_table(title, trials)


def finish(outcome: SuiteOutcome, as_json: bool) -> None:
    """Print the job's summary (a table, or JSON on stdout) and exit 3 if the run is incomplete."""
    counts, where = outcome.counts, outcome.run_dir
    if as_json:
        emit_json(outcome.to_dict())
    else:
        print_run_summary(outcome.plan)
    say(
        f"{counts['finished']} finished, {counts['failed']} failed, {counts['missing']} missing; "
        f"results written to {where}"
    )
    say(f"render the report: rsbench report {where}")
    for trial, error in outcome.failures.items():
        say(f"failed: {trial}: {error}")
    if counts["missing"]:
        say(f"{counts['missing']} trials have no result; continue with: rsbench run --resume {where}")
    if counts.get("unselected"):
        say(
            f"{counts['unselected']} trials of the suite are outside this run's --only; add some with: "
            f"rsbench run --resume {where} --only NAME"
        )
    if outcome.exit_code != ExitCode.OK:
        raise typer.Exit(outcome.exit_code)


def print_run_summary(plan: Any) -> None:
    """The means over seeds per method, task and risk setting of the run ``plan`` wrote."""
    from rsbench.results.store import load_run
    from rsbench.results.tables import cvar_column, per_seed, seed_means

    run = load_run(plan.store.root)
    if run.episodes.empty:
        return
    alphas = plan.suite.eval.alphas
    means = seed_means(per_seed(run.episodes, alphas, plan.suite.eval.distortions), alphas)
    cvars = [cvar_column(a) for a in alphas] + [str(d) for d in plan.suite.eval.distortions]
    table(
        f"{run.run_id}: means over seeds",
        [
            "method",
            "task",
            "risk",
            "seeds",
            "mean return",
            *(c.replace("cvar_", "CVaR_") for c in cvars),
            "violation rate",
        ],
        [
            [
                r["method"],
                r["task"],
                r["risk"],
                r["seeds"],
                r["mean_return"],
                *(r[c] for c in cvars),
                r["violation_rate"],
            ]
            for r in means.to_dict("records")
        ],
    )
