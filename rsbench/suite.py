"""Suite files: what to train, on which tasks and seeds, how to evaluate, with which resources.

A suite is YAML validated strictly into the frozen dataclasses below (unknown keys are errors). Each
field's line of documentation is the ``doc`` text next to it; ``rsbench validate SUITE`` checks a file and
prints the trials it expands to.

The trial table (:meth:`Suite.trials`, a list of :class:`Trial`) is built here, next to what it expands: the
suite is all a trial depends on, and :mod:`rsbench.train` (which imports torch) builds on this module, never
the other way round. A run only adds its own two fields (``run_uri``, ``method_files``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from itertools import product
from pathlib import Path
from typing import Any

from rsbench import schema
from rsbench.envs.registration import TASKS
from rsbench.envs.spec import RiskSpec
from rsbench.errors import UserError
from rsbench.risk import RiskSetting
from rsbench.schema import doc


@dataclass(frozen=True)
class TaskEntry:
    """One task of a suite."""

    env: str = doc("registered risky task id, e.g. rsbench/RiskyPointMass-v0")
    dataset: str = doc("catalogue name (`rsbench data build NAME`) or a local Minari dataset id")
    risk_spec: RiskSpec | None = doc(
        "the task's own penalty spec replacing the pinned one (when/penalty/prob); `risk:` is a method's",
        None,
    )
    horizon: int | None = doc("evaluation horizon; default: the task's pinned horizon", None, ge=1)


@dataclass(frozen=True)
class MethodEntry:
    """One method of a suite (a label may appear once; the same method can be listed under two labels)."""

    method: str = doc("registered method name (see `rsbench methods`)")
    config: dict[str, Any] = doc("overrides of the method's config fields", {})
    risk: tuple[RiskSetting, ...] = doc("inference-time risk settings to evaluate", (RiskSetting(),))
    steps: int | None = doc("gradient steps; default: train.steps", None, ge=1)
    batch_size: int | None = doc("minibatch size; default: train.batch_size", None, ge=1)
    seeds: tuple[int, ...] | None = doc(
        "training seeds of this method; default: the suite's seeds (e.g. more for a finding)", None, ge=0
    )
    resources: MethodResources | None = doc("this method's resources; default: the suite's resources", None)


@dataclass(frozen=True)
class TrainSpec:
    """Training budget shared by all methods unless a method overrides ``steps`` or ``batch_size``."""

    steps: int = doc("gradient steps per trial", 1000, ge=1)
    batch_size: int = doc("minibatch size", 256, ge=1)
    checkpoint_every: int = doc("steps between checkpoints", 500, ge=1)
    log_every: int = doc("steps between logged losses", 100, ge=1)


@dataclass(frozen=True)
class EvalSpec:
    """Evaluation protocol (docs/design.md §6)."""

    episodes: int = doc("evaluation episodes per (trial, risk setting)", 100, ge=1)
    alphas: tuple[float, ...] = doc("CVaR levels reported", (0.05, 0.1, 0.25), gt=0.0, le=1.0)
    seed: int = doc(
        "base of the evaluation seeds: training seed s of every method is evaluated on the episodes of "
        "(seed, task, s), shared by all methods (common random numbers), independent across seeds",
        0,
        ge=0,
    )
    distortions: tuple[RiskSetting, ...] = doc(
        "distortion risk measures of the episode returns reported beside CVaR, e.g. wang:-0.7 (none: left out)",
        (),
    )


@dataclass(frozen=True)
class Resources:
    """Ray resources per trial; fractional GPUs pack several trials onto one device."""

    cpu: float = doc("CPUs per trial, or per pack when pack > 1 (torch threads follow it)", 1.0, gt=0.0)
    gpu: float = doc("GPUs per trial, or per pack when pack > 1; fractional allowed", 0.0, ge=0.0)
    pack: int = doc(
        "seeds of one method, task and config trained as one stacked model (1: never pack)", 1, ge=1
    )


@dataclass(frozen=True)
class MethodResources:
    """A method's own resources; each field left out is the suite's."""

    cpu: float | None = doc("CPUs per trial (per pack when packed)", None, gt=0.0)
    gpu: float | None = doc("GPUs per trial (per pack when packed), fractional allowed", None, ge=0.0)
    pack: int | None = doc("seeds trained as one stacked model (1: never pack)", None, ge=1)


@dataclass(frozen=True)
class Trial:
    """One trial of a suite: a method trained on a task with one seed at one training sweep point, then
    evaluated at each risk setting and inference-time point; self-contained, so it runs on any node.

    A run stores it under other column names (``method``, ``algo``, ``risk``): see
    :func:`rsbench.train.trial.trial_row`.
    """

    id: str = doc("METHOD_LABEL-TASK-sSEED, plus a hash of the sweep point if any; stable across runs")
    method_label: str = doc("the suite's label of the method (its key under methods:), e.g. rs_diffuser_big")
    method_name: str = doc("the registered method it trains (`rsbench methods`), e.g. rs_diffuser")
    task: str = doc("the suite's label of the task (its key under tasks:)")
    env: str = doc("registered risky task id, e.g. rsbench/RiskyPointMass-v0")
    dataset: str = doc("catalogue name or local Minari dataset id")
    seed: int = doc("training seed")
    sweep: dict[str, Any] = doc("training sweep point: methods.LABEL.config.FIELD -> value ({}: none)")
    config: dict[str, Any] = doc("the method's config overrides with the sweep point applied")
    risks: tuple[str, ...] = doc("inference-time risk settings evaluated, e.g. ('neutral', 'cvar:0.1')")
    evals: tuple[dict[str, Any], ...] = doc("inference-time sweep points evaluated, no retraining ({}: none)")
    steps: int = doc("gradient steps")
    batch_size: int = doc("minibatch size")
    checkpoint_every: int = doc("steps between checkpoints")
    log_every: int = doc("steps between logged losses")
    episodes: int = doc("evaluation episodes per (risk setting, inference point)")
    alphas: tuple[float, ...] = doc("CVaR levels reported")
    eval_seed: int = doc("base of the evaluation seeds (with the task and training seed: its episode set)")
    horizon: int | None = doc("evaluation horizon; None: the task's pinned horizon")
    risk_spec: dict[str, Any] | None = doc("the task's user-declared risk spec as data; None: the pinned one")
    cpu: float = doc("CPUs of the trial, or of its whole pack when packed")
    gpu: float = doc("GPUs of the trial, or of its whole pack when packed")
    pack: int = doc("seeds trained as one stacked model (1: never packed)")
    run_uri: str = doc("the run's results store; empty until a run plans the trial", "")
    method_files: tuple[str, ...] = doc("method files to load first (they register methods)", ())

    def to_dict(self) -> dict[str, Any]:
        """The trial as plain data under its field names (``--json`` output, Ray Tune's config)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        """The trial of :meth:`to_dict`'s data, lists read back as tuples (unknown keys are errors)."""
        tuples = {f.name for f in fields(cls) if str(f.type).startswith("tuple")}
        values: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True)
class Suite:
    """A whole suite file."""

    name: str = doc("suite name, used for run ids and baselines")
    tasks: dict[str, TaskEntry] = doc("task label -> task")
    methods: dict[str, MethodEntry] = doc("method label -> method")
    seeds: tuple[int, ...] = doc("training seeds (the unit of statistical analysis)", ge=0)
    description: str | None = doc("one line on what the suite is for", None)
    train: TrainSpec = doc("training budget", TrainSpec())
    eval: EvalSpec = doc("evaluation protocol", EvalSpec())
    resources: Resources = doc("resources per trial", Resources())
    sweep: dict[str, tuple[Any, ...]] = doc("key path (methods.LABEL.config.FIELD) -> values to sweep", {})

    def trials(self) -> list[Trial]:
        """The trial table: one trial per method x task x seed x training sweep point, in the suite's order.

        Sweep keys naming an inference-time field of the method (``rsbench methods NAME``: inference yes)
        do not retrain: such points are listed in the trial's ``evals`` and the trial evaluates its one
        trained model at each of them (see :func:`split_inference`).
        """
        # A sweep key only multiplies the trials of the method it names, so points repeat: each training
        # point is one trial, gathering the inference-time points seen with it.
        table: dict[tuple[str, str, int, str], tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for (label, m), task in product(self.methods.items(), self.tasks):
            for seed, point in product(self.seeds_of(label), sweep_points(self.sweep)):
                own, at_eval = split_inference(
                    m.method, m.config, {k: v for k, v in point.items() if k.startswith(f"methods.{label}.")}
                )
                key = (label, task, seed, json.dumps(own, sort_keys=True, default=str))
                evals = table.setdefault(key, (own, []))[1]
                if at_eval not in evals:
                    evals.append(at_eval)
        return [
            self._trial(label, task, seed, own, evals)
            for (label, task, seed, _), (own, evals) in table.items()
        ]

    def _trial(
        self, label: str, task_label: str, seed: int, sweep: dict[str, Any], evals: list[dict[str, Any]]
    ) -> Trial:
        m, task = self.methods[label], self.tasks[task_label]
        return Trial(
            id=trial_id(label, task_label, seed, sweep),
            method_label=label,
            method_name=m.method,
            task=task_label,
            env=task.env,
            dataset=task.dataset,
            seed=seed,
            sweep=sweep,
            config=apply_sweep(m.config, sweep),
            risks=tuple(str(r) for r in m.risk),
            evals=tuple(evals),
            steps=m.steps or self.train.steps,
            batch_size=m.batch_size or self.train.batch_size,
            checkpoint_every=self.train.checkpoint_every,
            log_every=self.train.log_every,
            episodes=self.eval.episodes,
            alphas=self.eval.alphas,
            eval_seed=self.eval.seed,
            horizon=task.horizon,
            risk_spec=task.risk_spec.to_dict() if task.risk_spec else None,
            **self.resources_of(label),
        )

    def deviations(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{label: {field: {"reference": default, "runs": [values]}}}``: where a method's config (sweeps
        included) leaves the reference defaults of its ``Config.reference_fields`` (docs/design.md §4 fidelity),
        e.g. fewer candidates for the budget. Methods without a reference, or not registered, have none."""
        from rsbench.methods.registry import available, get  # lazy: the registry imports torch

        out = {}
        for label, m in self.methods.items():
            if m.method not in available():
                continue
            runs: dict[str, list[Any]] = {}
            for point in sweep_points(self.sweep):
                own = {k: v for k, v in point.items() if k.startswith(f"methods.{label}.config.")}
                for name, value in apply_sweep(m.config, own).items():
                    if value not in runs.setdefault(name, []):
                        runs[name].append(value)
            found = get(m.method).Config.deviations(runs)
            if found:
                out[label] = found
        return out

    def seeds_of(self, label: str) -> tuple[int, ...]:
        """The training seeds of method ``label``: its own, else the suite's."""
        own = self.methods[label].seeds
        return self.seeds if own is None else own

    def resources_of(self, label: str) -> dict[str, Any]:
        """``{"cpu", "gpu", "pack"}`` of method ``label``: its own resources, else the suite's."""
        own = self.methods[label].resources or MethodResources()
        return {
            key: getattr(own, key) if getattr(own, key) is not None else getattr(self.resources, key)
            for key in ("cpu", "gpu", "pack")
        }

    def to_dict(self) -> dict[str, Any]:
        """The resolved suite as YAML/JSON-ready data; ``schema.load(Suite, suite.to_dict()) == suite``."""
        data = asdict(self)
        for m, entry in zip(data["methods"].values(), self.methods.values(), strict=True):
            m["risk"] = [str(r) for r in entry.risk]
            if entry.resources is None:  # unset, as before packing: suites without it keep their digest
                del m["resources"]
            if entry.seeds is None:  # likewise for a method's own seeds
                del m["seeds"]
        if self.resources.pack == 1:
            del data["resources"]["pack"]
        data["eval"]["distortions"] = [str(r) for r in self.eval.distortions]
        if not self.eval.distortions:  # unset, as before distortions: suites without them keep their digest
            del data["eval"]["distortions"]
        for t, task in zip(data["tasks"].values(), self.tasks.values(), strict=True):
            t["risk_spec"] = task.risk_spec.to_dict() if task.risk_spec else None
        return json.loads(json.dumps(data))  # plain lists and dicts: what `load` reads back into this suite

    def digest(self) -> str:
        """Hash of the resolved suite: runs are comparable only with the same digest. A task's penalty spec is
        hashed under its first key name, ``risk``, so the rename to ``risk_spec`` changed no suite's digest
        (nightly series and pins go on)."""
        data = self.to_dict()
        for task in data["tasks"].values():
            task["risk"] = task.pop("risk_spec")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def trial_id(method: str, task: str, seed: int, sweep: dict[str, Any]) -> str:
    """``METHOD-TASK-sSEED`` plus a short hash of the sweep point: stable across runs, file-name safe."""
    base = f"{method}-{task}-s{seed}"
    if not sweep:
        return base
    digest = hashlib.sha256(json.dumps(sweep, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{base}-{digest}"


def apply_sweep(config: dict[str, Any], sweep: dict[str, Any]) -> dict[str, Any]:
    """The method's config with its sweep point's ``methods.METHOD.config.FIELD[.SUB]`` values set (a copy)."""
    out = json.loads(json.dumps(config))
    for key, value in sweep.items():
        *parents, leaf = key.split(".")[3:]
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def sweep_points(sweep: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Cartesian product of the sweep block (``[{}]`` without one)."""
    keys = list(sweep)
    return [dict(zip(keys, combo, strict=True)) for combo in product(*(sweep[k] for k in keys))]


def split_inference(
    algo: str, config: dict[str, Any], point: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A method's sweep point as (training part, inference-time part).

    Inference-time fields (``inference=True`` in the method's config) change nothing in training, so
    retraining for each of their values would only repeat the same model; they are evaluation settings.
    A method not (yet) registered keeps every key in the training part. The inference part is checked
    against the method's config here (one line naming the sweep keys), as it is never trained on.
    """
    from rsbench.methods.registry import available, get  # lazy: the registry imports torch

    if not point or algo not in available():
        return point, {}
    cls = get(algo)
    fields = set(cls.Config.inference_fields())
    at_eval = {k: v for k, v in point.items() if len(k.split(".")) == 4 and k.split(".")[3] in fields}
    if at_eval:
        keys = ", ".join(f"sweep.{k}={v!r}" for k, v in at_eval.items())
        cls.Config.from_dict(apply_sweep(config, point), path=f"{keys}: config")
    return {k: v for k, v in point.items() if k not in at_eval}, at_eval


def inference_overrides(point: dict[str, Any]) -> dict[str, Any]:
    """``methods.L.config.FIELD -> value`` as the ``FIELD=value`` keywords of ``Method.policy``."""
    return {k.split(".")[3]: v for k, v in point.items()}


def load_suite(
    path: str | Path, *, overrides: Sequence[str] = (), known_methods: Collection[str] | None = None
) -> Suite:
    """Read a suite file, apply ``--set KEY.PATH=VALUE`` overrides, and check it without the method registry;
    every problem is a one-line :class:`UserError`. :func:`validate_suite` adds the registry's checks.

    ``known_methods`` (the method names) is checked when given and non-empty.
    """
    path = Path(path)
    data = schema.read_yaml(path)
    _refuse_renamed_keys(data, path)
    with _blame_overrides(overrides):
        for key, value in (parse_set(text) for text in overrides):
            data = schema.set_key_path(Suite, data, key, value, source="--set")
        suite = schema.load(Suite, data, source=path)
        check_suite(suite, source=path, known_methods=known_methods)
    return suite


def _refuse_renamed_keys(data: Any, source: Path) -> None:
    """A suite file written before the rename: a task's ``risk:`` is now ``risk_spec:`` (one line, exit 2)."""
    tasks = data.get("tasks") if isinstance(data, dict) else None
    for name, task in (tasks or {}).items() if isinstance(tasks, dict) else ():
        if isinstance(task, dict) and "risk" in task:
            raise UserError(
                "renamed risk_spec: a task's penalty spec is `risk_spec:`; `risk:` is only a method's risk settings",
                source=source,
                key=f"tasks.{name}.risk",
            )


def validate_suite(suite: Suite, *, source: str | Path | None, overrides: Sequence[str] = ()) -> None:
    """Every check a suite passes before anything runs: ``validate``, ``run`` and ``run --resume`` all call
    this one function. On top of :func:`check_suite` (types, cross-field, resources) it asks the method
    registry: method names, each method's config parsed strictly at every sweep point, and its risk labels
    (a method whose ``act`` ignores the inference risk lists only the risk it is trained for).

    Method files must be loaded first (they register their methods).
    """
    from rsbench.methods import available
    from rsbench.methods.registry import check_risk_labels, check_suite_methods

    with _blame_overrides(overrides):
        check_suite(suite, source=source, known_methods=available())
        check_suite_methods(suite, source=source)
        check_risk_labels(suite, source=source)


def open_suite(path: str | Path, overrides: Sequence[str] = ()) -> Suite:
    """The suite file at ``path`` with its ``--set`` overrides, through every check (:func:`validate_suite`).

    Method files must be loaded first (they register their methods)."""
    suite = load_suite(path, overrides=overrides)
    validate_suite(suite, source=path, overrides=overrides)
    return suite


def parse_set(text: str) -> tuple[str, Any]:
    """``"eval.episodes=20"`` -> ``("eval.episodes", 20)``: the value is parsed as YAML, as in the file."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"expected KEY.PATH=VALUE, e.g. eval.episodes=20, got {text!r}", key="--set")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or type(e).__name__
        raise UserError(f"invalid YAML value {raw!r}: {problem}", source="--set", key=key.strip()) from None


@contextmanager
def _blame_overrides(overrides: Sequence[str]) -> Iterator[None]:
    """A problem with a value given by ``--set`` names ``--set`` rather than the file that lacks the value."""
    keys = [text.partition("=")[0].strip() for text in overrides]
    try:
        yield
    except UserError as e:
        if e.source == "--set" or not any(_under(e.key or "", k) for k in keys):
            raise
        raise UserError(e.detail, source="--set", key=e.key) from None


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith((f"{prefix}.", f"{prefix}["))


def _check_plain(value: Any, *, source: str | Path | None, path: str) -> None:
    """Method configs must be plain JSON-like data (string keys): they are hashed and stored with results."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise UserError(f"expected string keys, got {k!r}", source=source, key=path)
            _check_plain(v, source=source, path=f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, source=source, path=f"{path}[{i}]")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise UserError(
            f"expected a string, number, boolean, list or mapping, got {value!r}", source=source, key=path
        )


def _check_seeds(seeds: tuple[int, ...], *, source: str | Path | None, key: str) -> None:
    if not seeds:
        raise UserError("expected at least one seed", source=source, key=key)
    if len(set(seeds)) != len(seeds):
        raise UserError(f"duplicate seeds in {list(seeds)}", source=source, key=key)


def check_suite(suite: Suite, *, source: str | Path | None, known_methods: Collection[str] | None) -> None:
    """Cross-field checks the types alone cannot express."""
    from rsbench.data.catalog import RECIPES, is_catalogue

    if not suite.tasks:
        raise UserError("expected at least one task", source=source, key="tasks")
    if not suite.methods:
        raise UserError("expected at least one method", source=source, key="methods")
    _check_seeds(suite.seeds, source=source, key="seeds")
    for label, m in suite.methods.items():
        if m.seeds is not None:
            _check_seeds(m.seeds, source=source, key=f"methods.{label}.seeds")
    for label, task in suite.tasks.items():
        if task.env not in TASKS:
            raise UserError(
                f"unknown task {task.env!r}; expected one of {', '.join(TASKS)}",
                source=source,
                key=f"tasks.{label}.env",
            )
        if not is_catalogue(task.dataset) and "/" not in task.dataset:
            raise UserError(
                f"unknown dataset {task.dataset!r}; expected a catalogue name ({', '.join(RECIPES)}), "
                "optionally sized (hopper-medium-300k), or a Minari id like namespace/name-v0",
                source=source,
                key=f"tasks.{label}.dataset",
            )
    for label, m in suite.methods.items():
        _check_plain(m.config, source=source, path=f"methods.{label}.config")
        if known_methods and m.method not in known_methods:
            raise UserError(
                f"unknown method {m.method!r}; expected one of {', '.join(sorted(known_methods))}",
                source=source,
                key=f"methods.{label}.method",
            )
        if not m.risk:
            raise UserError("expected at least one risk setting", source=source, key=f"methods.{label}.risk")
    for key, values in suite.sweep.items():
        parts = key.split(".")
        if len(parts) < 4 or parts[0] != "methods" or parts[2] != "config" or parts[1] not in suite.methods:
            raise UserError(
                f"expected a key path methods.LABEL.config.FIELD with LABEL one of {', '.join(suite.methods)}",
                source=source,
                key=f"sweep.{key}",
            )
        if not values:
            raise UserError("expected a non-empty list of values", source=source, key=f"sweep.{key}")
    gpus: dict[str, float | None] = {"resources.gpu": suite.resources.gpu}
    gpus.update(
        {f"methods.{k}.resources.gpu": m.resources.gpu for k, m in suite.methods.items() if m.resources}
    )
    for key, gpu in gpus.items():
        if gpu is not None and gpu > 1 and gpu != int(gpu):
            raise UserError(
                f"expected a fraction (<= 1) or a whole number of GPUs, got {gpu}", source=source, key=key
            )
