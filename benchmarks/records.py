"""Benchmark records: the machine a figure was measured on, the kinds of target, and the Markdown table.

A figure is ``{"name", "value", "unit", "target" (optional), "note" (optional), "measured"}``; ``measured`` says
when its benchmark started, the 1-minute load average then, the torch threads it ran with and the key of its
machine in the file's ``machines``. A target is data, one of three kinds:

- ``same_run``: a bound set by a reference timed in the same run on the same machine (a ratio against a baseline
  run side by side, or another figure of the run). Pass/fail is shown.
- ``constant``: a number with its provenance (the machine, date and source it came from). Pass/fail is shown
  only where the figure's machine is the constant's (same CPU model and core count); anywhere else the figure is
  informational: "constant from <machine>, not comparable here", with its ratio to the constant.
- ``check``: a property of the run's output (finite losses, actions in bounds), machine-independent.

This module is pure (no torch): the harness (``run.py``) and the tests use it alike.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

UNKNOWN_CPU = "unknown (recorded before the machine was named)"
OPS = {"<=": lambda v, b: v <= b, ">=": lambda v, b: v >= b}


def same_run(op: str, value: float, reference: str) -> dict:
    """A bound ``op value`` from ``reference``, measured in this run on this machine."""
    return {"kind": "same_run", "op": op, "value": value, "reference": reference}


def constant(op: str, value: float, provenance: dict) -> dict:
    """A bound ``op value`` fixed in advance; ``provenance``: ``{"machine": {...}, "when", "source"}``."""
    if not {"machine", "when", "source"} <= set(provenance):
        raise ValueError(f"a constant target needs machine, when and source in its provenance: {provenance}")
    return {"kind": "constant", "op": op, "value": value, "provenance": provenance}


def check(what: str, passed: bool) -> dict:
    """A property of this run's output (``what``), which holds or not on any machine."""
    return {"kind": "check", "what": what, "passed": bool(passed)}


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name (Linux's /proc/cpuinfo, else ``platform.processor()``); None if neither says."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")) and ":" in line:
                return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    name = platform.processor()
    return name if name and name != platform.machine() else None  # Linux's processor() is just "x86_64"


def machine(versions: dict[str, str | None]) -> dict:
    """This machine now: host, CPU model, cores (all and usable), load averages, ``versions`` (torch, numpy...)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **versions,
        "load_average": [round(x, 2) for x in os.getloadavg()],  # 1, 5 and 15 minutes, at the start
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def machine_key(m: dict) -> str:
    """The key of machine ``m`` in a file's ``machines``: what makes timings comparable, and the software."""
    return f"{m.get('host')} / {m.get('cpu_model') or 'CPU model unknown'} / {m.get('cores')} cores / torch {m.get('torch')}"


def describe(m: dict) -> str:
    """``m`` in words: host, CPU model, cores."""
    return f"host {m.get('host')} ({m.get('cpu_model') or 'CPU model unknown'}, {m.get('cores')} cores)"


def same_machine(a: dict, b: dict) -> bool:
    """Whether timings on ``a`` and ``b`` compare: both name the same CPU model and core count (unnamed: no)."""
    return (
        bool(a.get("cpu_model"))
        and a.get("cpu_model") == b.get("cpu_model")
        and a.get("cores") == b.get("cores")
    )


def verdict(figure: dict, on: dict) -> tuple[str, str]:
    """``(status, text)`` for ``figure`` measured on machine ``on``: status is "" (no target), "met", "missed"
    or "informational" (a constant from another machine, or an unclassified target of an old record)."""
    target = figure.get("target")
    if not target:
        return "", ""
    if not isinstance(target, dict):
        return "informational", "unclassified target (recorded before targets had kinds)"
    if target["kind"] == "check":
        return ("met", "✅ holds") if target["passed"] else ("missed", "❌ fails")
    met = OPS[target["op"]](figure["value"], target["value"])
    if target["kind"] == "constant" and not same_machine(target["provenance"]["machine"], on):
        ratio = figure["value"] / target["value"] if target["value"] else float("nan")
        source = target["provenance"]["machine"]
        return "informational", (
            f"ℹ️ constant from {describe(source)}, {target['provenance']['when']}, not comparable here; "
            f"{ratio:.2f}x the constant"
        )
    return ("met", "✅ met") if met else ("missed", "❌ missed")


def target_text(target: Any, unit: str) -> str:
    """The target cell: the bound and its kind (with its reference or source)."""
    if not target:
        return ""
    if not isinstance(target, dict):
        return str(target)
    if target["kind"] == "check":
        return f"check: {target['what']}"
    bound = f"{target['op']} {target['value']:g} {unit}".rstrip()
    if target["kind"] == "same_run":
        return f"{bound} (same run: {target['reference']})"
    return f"{bound} (constant: {target['provenance']['source']})"


def _figure_machine(figure: dict, results: dict) -> dict:
    key = (figure.get("measured") or {}).get("machine")
    return results.get("machines", {}).get(key) or results["machine"]


def markdown(results: dict) -> str:
    """The table of a results file: one row per figure with when, at what load and with how many threads its
    benchmark ran (and on which machine, where the file holds several), its target and kind, and its verdict;
    then the machines the figures were measured on."""
    rows = [
        (name, f, results.get("measured", {}).get(name) or {}, _figure_machine(f, results))
        for name, figures in results["benchmarks"].items()
        for f in figures
    ]
    used = {machine_key(on): on for *_, on in rows}
    lines = [
        "| benchmark (measured, load, threads) | figure | value | target | verdict |",
        "|---|---|---|---|---|",
    ]
    for name, f, run, on in rows:
        when = f.get("measured") or run
        threads = f", {when['threads']} threads" if when.get("threads") else ""
        where = f", {describe(on)}" if len(used) > 1 else ""
        label = f"{name} ({when.get('when', 'time not recorded')}, load {when.get('load', 'not recorded')}{threads}{where})"
        value = f"{f['value']:,} {f['unit']}".rstrip()
        target = target_text(f.get("target"), f["unit"])
        lines.append(f"| {label} | {f['name']} | {value} | {target} | {verdict(f, on)[1]} |")
    lines += ["", *(_machine_line(m) for m in used.values())]
    if any("machine" not in (f.get("measured") or run) for _, f, run, _ in rows):
        lines.append(
            "Rows whose record names no machine were measured before each figure named its machine: the file "
            "names the machine above (the one of its latest run)."
        )
    lines.append(
        "\nEach row says when its benchmark started, the machine's 1-minute load average then and the torch threads "
        "it ran with (a shared machine at a high load gives noise-dominated figures). A same-run target is a "
        "reference timed in the same run; a constant target is compared only on the machine it came from."
    )
    return "\n".join(lines) + "\n"


def _machine_line(m: dict) -> str:
    software = ", ".join(f"{k} {m[k]}" for k in ("python", "numpy", "torch") if m.get(k))
    accel = m.get("cuda") or "no GPU"
    load = f", load average {m['load_average']} at the start of the run" if m.get("load_average") else ""
    return f"Measured on: CPU {m.get('cpu_model') or UNKNOWN_CPU}, {m.get('cores')} cores, host {m.get('host')}, {accel}; {software}{load} (latest run on it: {m.get('when')})."
