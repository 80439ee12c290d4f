"""The ``rsbench`` command. User mistakes end in one line on stderr and exit code 2, never a traceback.

Every command ends with one of the exit codes of :data:`rsbench.errors.EXIT_CODES` (0 ok, 1 REGRESSION or
change point, 2 usage or bad data, 3 incomplete run); every ``--help`` shows an example and that table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import rsbench
from rsbench.behaviour.cli import behaviour_app
from rsbench.errors import ExitCode, UserError, exit_codes_help
from rsbench.errors import examples as _examples

if TYPE_CHECKING:
    from rsbench.suite import Trial


def _polish(command: Any, ctx: Any) -> None:
    """Flags take no value, so their help row shows no type (typer would print ``<bool>``); every command's
    help ends with the exit-code table. Applied to the whole tree, so command groups added later get it too."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    table = exit_codes_help()
    if table not in (command.epilog or ""):
        command.epilog = f"{command.epilog}\n\n{table}" if command.epilog else table
    for sub in getattr(command, "commands", {}).values():
        _polish(sub, ctx)


class _Group(typer.core.TyperGroup):
    """The root command: polishes the help of itself and of every subcommand it resolves."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _polish(command, ctx)
        return command


app = typer.Typer(
    cls=_Group,
    help="Benchmark and evaluation suite for risk-sensitive offline RL.",
    epilog=_examples(
        "rsbench validate suites/smoke.yaml",
        "rsbench run suites/smoke.yaml --json",
        "rsbench report results/RUN",
        "rsbench regress results/RUN --baseline baselines/smoke",
    )
    + "\n\n"
    + exit_codes_help(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(
    help="Tail-risk datasets: build, relabel, inspect, list.",
    epilog=_examples("rsbench data build pointmass-mixed", "rsbench data inspect pointmass-mixed"),
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
baseline_app = typer.Typer(
    help="Pinned baselines for nightly regression.",
    epilog=_examples("rsbench baseline pin results/RUN --to baselines/smoke"),
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")
app.add_typer(behaviour_app, name="behaviour")

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the same data as JSON.")]
MethodFiles = Annotated[
    list[Path] | None,
    typer.Option("--method-file", help="A Python file that registers a method (repeatable)."),
]
SetFlags = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Override one suite value, checked as strictly as the file (repeatable), e.g. eval.episodes=20.",
    ),
]


def _load_method_files(files: list[Path] | None) -> None:
    from rsbench.methods import load_method_file

    for f in files or []:
        load_method_file(f)


def yaml_value(value: Any) -> str:
    """``value`` as one line of YAML (flow style) that parses back to it: ``[64, 64]``, ``null``, ``true``."""
    import yaml

    plain = json.loads(json.dumps(value, default=str))  # tuples -> lists, as YAML has no tuples
    return yaml.safe_dump(plain, default_flow_style=True, width=10**6).removesuffix("\n...\n").strip()


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for r in rows:
        # Cells are data ("[low, high]", YAML lists), never rich markup.
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else escape(str(v)) for v in r))
    out.print(table)


def _version(value: bool) -> None:
    if value:
        out.print(f"rsbench {rsbench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Benchmark and evaluation suite for risk-sensitive offline RL."""


