"""Whether two sets of results were measured the same way, so that their numbers may be compared or merged
(docs/design.md §6-§7). The one place that decides it: ``report`` merging runs and pins, ``regress`` against a pin,
``baseline pin`` adding a chunk, and ``validate --against`` before any training all ask :func:`difference`
(or :func:`suite_difference` where the whole suite must be the same).

The protocol of a run is its evaluation protocol version and risk spec version (from the manifest; a manifest
without ``eval_protocol`` predates it and is protocol 1), its ``eval`` block (episodes, seed, CVaR levels)
and the definitions of the tasks both sides have (environment, dataset, user risk spec, horizon).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rsbench.envs.spec import RISK_SPEC_VERSION
from rsbench.results.provenance import EVAL_PROTOCOL

EVAL_KEYS = ("episodes", "seed", "alphas")


@dataclass(frozen=True)
class Difference:
    """The first key (a dotted path) at which two results' protocols (or suites) differ, with both values;
    ``None`` on a side that does not have the key."""

    key: str
    left: Any
    right: Any

    def describe(self, left: str, right: str) -> str:
        """E.g. ``eval.episodes is 20 in my-run and 100 in baselines/smoke``."""
        return f"{self.key} is {_show(self.left)} in {left} and {_show(self.right)} in {right}"


def _show(value: Any) -> str:
    return "absent" if value is None else repr(value) if isinstance(value, str) else str(value)


def eval_protocol(manifest: Mapping[str, Any] | None) -> int:
    """The evaluation protocol of a run's (or pin's) manifest: its ``eval_protocol``, 1 without the key;
    ``None`` (a run not started yet): this code's protocol."""
    return EVAL_PROTOCOL if manifest is None else int(manifest.get("eval_protocol", 1))


def protocol_of(suite: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    """The protocol keys of a resolved suite (a dict) and its run's manifest, in the order they are checked;
    ``manifest=None``: a run not started yet, measured under this code's protocol."""
    versions: dict[str, Any]
    if manifest is None:
        versions = {"eval_protocol": EVAL_PROTOCOL, "risk_spec_version": RISK_SPEC_VERSION}
    else:
        versions = {
            "eval_protocol": eval_protocol(manifest),
            "risk_spec_version": manifest.get("risk_spec_version"),
        }
    evaluation = suite.get("eval") or {}
    return {**versions, **{f"eval.{k}": _plain(evaluation.get(k)) for k in EVAL_KEYS}}


def difference(
    left_suite: Mapping[str, Any],
    left_manifest: Mapping[str, Any] | None,
    right_suite: Mapping[str, Any],
    right_manifest: Mapping[str, Any] | None,
    *,
    tasks: str = "shared",
) -> Difference | None:
    """The first protocol key at which two results differ (None: they compare).

    ``tasks="shared"`` checks the definitions of the tasks both suites have (merging runs of different task
    sets is fine); ``tasks="left"`` also requires every task of the left suite on the right (a new method joining
    a pinned leaderboard: a task the pin lacks has nothing to be ranked against).
    """
    a, b = protocol_of(left_suite, left_manifest), protocol_of(right_suite, right_manifest)
    for key in a:
        if a[key] != b[key]:
            return Difference(key, a[key], b[key])
    left_tasks, right_tasks = left_suite.get("tasks") or {}, right_suite.get("tasks") or {}
    for task in left_tasks:
        if task not in right_tasks:
            if tasks == "left":
                return Difference(f"tasks.{task}", "defined", None)
            continue
        found = first_difference(left_tasks[task], right_tasks[task], f"tasks.{task}")
        if found is not None:
            return found
    return None


def suite_difference(
    left_suite: Mapping[str, Any],
    left_manifest: Mapping[str, Any] | None,
    right_suite: Mapping[str, Any],
    right_manifest: Mapping[str, Any] | None,
) -> Difference | None:
    """The first difference of protocol, then of the resolved suites themselves (methods, seeds, budgets):
    what chunks of one pinned leaderboard must share."""
    return difference(left_suite, left_manifest, right_suite, right_manifest) or first_difference(
        left_suite, right_suite
    )


def first_difference(left: Any, right: Any, prefix: str = "") -> Difference | None:
    """The first dotted key path at which two plain-data trees differ (mappings in ``left``'s key order,
    then the keys only ``right`` has); lists and scalars compare as wholes."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        for key in [*left, *(k for k in right if k not in left)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            found = first_difference(left.get(key), right.get(key), path)
            if found is not None:
                return found
        return None
    if _plain(left) != _plain(right):
        return Difference(prefix or "<top level>", left, right)
    return None


def _plain(value: Any) -> Any:
    """Tuples as lists (a suite read back from YAML or JSON holds lists where the dataclass held tuples)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
