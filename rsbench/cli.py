"""The ``rsbench`` command. User mistakes end in one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import rsbench
from rsbench.errors import UserError

app = typer.Typer(
    help="Benchmark and evaluation suite for risk-sensitive offline RL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Tail-risk datasets: build, relabel, inspect, list.", no_args_is_help=True)
app.add_typer(data_app, name="data")
baseline_app = typer.Typer(help="Pinned baselines for nightly regression.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the same data as JSON.")]
MethodFiles = Annotated[
    list[Path] | None,
    typer.Option("--method-file", help="A Python file that registers a method (repeatable)."),
]


def _load_method_files(files: list[Path] | None) -> None:
    from rsbench.methods import load_method_file

    for f in files or []:
        load_method_file(f)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r))
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


@app.command()
def validate(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file.")],
    method_file: MethodFiles = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a suite file strictly (method names and configs included) and print its trials."""
    from rsbench.methods import available
    from rsbench.methods.registry import check_suite_methods
    from rsbench.suite import load_suite

    _load_method_files(method_file)
    s = load_suite(suite, known_methods=available())
    check_suite_methods(s, source=suite)
    trials = s.trials()
    if as_json:
        _emit_json({"suite": s.name, "file": str(suite), "digest": s.digest(), "trials": trials})
        return
    _trial_table(f"{suite}: suite '{s.name}' is valid, {len(trials)} trials", trials)


def _trial_table(title: str, trials: list[dict[str, Any]]) -> None:
    _table(
        title,
        ["trial", "algo", "task", "dataset", "seed", "steps", "risk", "sweep"],
        [
            [
                t["id"],
                t["algo"],
                t["task"],
                t["dataset"],
                t["seed"],
                t["steps"],
                ", ".join(t["risk"]),
                t["sweep"] or "",
            ]
            for t in trials
        ],
    )


@app.command()
def methods(
    name: Annotated[str | None, typer.Argument(help="Show one method's config fields in full.")] = None,
    method_file: MethodFiles = None,
    as_json: JsonFlag = False,
) -> None:
    """List the registered methods with their config fields and defaults."""
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
            [[f["name"], f["default"], "yes" if f["inference"] else "", f["doc"]] for f in m["config"]],
        )