@app.command(
    epilog=_examples(
        "rsbench validate suites/smoke.yaml",
        "rsbench validate suites/smoke.yaml --set eval.episodes=20 --set seeds=[0,1,2] --json",
    )
)
def validate(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file.")],
    overrides: SetFlags = None,
    method_file: MethodFiles = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a suite file strictly (method names and configs included) and print its trials."""
    _load_method_files(method_file)
    s = _open_suite(suite, overrides or [])
    trials = s.trials()
    if as_json:
        _emit_json(
            {
                "suite": s.name,
                "file": str(suite),
                "digest": s.digest(),
                "trials": [t.to_dict() for t in trials],
            }
        )
        return
    _trial_table(f"{suite}: suite '{s.name}' is valid, {len(trials)} trials", trials)


def _open_suite(path: Path, overrides: list[str]) -> Any:
    """The suite at ``path`` with its ``--set`` overrides, through every check (``validate_suite``)."""
    from rsbench.suite import load_suite, validate_suite

    suite = load_suite(path, overrides=overrides)
    validate_suite(suite, source=path, overrides=overrides)
    return suite


def _sweep_cell(trial: Trial) -> str:
    """The trial's training sweep point and how many inference-time points it is evaluated at."""
    from rsbench.results.tables import sweep_suffix

    evals = [p for p in trial.evals if p]
    text = sweep_suffix(trial.sweep).strip()
    more = f"{len(evals)} inference points" if evals else ""
    return " x ".join(x for x in (text, more) if x)


def _trial_table(title: str, trials: list[Trial]) -> None:
    # The headers are the results store's column names (``algo``: the registered method).
    _table(
        title,
        ["trial", "algo", "task", "dataset", "seed", "steps", "risk", "sweep"],
        [
            [
                t.id,
                t.method_name,
                t.task,
                t.dataset,
                t.seed,
                t.steps,
                ", ".join(t.risks),
                _sweep_cell(t),
            ]
            for t in trials
        ],
    )


@app.command(epilog=_examples("rsbench methods", "rsbench methods rs_diffuser --json"))
def methods(
    name: Annotated[str | None, typer.Argument(help="Show one method's config fields in full.")] = None,
    method_file: MethodFiles = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registered methods with their config fields and defaults.

    Defaults print as YAML values, so a row pastes into a suite's ``config:`` block as it is.
    """
    from rsbench.methods import available
    from rsbench.methods.registry import describe

    _load_method_files(method_file)
    names = [name] if name else available()
    info = [describe(n) for n in names]
    if as_json:
        _emit_json(info)
        return
    for m in info:
        risk = "risk-aware (act takes a risk setting)" if m["risk_aware"] else "risk setting fixed"
        out.print(f"[bold]{m['name']}[/bold]  {m['summary']}  [dim]{m['class']}; {risk}; {m['paper']}[/dim]")
        _table(
            "",
            ["field", "default", "inference", "description"],
            [
                [f["name"], yaml_value(f["default"]), "yes" if f["inference"] else "", f["doc"]]
                for f in m["config"]
            ],
        )


@data_app.command(
    "build",
    epilog=_examples(
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
        _emit_json({"dataset": dataset_id, "built": built, "path": str(path), "content_hash": digest})
    elif built:
        out.print(f"built {dataset_id} at {path} (content hash {digest})")
    else:
        out.print(f"{dataset_id} already exists at {path} (content hash {digest}; --force rebuilds it)")


@data_app.command(
    "relabel",
    epilog=_examples(
        "rsbench data relabel mujoco/hopper/medium-v0 --task rsbench/RiskyHopper-v0",
        "rsbench data relabel rsbench/pointmass-mixed-v1 --risk-file my_risk.yaml --out me/pointmass-mine-v0",
    ),
)
def data_relabel(
    source: Annotated[str, typer.Argument(help="Minari id of a local dataset to relabel.")],
    task: Annotated[str | None, typer.Option(help="Risky task whose pinned spec to apply.")] = None,
    risk_file: Annotated[
        Path | None, typer.Option(help="YAML file with a user risk spec (when/penalty/prob).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Salt of the penalty draws (0 matches the online env).")] = 0,
    out_id: Annotated[str | None, typer.Option("--out", help="Id of the new dataset.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the new dataset if it exists.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rewrite a dataset's rewards with a risk spec and add per-step violation/penalty flags."""
    from rsbench.data.relabel import relabel, task_for_env
    from rsbench.envs import SPECS, TASKS

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
    new_id, written = relabel(source, spec, task_id=task, seed=seed, new_id=out_id, force=force)
    if as_json:
        _emit_json({"dataset": new_id, "written": written, "source": source, "risk_spec": spec.to_dict()})
    else:
        out.print(
            f"{'wrote' if written else 'kept existing'} {new_id} (relabelled {source} with {spec.name})"
        )


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
    epilog=_examples(
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
        _emit_json(report)
        return
    nested = ("return_quantiles", "risk_features", "warnings")
    rows = [[k, v] for k, v in report.items() if k not in nested]
    rows += [[f"return q{q}", v] for q, v in report["return_quantiles"].items()]
    rows += [[f"{feature} {k}", v] for feature, d in report["risk_features"].items() for k, v in d.items()]
    _table(f"tail coverage of {dataset_id}", ["", "value"], rows)
    for w in report["warnings"]:
        err.print(f"[yellow]warning:[/] {w}")


@data_app.command("list", epilog=_examples("rsbench data list", "rsbench data list --json"))
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
        _emit_json({"datasets_path": str(store.ensure_datasets_env()), "datasets": rows})
        return
    _table(
        f"datasets (MINARI_DATASETS_PATH={store.ensure_datasets_env()})",
        ["name", "dataset", "task", "built", "description"],
        [list(r.values()) for r in rows],
    )


@app.command(
    "run",
    epilog=_examples(
        "rsbench run suites/smoke.yaml",
        "rsbench run suites/smoke.yaml --set train.steps=200 --tracker tensorboard --json",
        "rsbench run --resume results/smoke-20250101-000000 --retry-failed",
        "rsbench run suites/pointmass.yaml --only cql,iqn   # the rest later: rsbench run --resume RUN",
    ),
)
def run_cmd(
    suite: Annotated[Path | None, typer.Argument(help="Suite YAML file (omit with --resume).")] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue the run at this directory/URI: only trials without results run."),
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
            help="Run only these method labels or trial ids (`rsbench validate SUITE` lists them) now; the "
            "others stay pending for --resume.",
        ),
    ] = None,
    method_file: MethodFiles = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a summary as JSON on stdout: run dir, trial counts, failures."),
    ] = False,
) -> None:
    """Run a suite's trials on Ray Tune (local by default) and store their results."""
    from rsbench.train.trackers import check_trackers

    _check_run_flags(suite, resume, overrides, name, results, retry_failed, method_file)
    trackers = check_trackers(tracker or [])
    _load_method_files(method_file)
    labels = [label.strip() for label in (only or "").split(",") if label.strip()]
    plan = _plan_run(
        suite, resume, overrides or [], name, results, retry_failed, method_file, dry_run, as_json, labels
    )
    if plan is None or dry_run:
        return
    where = plan.store.root.uri
    err.print(
        f"run {plan.store.run_id}: {len(plan.pending)} of {len(plan.trials)} trials to run, results in {where}"
    )
    if plan.pending:
        _record_datasets(plan, _prepare_datasets(plan.pending))
        _run_on_ray(plan, trackers, address=address, max_concurrent=max_concurrent, max_failures=max_failures)
    _finish(plan, trackers, as_json)


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


