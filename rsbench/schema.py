"""Strict loading of plain data (parsed YAML) into frozen dataclasses.

Every field's type comes from its annotation and its documentation and bounds from ``field(metadata=...)``
(``doc``, ``ge``, ``gt``, ``le``). Unknown keys, wrong types and out-of-range values raise a
:class:`~rsbench.errors.UserError` that names the file, the key path and what was expected.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from rsbench.errors import UserError

T = TypeVar("T")


def doc(text: str, default: Any = dataclasses.MISSING, *, inference: bool = False, **bounds: float) -> Any:
    """A dataclass field with its one-line documentation and optional bounds (``ge``, ``gt``, ``le``).

    ``inference=True`` marks a method setting that may change at inference time without retraining
    (risk level, guidance scale, sampling steps, ...).
    """
    meta: dict[str, Any] = {"doc": text, **bounds}
    if inference:
        meta["inference"] = True
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=functools.partial(copy.copy, default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or bad YAML is a one-line :class:`UserError` naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError("file not found" if not path.exists() else "not a file", source=path)
    try:
        return yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise UserError(f"invalid YAML at {where}: {e.problem}", source=path) from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"invalid YAML: {first}", source=path) from None


def load(cls: type[T], data: Any, *, source: str | Path | None, path: str = "") -> T:
    """Build ``cls`` from ``data``; ``path`` is the key path of ``data`` inside ``source``."""
    return _convert(cls, data, source=source, path=path)


def _fail(source: str | Path | None, path: str, message: str) -> UserError:
    return UserError(message, source=source, key=path or "<top level>")


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if hasattr(tp, "from_data"):
        return f"a {tp.__name__}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_describe(get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    ).replace("NoneType", "null")


def _convert(tp: Any, value: Any, *, source: str | Path | None, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _fail(source, path, f"expected null, got {value!r}")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, source=source, path=path)
            except UserError as e:
                errors.append(e)
        raise (
            errors[0] if len(errors) == 1 else _fail(source, path, f"expected {_describe(tp)}, got {value!r}")
        )
    if hasattr(tp, "from_data"):  # value objects that parse themselves (risk settings, risk specs)
        return tp.from_data(value, source=source, path=path)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, value, source=source, path=path)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _fail(source, path, f"expected {_describe(tp)}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _fail(source, path, f"expected {_describe(tp)}, got {value!r}")
        item = get_args(tp)[0]
        return tuple(_convert(item, v, source=source, path=f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _fail(source, path, f"expected a mapping, got {value!r}")
        _, vt = get_args(tp)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(source, path, f"expected string keys, got {k!r}")
            out[k] = _convert(vt, v, source=source, path=f"{path}.{k}" if path else k)
        return out
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str) and value:
            return value
    else:
        raise TypeError(f"schema: unsupported type {tp!r} at {path}")
    raise _fail(source, path, f"expected {_describe(tp)}, got {value!r}")


def _dataclass(cls: Any, value: Any, *, source: str | Path | None, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise _fail(source, path, f"expected {_describe(cls)}, got {value!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    for key in value:
        if key not in fields:
            raise _fail(
                source,
                f"{path}.{key}" if path else str(key),
                f"unknown key; expected one of {', '.join(fields)}",
            )
    kwargs = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _fail(
                    source, sub, f"missing required key ({f.metadata.get('doc', _describe(hints[name]))})"
                )
            continue
        converted = _convert(hints[name], value[name], source=source, path=sub)
        _check_bounds(f, converted, source=source, path=sub)
        kwargs[name] = converted
    return cls(**kwargs)


def _check_bounds(f: dataclasses.Field, value: Any, *, source: str | Path | None, path: str) -> None:
    items = value if isinstance(value, tuple) else (value,)
    for i, v in enumerate(items):
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        where = f"{path}[{i}]" if isinstance(value, tuple) else path
        m = f.metadata
        if "ge" in m and not v >= m["ge"]:
            raise _fail(source, where, f"expected >= {m['ge']:g}, got {v!r}")
        if "gt" in m and not v > m["gt"]:
            raise _fail(source, where, f"expected > {m['gt']:g}, got {v!r}")
        if "le" in m and not v <= m["le"]:
            raise _fail(source, where, f"expected <= {m['le']:g}, got {v!r}")


def set_key_path(cls: type, data: Any, key: str, value: Any, *, source: str) -> Any:
    """A copy of ``data`` (the parsed file of a ``cls``) with the dotted ``key`` set to ``value``.

    The path is checked against ``cls`` exactly as the file's keys are: a field that does not exist, or a
    label (``tasks.LABEL``, ``methods.LABEL``) the file does not define, is a :class:`UserError` naming it.
    Inside a free-form mapping (a method's ``config``) the rest of the path is nested keys; inside a mapping
    of plain values (``sweep``) the rest of the path is one key. The value itself is checked afterwards, by
    loading the result, as strictly as any value in the file.
    """
    if not isinstance(data, Mapping):
        return data  # loading it reports that the file is not a mapping
    parts = key.split(".")
    if not all(parts):
        raise _fail(source, key, "expected a dotted key path like eval.episodes")
    root = copy.deepcopy(dict(data))
    node, tp, i = root, cls, 0
    while i < len(parts):
        tp = _without_none(tp)
        part, child_tp = parts[i], Any
        if hasattr(tp, "from_data") or tp is Any:
            pass  # parsed by its own loader (risk specs) or free-form: any nested key, checked on load
        elif dataclasses.is_dataclass(tp):
            names = [f.name for f in dataclasses.fields(tp)]
            if part not in names:
                raise _fail(
                    source, ".".join(parts[: i + 1]), f"unknown key; expected one of {', '.join(names)}"
                )
            child_tp = get_type_hints(tp)[part]
        elif get_origin(tp) in (dict, Mapping):
            child_tp = get_args(tp)[1]
            if dataclasses.is_dataclass(child_tp) and part not in node:
                labels = ", ".join(node) or "none in the file"
                raise _fail(source, ".".join(parts[: i + 1]), f"unknown label; expected one of {labels}")
            if child_tp is not Any and not dataclasses.is_dataclass(child_tp):
                part, i = ".".join(parts[i:]), len(parts) - 1  # e.g. sweep keys hold dots themselves
        if i < len(parts) - 1 and not _has_keys(child_tp):
            where = ".".join(parts[: i + 1])
            raise _fail(source, where, f"expected {_describe(child_tp)}, which has no key {parts[i + 1]!r}")
        if i == len(parts) - 1:
            node[part] = value
        else:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise _fail(source, ".".join(parts[: i + 1]), f"expected a mapping, got {child!r}")
            node = child
        tp, i = child_tp, i + 1
    return root


def _has_keys(tp: Any) -> bool:
    tp = _without_none(tp)
    return (
        tp is Any
        or hasattr(tp, "from_data")
        or dataclasses.is_dataclass(tp)
        or get_origin(tp) in (dict, Mapping)
    )


def _without_none(tp: Any) -> Any:
    """``X | None`` -> ``X`` (the one non-null arm); anything else unchanged."""
    if get_origin(tp) in (Union, types.UnionType):
        arms = [a for a in get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return arms[0]
    return tp


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """``[{name, type, default, doc}]`` for a config dataclass (``rsbench methods``, docs)."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rows.append(
            {
                "name": f.name,
                "type": _describe(hints[f.name]),
                "default": default,
                "doc": f.metadata.get("doc", ""),
                "inference": bool(f.metadata.get("inference", False)),
            }
        )
    return rows