@data_app.command("build")
def data_build(
    name: Annotated[
        str, typer.Argument(help="Catalogue dataset, e.g. pointmass-mixed (see `rsbench data list`).")
    ],
    episodes: Annotated[int | None, typer.Option(help="Episodes to record (default: the recipe's).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the behaviour and the episode reset seeds.")] = 0,
    force: Annotated[bool, typer.Option(help="Rebuild even if the dataset exists.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Record a tail-risk dataset locally with Minari (no download)."""
    from rsbench.data import store
    from rsbench.data.build import build

    dataset_id, built = build(name, episodes=episodes, seed=seed, force=force, progress=not as_json)
    path = store.dataset_dir(store.ensure_datasets_env(), dataset_id)
    if as_json:
        _emit_json({"dataset": dataset_id, "built": built, "path": str(path)})
    elif built:
        out.print(f"built {dataset_id} at {path}")
    else:
        out.print(f"{dataset_id} already exists at {path} (--force rebuilds it)")


@data_app.command("relabel")
def data_relabel(
    source: Annotated[str, typer.Argument(help="Minari id of a local dataset to relabel.")],
    task: Annotated[str | None, typer.Option(help="Risky task whose pinned spec to apply.")] = None,
    risk_file: Annotated[
        Path | None, typer.Option(help="YAML file with a user risk spec (when/penalty/prob).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Salt of the penalty draws (0 matches the online env).")] = 0,
    out_id: Annotated[str | None, typer.Option("--out", help="Id of the new dataset.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite the new dataset if it exists.")] = False,
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


@data_app.command("inspect")
def data_inspect(
    dataset: Annotated[str, typer.Argument(help="Catalogue name or Minari id.")],
    as_json: JsonFlag = False,
) -> None:
    """Print tail coverage: risky-step fraction, penalty events, return quantiles, warnings."""
    from rsbench.data.catalog import RECIPES
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load

    dataset_id = RECIPES[dataset].dataset_id if dataset in RECIPES else dataset
    report = tail_coverage(load(dataset_id, source="dataset"))
    if as_json:
        _emit_json(report)
        return
    rows = [[k, v] for k, v in report.items() if k not in ("return_quantiles", "warnings")]
    rows += [[f"return q{q}", v] for q, v in report["return_quantiles"].items()]
    _table(f"tail coverage of {dataset_id}", ["", "value"], rows)
    for w in report["warnings"]:
        err.print(f"[yellow]warning:[/] {w}")


@data_app.command("list")
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


@app.command("run")
def run_cmd(
    suite: Annotated[Path | None, typer.Argument(help="Suite YAML file (omit with --resume).")] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue the run at this directory/URI: only trials without results run."),
    ] = None,
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
    retry_failed: Annotated[bool, typer.Option(help="With --resume: rerun failed trials too.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print the trial table and exit.")] = False,
    method_file: MethodFiles = None,
) -> None:
    """Run a suite's trials on Ray Tune (local by default) and store their results."""
    from rsbench.methods import available
    from rsbench.methods.registry import check_suite_methods
    from rsbench.paths import project_root
    from rsbench.suite import load_suite
    from rsbench.train.plan import finish_run, new_run, resume_run
    from rsbench.train.tune import check_resources, trial_specs

    if (suite is None) == (resume is None):
        raise UserError("give a SUITE file or --resume RUN (not both)", key="SUITE")
    files = [str(Path(f).resolve()) for f in method_file or []]
    _load_method_files(method_file)
    if resume is not None:
        if method_file:
            raise UserError("a resumed run uses the method files it was started with", key="--method-file")
        plan = resume_run(resume, retry_failed=retry_failed)
    else:
        s = load_suite(suite, known_methods=available())
        check_suite_methods(s, source=suite)
        check_resources(s, str(suite))
        if dry_run:
            trials = trial_specs(s, "", files)
            _trial_table(f"{suite}: {len(trials)} trials (dry run, nothing started)", trials)
            return
        plan = new_run(
            s, suite, results=results or str(project_root() / "results"), name=name, method_files=files
        )
    if dry_run:
        _trial_table(f"{plan.store.root.uri}: {len(plan.pending)} trials to run (dry run)", plan.pending)
        return
    where = plan.store.root.uri
    err.print(
        f"run {plan.store.run_id}: {len(plan.pending)} of {len(plan.specs)} trials to run, results in {where}"
    )
    if plan.pending:
        _record_datasets(plan, _prepare_datasets(plan.pending))
        _run_on_ray(plan, address=address, max_concurrent=max_concurrent, max_failures=max_failures)
    counts = finish_run(plan)
    _print_run_summary(plan)
    err.print(
        f"{counts['finished']} finished, {counts['failed']} failed, {counts['missing']} missing; "
        f"results written to {where}"
    )
    err.print(f"render the report: rsbench report {where}", markup=False, highlight=False, soft_wrap=True)
    for trial, error in _failures(plan).items():
        err.print(f"failed: {trial}: {error}", markup=False, highlight=False, soft_wrap=True)
    if counts["missing"]:
        err.print(
            f"{counts['missing']} trials have no result; continue with: rsbench run --resume {where}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if counts["failed"] or counts["missing"]:
        raise typer.Exit(3)


def _prepare_datasets(specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Build missing catalogue datasets once in the driver (trials on other nodes build their own); returns
    each task's dataset tail coverage, which the report's warnings read."""
    from rsbench.data import store
    from rsbench.data.build import build
    from rsbench.data.catalog import RECIPES
    from rsbench.data.coverage import tail_coverage
    from rsbench.data.offline import load

    coverage = {}
    for task, name in sorted({(s["task"], s["dataset"]) for s in specs}):
        if name in RECIPES and not store.exists(RECIPES[name].dataset_id):
            err.print(f"building dataset {name}")
            build(name, progress=True)
        dataset_id = RECIPES[name].dataset_id if name in RECIPES else name
        coverage[task] = tail_coverage(load(dataset_id))
    return coverage


def _record_datasets(plan: Any, coverage: dict[str, dict[str, Any]]) -> None:
    info = plan.store.read_manifest()
    info.setdefault("datasets", {}).update(coverage)
    plan.store.write_manifest(info)


def _run_on_ray(plan: Any, **options: Any) -> None:
    from rsbench.train.progress import LiveTable
    from rsbench.train.tune import run_tune

    table = LiveTable(plan.pending, console=err)
    try:
        run_tune(plan, progress=table, **options)
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
    means = seed_means(per_seed(run.episodes, alphas), alphas)
    cvars = [cvar_column(a) for a in alphas]
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


@app.command("report")
def report_cmd(
    runs: Annotated[
        list[str], typer.Argument(help="Run directories or URIs; several merge into one leaderboard.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Report directory (default <project>/reports/<run>).")
    ] = None,
) -> None:
    """Render index.html, leaderboard.md and PNG figures for one or more runs."""
    from rsbench.paths import project_root
    from rsbench.report.render import render_report
    from rsbench.results.store import load_run

    loaded = [load_run(r) for r in runs]
    target = out or project_root() / "reports" / "+".join(r.run_id for r in loaded)
    report = render_report(loaded, target)
    err.print(f"report written to {report.index} ({len(report.figures)} figures, {report.seconds:.1f} s)")
    err.print(f"leaderboard: {report.markdown}")


@app.command("regress")
def regress_cmd(
    run: Annotated[str, typer.Argument(help="The run to check (directory or URI).")],
    baseline: Annotated[Path, typer.Option(help="Pinned baseline directory, e.g. baselines/smoke.")],
    alpha: Annotated[
        float, typer.Option(help="Level of each test (BH over the family).", min=0.0001, max=0.49)
    ] = 0.05,
    out: Annotated[
        Path | None, typer.Option(help="Where regression.md/json go (default: beside the run).")
    ] = None,
) -> None:
    """Nightly verdicts against a pinned baseline: exit 1 on any REGRESSION, 0 otherwise."""
    from rsbench.report.regress import exit_code, markdown, regress
    from rsbench.results.store import load_run

    loaded = load_run(run)
    rows = regress(loaded, baseline, alpha=alpha)
    text = markdown(rows, loaded, baseline)
    target = out or (Path(loaded.uri) if "://" not in loaded.uri else Path.cwd())
    target.mkdir(parents=True, exist_ok=True)
    for name, content in (
        ("regression.md", text),
        ("regression.json", json.dumps([r.to_dict() for r in rows], indent=2, default=str)),
    ):
        tmp = target / f".{name}.tmp"
        tmp.write_text(content)
        tmp.replace(target / name)
    out_console = Console(width=200)
    out_console.print(text, markup=False, highlight=False)
    err.print(f"verdicts written to {target / 'regression.md'} and regression.json")
    raise typer.Exit(exit_code(rows))


@baseline_app.command("pin")
def baseline_pin(
    run: Annotated[str, typer.Argument(help="The run whose per-seed metrics become the baseline.")],
    to: Annotated[Path, typer.Option(help="Baseline directory, e.g. baselines/smoke.")],
) -> None:
    """Store a run's per-seed metrics and provenance as the baseline nightly runs are compared with."""
    from rsbench.report.regress import pin
    from rsbench.results.store import load_run

    path = pin(load_run(run), to)
    err.print(f"baseline pinned to {path.parent} (per_seed.csv, baseline.json)")


@app.command("eval")
def eval_cmd(
    run: Annotated[
        str | None,
        typer.Argument(
            help="A run (directory or URI): evaluate its trained trials at --risk, no retraining."
        ),
    ] = None,
    policy: Annotated[
        str, typer.Option(help="Scripted policy: shortcut | detour (point mass) | random (any task).")
    ] = "random",
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
    """Evaluate a policy (batched seeded episodes, metrics with 95% intervals and flags), or re-evaluate a run."""
    import numpy as np

    if run is not None:
        _reevaluate(run, risk)
        return

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
    fn = load_policy_file(policy_file) if policy_file else scripted_policy(policy, task, seed)
    results = []
    for setting in settings:
        eps = evaluate(fn, task, episodes, seed=seed, risk=setting)
        rows = summarize(eps, levels, rng=np.random.default_rng(seed))
        results.append({"risk": str(setting or "none"), "metrics": [r.to_dict() for r in rows]})
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


def _reevaluate(run: str, risk: str) -> None:
    from rsbench.risk import RiskSetting
    from rsbench.train.plan import open_run
    from rsbench.train.trial import reevaluate

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