def _plan_run(
    suite: Path | None,
    resume: str | None,
    overrides: list[str],
    name: str | None,
    results: str | None,
    retry_failed: bool,
    method_file: list[Path] | None,
    dry_run: bool,
    as_json: bool,
    only: list[str],
) -> Any:
    """The run to execute (None after a dry run of a new suite, which creates nothing); with ``only``, its
    pending trials are those of the given method labels."""
    from rsbench.paths import project_root
    from rsbench.train.plan import new_run, resume_run
    from rsbench.train.trials import only_methods, run_trials

    files = [str(Path(f).resolve()) for f in method_file or []]
    if resume is not None:
        plan = resume_run(resume, retry_failed=retry_failed, only=only)
        if dry_run:
            _show_trials(
                f"{plan.store.root.uri}: {len(plan.pending)} trials to run (dry run)", plan.pending, as_json
            )
        return plan
    assert suite is not None
    s = _open_suite(suite, overrides)
    if dry_run:
        trials = only_methods(run_trials(s, "", files), only, s, listing=f"rsbench validate {suite}")
        _show_trials(f"{suite}: {len(trials)} trials (dry run, nothing started)", trials, as_json)
        return None
    return new_run(
        s, suite, results=results or str(project_root() / "results"), name=name, method_files=files, only=only
    )


