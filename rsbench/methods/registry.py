"""The method registry: built-ins, the ``rsbench.methods`` entry point group and ``--method-file`` files.

A researcher adds a method by writing one file with a :class:`~rsbench.methods.base.Method` subclass
decorated with ``@register("name")``; ``rsbench run --method-file my_method.py`` (or an installed package
that declares ``[project.entry-points."rsbench.methods"]``) makes it available to suites by that name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import torch

from rsbench.errors import UserError
from rsbench.methods.base import Method, MethodConfig, Space
from rsbench.risk import RiskSetting

M = TypeVar("M", bound=type[Method])

ENTRY_POINT_GROUP = "rsbench.methods"
_BUILTIN_MODULES = (
    "rsbench.methods.diffuser",
    "rsbench.methods.decision_diffuser",
    "rsbench.methods.rs_diffuser",
    "rsbench.methods.cql",
    "rsbench.methods.iqn",
    "rsbench.methods.radac",
)
_REGISTRY: dict[str, type[Method]] = {}
_discovered = False


def register(name: str) -> Callable[[M], M]:
    """Class decorator: register a :class:`Method` subclass under ``name`` (the name suites use)."""

    def deco(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"@register({name!r}) expects a Method subclass, got {cls!r}")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, MethodConfig)):
            raise TypeError(f"{cls.__name__}.Config must be a MethodConfig dataclass")
        previous = _REGISTRY.get(name)
        if previous is not None and _qualname(previous) != _qualname(cls):
            raise ValueError(f"method name {name!r} is already registered by {_qualname(previous)}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin must not take the built-ins down with it
            warnings.warn(f"rsbench.methods entry point {ep.name!r} failed to load: {e}", stacklevel=2)
            continue
        if isinstance(obj, type) and issubclass(obj, Method) and obj.name != ep.name:
            register(ep.name)(obj)


def available() -> list[str]:
    """Sorted names of every registered method (built-ins, entry points, loaded method files)."""
    _discover()
    return sorted(_REGISTRY)


def get(name: str, *, source: str | Path | None = None, key: str | None = None) -> type[Method]:
    """The method class registered as ``name``; an unknown name is a one-line ``UserError``."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(
            f"unknown method {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
            "(add your own with --method-file or the rsbench.methods entry point)",
            source=source,
            key=key,
        ) from None


def load_method_file(path: str | Path) -> list[str]:
    """Import a Python file that registers methods; returns the names it registered."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".py":
        raise UserError("expected an existing .py file that registers a method", source=path)
    _discover()
    before = dict(_REGISTRY)
    # a stable name (str hash is salted per process): the same file maps to the same module everywhere
    module_name = f"rsbench_user_method_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]}"
    if module_name in sys.modules:  # the same file twice: already registered
        return sorted(k for k, v in _REGISTRY.items() if v.__module__ == module_name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[module_name]
        raise UserError(f"importing the method file failed: {type(e).__name__}: {e}", source=path) from None
    added = sorted(k for k in _REGISTRY if _REGISTRY[k] is not before.get(k))
    if not added:
        raise UserError(
            "the file registers no method (decorate a Method subclass with @register)", source=path
        )
    return added


def create(
    name: str,
    space: Space,
    config: MethodConfig | Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    source: str | Path | None = None,
    key: str = "config",
) -> Method:
    """Build method ``name`` for ``space`` from a config object or plain data (parsed strictly)."""
    cls = get(name, source=source)
    if not isinstance(config, MethodConfig):
        config = cls.Config.from_dict(config, source=source, path=key)
    return cls(config, space, seed=seed, device=device)


def check_suite_methods(suite: Any, *, source: str | Path | None) -> None:
    """Every method entry of a suite names a registered method and its config parses strictly, at every
    sweep point too (a swept value out of bounds is reported under its ``sweep.`` key)."""
    for label, entry in suite.methods.items():
        cls = get(entry.method, source=source, key=f"methods.{label}.method")
        cls.Config.from_dict(entry.config, source=source, path=f"methods.{label}.config")
    for trial in suite.trials():
        if trial.sweep:
            cls = get(trial.method_name, source=source, key=f"methods.{trial.method_label}.method")
            keys = ", ".join(f"sweep.{k}={v!r}" for k, v in trial.sweep.items())
            cls.Config.from_dict(
                trial.config, source=source, path=f"{keys}: methods.{trial.method_label}.config"
            )


def check_risk_labels(suite: Any, *, source: str | Path | None) -> None:
    """A method whose ``act`` ignores the inference risk lists only the risk it is trained for
    (:meth:`Method.accepted_risks`: ``neutral``, or IQN's ``train_risk``), at every sweep point."""
    seen = set()
    for trial in suite.trials():
        point = tuple(sorted((k, repr(v)) for k, v in trial.sweep.items()))
        if (trial.method_label, point) in seen:
            continue
        seen.add((trial.method_label, point))
        cls = get(trial.method_name, source=source, key=f"methods.{trial.method_label}.method")
        accepted = cls.accepted_risks(cls.Config.from_dict(trial.config, source=source))
        if accepted is None or {RiskSetting.parse(r) for r in trial.risks} <= set(accepted):
            continue
        at = "".join(f"{k}={v!r}: " for k, v in trial.sweep.items())
        why = f"{cls.name} ignores the inference risk" + (
            f" (its actor is trained for {cls.train_risk_field} {accepted[0]})"
            if cls.train_risk_field
            else ""
        )
        expected = ", ".join(str(r) for r in accepted)
        raise UserError(
            f"{at}{why}; expected [{expected}]", source=source, key=f"methods.{trial.method_label}.risk"
        )


def describe(name: str) -> dict[str, Any]:
    """Name, class, paper, risk awareness, summary and config fields of a registered method."""
    from rsbench.schema import describe_fields

    cls = get(name)
    return {
        "name": name,
        "class": _qualname(cls),
        "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "paper": cls.paper,
        "risk_aware": cls.risk_aware,
        "train_risk_field": cls.train_risk_field,
        "config": describe_fields(cls.Config),
    }