def _show_trials(title: str, trials: list[Trial], as_json: bool) -> None:
    if as_json:
        _emit_json({"dry_run": True, "trials": [t.to_dict() for t in trials]})
    else:
        _trial_table(title, trials)


def _finish(plan: Any, trackers: list[str], as_json: bool) -> None:
    """Stamp the run, print its summary (a table, or JSON on stdout) and exit 3 if it is incomplete."""
    from rsbench.train.plan import finish_run

    counts = finish_run(plan)
    failures = _failures(plan)
    where = plan.store.root.uri
    code = ExitCode.INCOMPLETE if counts["failed"] or counts["missing"] else ExitCode.OK
    if as_json:
        _emit_json(
            {
                "run": plan.store.run_id,
                "run_dir": where,
                "trials": counts,
                "failed": failures,
                "trackers": trackers,
                "report": f"rsbench report {where}",
                "resume": f"rsbench run --resume {where}" if counts["missing"] else None,
                "exit_code": int(code),
            }
        )
    else:
        _print_run_summary(plan)
    _say(
        f"{counts['finished']} finished, {counts['failed']} failed, {counts['missing']} missing; results written to {where}"
    )
    _say(f"render the report: rsbench report {where}")
    for trial, error in failures.items():
        _say(f"failed: {trial}: {error}")
    if counts["missing"]:
        _say(f"{counts['missing']} trials have no result; continue with: rsbench run --resume {where}")
    if code != ExitCode.OK:
        raise typer.Exit(code)


def _say(text: str) -> None:
    """One plain line on stderr (paths and ids are never read as rich markup)."""
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def _prepare_datasets(trials: list[Trial]) -> dict[str, dict[str, Any]]:
    """Build missing catalogue datasets once in the driver (trials on other nodes build their own); returns
    each task's dataset tail coverage, which the report's warnings read."""
    from rsbench.data.build import ensure_dataset
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load

    coverage = {}
    for task, name in sorted({(t.task, t.dataset) for t in trials}):
        coverage[task] = tail_coverage(load(ensure_dataset(name, progress=True)))
    return coverage


def _record_datasets(plan: Any, coverage: dict[str, dict[str, Any]]) -> None:
    info = plan.store.read_manifest()
    info.setdefault("datasets", {}).update(coverage)
    plan.store.write_manifest(info)


def _run_on_ray(plan: Any, trackers: list[str], **options: Any) -> None:
    from rsbench.train.progress import LiveTable
    from rsbench.train.trackers import tracker_callbacks
    from rsbench.train.tune import run_tune

    table = LiveTable(plan.pending, console=err)
    try:
        run_tune(plan, progress=table, callbacks=tracker_callbacks(trackers, plan), **options)
    finally:
        table.stop()


def _failures(plan: Any) -> dict[str, str]:
    """``trial -> error`` of the run's failed trials."""
    from rsbench.results.store import load_run

    trials = load_run(plan.store.root).trials
    if trials.empty:
        return {}
    failed = trials[trials["status"] == "failed"]
    return dict(zip(failed["trial"], failed["error"], strict=True))


def _print_run_summary(plan: Any) -> None:
    from rsbench.results.store import load_run
    from rsbench.results.tables import cvar_column, per_seed, seed_means

    run = load_run(plan.store.root)
    if run.episodes.empty:
        return
    alphas = plan.suite.eval.alphas
    means = seed_means(per_seed(run.episodes, alphas, plan.suite.eval.distortions), alphas)
    cvars = [cvar_column(a) for a in alphas] + [str(d) for d in plan.suite.eval.distortions]
    _table(
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


@app.command(
    "report",
    epilog=_examples(
        "rsbench report results/smoke-20250101-000000",
        "rsbench report results/night-1 results/night-2 --out reports/both --json",
        "rsbench report results/RUN --compare rs_diffuser@cvar:0.1,rs_diffuser@neutral",
    ),
)
def report_cmd(
    runs: Annotated[
        list[str], typer.Argument(help="Run directories or URIs; several merge into one leaderboard.")
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
        _emit_json(
            {
                "runs": [r.uri for r in loaded],
                "report_dir": str(target),
                "index": str(report.index),
                "leaderboard": str(report.markdown),
                "figures": [str(f) for f in report.figures],
                "seconds": round(report.seconds, 3),
            }
        )
    _say(f"report written to {report.index} ({len(report.figures)} figures, {report.seconds:.1f} s)")
    _say(f"leaderboard: {report.markdown}")
    for line in report.planned:
        _say(f"planned: {line}")


@app.command(
    "regress",
    epilog=_examples(
        "rsbench regress results/nightly-20250102-030000 --baseline baselines/smoke",
        "rsbench regress results/nightly-20250102-030000 --baseline baselines/smoke --alpha 0.01",
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
) -> None:
    """Nightly verdicts against a pinned baseline (and, with --history, a rolling one of the last nights that
    passed): exit 1 on any REGRESSION, 0 otherwise."""
    from rsbench.report.history import NoRollingBaseline, regress_rolling
    from rsbench.report.regress import exit_code, markdown, regress
    from rsbench.results.fs import locate
    from rsbench.results.store import load_run

    if baseline is None and history is None:
        raise UserError("expected --baseline DIR, --history DIR or both", key="--baseline")
    loaded = load_run(run)
    target = locate(out or (loaded.uri if "://" not in loaded.uri else Path.cwd()))
    tables = []
    if baseline is not None:
        tables.append(("regression", regress(loaded, baseline, alpha=alpha), str(baseline)))
    if history is not None:
        try:
            rows, label = regress_rolling(loaded, history, last, pinned=baseline, alpha=alpha)
            tables.append(("regression-rolling", rows, label))
        except NoRollingBaseline as exc:
            if baseline is None:
                raise
            _say(f"note: no rolling baseline yet ({exc.detail}); the pinned one alone judges this night")
    codes = []
    for name, rows, label in tables:
        text = markdown(rows, loaded, label)
        (target / f"{name}.md").write_text(text)
        (target / f"{name}.json").write_text(json.dumps([r.to_dict() for r in rows], indent=2, default=str))
        Console(width=200).print(text, markup=False, highlight=False)
        _say(f"verdicts written to {(target / f'{name}.md').uri} and {name}.json")
        codes.append(exit_code(rows))
    raise typer.Exit(max(codes))


@app.command(
    "history",
    epilog=_examples(
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
        _emit_json({**found.to_dict(), "index": str(report.index), "markdown": str(report.markdown)})
    else:
        rows = change_rows(found)
        _table(
            f"{len(rows)} change point(s) over {len(found.nights)} nights of {found.suite}",
            ["first night after", "last night before", "task", "group", "metric", "shift [95% CI]", "p"],
            [
                [r["first_after"], r["last_before"], r["task"], r["group"], r["metric"], r["shift"], r["p"]]
                for r in rows
            ],
        )
    for note in found.notes:
        _say(f"note: {note}")
    _say(f"history written to {report.index} (history.md, history.json, {len(report.figures)} figures)")
    raise typer.Exit(ExitCode.FINDING if found.change_in_newest_night() else ExitCode.OK)


@baseline_app.command(
    "pin", epilog=_examples("rsbench baseline pin results/smoke-20250101-000000 --to baselines/smoke")
)
def baseline_pin(
    run: Annotated[str, typer.Argument(help="The run whose per-seed metrics become the baseline.")],
    to: Annotated[Path, typer.Option(help="Baseline directory, e.g. baselines/smoke.")],
) -> None:
    """Store a run's per-seed metrics and provenance as the baseline nightly runs are compared with."""
    from rsbench.report.regress import pin
    from rsbench.results.store import load_run

    path = pin(load_run(run), to)
    err.print(f"baseline pinned to {path.parent} (per_seed.csv, baseline.json)")


@app.command(
    "critic",
    epilog=_examples(
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


@app.command(
    "eval",
    epilog=_examples(
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
    import numpy as np

    if run is not None:
        _reject_flags(
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
    from rsbench.envs import TASKS
    from rsbench.eval.policies import load_policy_file, scripted_policy
    from rsbench.eval.rollout import evaluate
    from rsbench.eval.summary import summarize
    from rsbench.risk import RiskSetting

    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", key="--task")
    settings = [_parse(RiskSetting.parse, r, "--risk") for r in risk.split(",") if r.strip()] or [None]
    levels = tuple(_parse(float, a, "--alphas") for a in alphas.split(","))
    if not all(0 < a <= 1 for a in levels):
        raise UserError(f"expected levels in (0, 1], got {alphas}", key="--alphas")
    fn = load_policy_file(policy_file) if policy_file else scripted_policy(str(policy), task, seed)
    refs = task_reference_scores(task)
    results: list[dict[str, Any]] = []
    for setting in settings:
        eps = evaluate(fn, task, episodes, seed=seed, risk=setting)
        rows = summarize(eps, levels, rng=np.random.default_rng(seed))
        metrics = [r.to_dict() for r in rows] + _normalised_rows(rows, refs)
        results.append({"risk": str(setting or "none"), "metrics": metrics})
    name = policy_file or policy
    if as_json:
        _emit_json({"policy": name, "task": task, "episodes": episodes, "seed": seed, "results": results})
        return
    for res in results:
        _table(
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


def _normalised_rows(rows: list[Any], refs: dict[str, float] | None) -> list[dict[str, Any]]:
    """The mean return and its interval as a normalised score, where the task has reference scores."""
    import numpy as np

    from rsbench.eval.metrics import NORMALISED_SCORE_REFERENCES, normalised_score

    if refs is None:
        return []
    mean = next(r for r in rows if r.metric == "mean_return")
    estimate, low, high = np.asarray(
        normalised_score([mean.estimate, mean.low, mean.high], refs["ref_min_score"], refs["ref_max_score"])
    )
    return [
        {
            "metric": "normalised_score",
            "estimate": float(estimate),
            "low": float(low),
            "high": float(high),
            "level": mean.level,
            "method": mean.method,
            "flags": [NORMALISED_SCORE_REFERENCES],
        }
    ]


def _reject_flags(ctx: typer.Context, why: str, names: tuple[str, ...]) -> None:
    """A flag given on the command line that does not apply here is a usage error naming it."""
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if param.name in names and getattr(source, "name", None) == "COMMANDLINE":
            flag = max(param.opts, key=len)
            raise UserError(f"does not apply here: {why}", key=flag)


def _reevaluate(run: str, risk: str) -> None:
    from rsbench.risk import RiskSetting
    from rsbench.train.plan import open_run, reevaluate

    settings = [str(_parse(RiskSetting.parse, r, "--risk")) for r in risk.split(",") if r.strip()]
    if not settings:
        raise UserError("expected risk settings to add, e.g. --risk cvar:0.05,cvar:0.25", key="--risk")
    done = reevaluate(run, settings)
    plan = open_run(run)
    _print_run_summary(plan)
    err.print(f"evaluated {len(done)} (trial, risk) pairs; results written to {plan.store.root.uri}")


def _parse(parse: Any, text: str, key: str) -> Any:
    try:
        return parse(text.strip())
    except ValueError as e:
        raise UserError(str(e), key=key) from None


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    from rsbench.runtime import configure_environment

    configure_environment()
    try:
        app()
    except UserError as e:
        err.print(f"rsbench: error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
