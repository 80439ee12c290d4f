"""False-alarm rate and power of `rsbench history`'s change-point detector on simulated nights.

    .venv/bin/python benchmarks/changepoint.py            # writes benchmarks/results/changepoint.json (+ .md)
    .venv/bin/python benchmarks/changepoint.py --reps 200 # quicker, wider intervals

A simulated history is a family of series like a nightly suite's: ``groups x 3 metrics`` series of
``nights x seeds`` per-seed values, each seed with a persistent offset (its evaluation episode set) and fresh
noise every night; two of the three metrics of a group are correlated (mean return and CVaR come from the same
episodes). Change-free histories give the false-change rate (any change reported anywhere) and the newest-night
false-alarm rate (a change whose first night after is the newest: what makes `rsbench history` exit 1, i.e. a
false alert of the nightly job). Two scenarios add a shift shared by all seeds of a night (SD in units of the
per-seed noise), which the detector's model counts as a change: they measure what such nights cost. Planted shifts (in units of the per-seed noise SD) give the power and how
often the change is located within one night. Every number comes with its Wilson 95% interval.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import records  # noqa: E402
from rsbench.eval import changepoint as cp  # noqa: E402
from rsbench.eval.stats import wilson_interval  # noqa: E402

OUT = ROOT / "benchmarks" / "results"


def history(
    rng: np.random.Generator, *, groups: int, nights: int, seeds: int, noise: str, missing: float,
    night_sd: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """``(groups * 3, nights, seeds)`` change-free per-seed values (module docstring); ``night_sd`` adds a
    shift shared by every seed of a night (outside the detector's model: what such nights cost)."""
    shape = (groups, nights, seeds)
    base = rng.standard_t(3, size=shape) if noise == "t3" else rng.normal(size=shape)
    other = rng.standard_t(3, size=shape) if noise == "t3" else rng.normal(size=shape)
    correlated = 0.8 * base + 0.6 * other  # corr 0.8 with the first metric, unit variance
    independent = rng.normal(size=shape)
    data = np.concatenate([base, correlated, independent]) + rng.normal(0, 2, size=(3 * groups, 1, seeds))
    if night_sd:
        data += rng.normal(0, night_sd, size=(3 * groups, nights, 1))
    if missing:
        data[rng.random(data.shape) < missing] = np.nan
    return data


def rate(hits: int, n: int) -> dict:
    ci = wilson_interval(hits, n)
    return {"rate": hits / n, "low": ci.low, "high": ci.high, "hits": hits, "replications": n}


def null_scenario(name: str, reps: int, seed: int, **shape) -> dict:
    rng = np.random.default_rng(seed)
    anywhere = newest = 0
    start = time.perf_counter()
    for _ in range(reps):
        found = cp.detect_family(list(history(rng, **shape)), rng=rng)
        anywhere += any(found)
        newest += any(c.index == shape["nights"] - 1 for f in found for c in f)
    seconds = time.perf_counter() - start
    return {"scenario": name, **shape, "seed": seed, "false_change": rate(anywhere, reps),
            "newest_night_false_alarm": rate(newest, reps), "seconds_per_history": seconds / reps}  # fmt: skip


def power_scenario(
    shift: float, at: int, reps: int, seed: int, *, groups: int = 4, nights: int = 30, seeds: int = 5
) -> dict:
    """A lasting shift of ``shift`` noise SDs from night ``at`` in one series of the family."""
    rng = np.random.default_rng(seed)
    found_any = located = others = 0
    for _ in range(reps):
        data = history(rng, groups=groups, nights=nights, seeds=seeds, noise="normal", missing=0.0)
        data[0, at:] += shift
        found = cp.detect_family(list(data), rng=rng)
        found_any += bool(found[0])
        located += any(abs(c.index - at) <= 1 for c in found[0])
        others += any(found[1:groups] + found[groups + 1 :])  # the correlated twin of series 0 may change too
    return {"shift_sd": shift, "first_night_after": at, "nights": nights, "seeds": seeds, "series": 3 * groups,
            "seed": seed, "detected": rate(found_any, reps), "located_within_1": rate(located, reps),
            "other_series_flagged": rate(others, reps)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="change-free histories per scenario")
    parser.add_argument("--power-reps", type=int, default=200)
    args = parser.parse_args()
    nulls = [
        ("12 series, 30 nights x 5 seeds, normal", dict(groups=4, nights=30, seeds=5, noise="normal", missing=0.0)),
        ("12 series, 30 nights x 5 seeds, t(3), 5% missing", dict(groups=4, nights=30, seeds=5, noise="t3", missing=0.05)),
        ("18 series, 60 nights x 8 seeds, normal", dict(groups=6, nights=60, seeds=8, noise="normal", missing=0.0)),
        ("3 series, 10 nights x 3 seeds, normal", dict(groups=1, nights=10, seeds=3, noise="normal", missing=0.0)),
        ("12 series, 30 nights x 5 seeds, night effect SD 0.2", dict(groups=4, nights=30, seeds=5, noise="normal", missing=0.0, night_sd=0.2)),
        ("12 series, 30 nights x 5 seeds, night effect SD 0.5", dict(groups=4, nights=30, seeds=5, noise="normal", missing=0.0, night_sd=0.5)),
    ]  # fmt: skip
    results = {
        "benchmark": "changepoint",
        "command": " ".join([".venv/bin/python", "benchmarks/changepoint.py", *sys.argv[1:]]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": records.machine({"numpy": np.__version__}),
        "detector": {"alpha": 0.05, "max_permutations": cp.N_PERM, "stop_after": cp.STOP_AFTER},
        "null": [null_scenario(name, args.reps, 100 + i, **shape) for i, (name, shape) in enumerate(nulls)],
        "power": [
            power_scenario(shift, at, args.power_reps, 200 + i)
            for i, (shift, at) in enumerate(
                [(0.5, 20), (1.0, 20), (2.0, 20), (1.0, 29), (2.0, 29), (3.0, 29)]
            )
        ],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "changepoint.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "changepoint.md").write_text(markdown(results))
    print(markdown(results))


def _machine(m: dict) -> str:
    if m.get("cpu_model"):
        return f"{records.describe(m)}, load average {m['load_average']} at the start"
    return f"CPU {records.UNKNOWN_CPU}, {m.get('platform', 'platform not recorded')}"


def _pct(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def markdown(results: dict) -> str:
    lines = [f"Command: `{results['command']}` ({results['when']}), on {_machine(results['machine'])}.", "",
             "| change-free histories | replications | false change anywhere | false alarm on the newest night | s per history |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in results["null"]:
        lines.append(f"| {r['scenario']} | {r['false_change']['replications']} | {_pct(r['false_change'])} | "
                     f"{_pct(r['newest_night_false_alarm'])} | {r['seconds_per_history']:.3f} |")  # fmt: skip
    lines += ["", "| planted shift (noise SDs) | first night after | replications | detected | located +-1 night "
              "| other series flagged |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in results["power"]:
        lines.append(f"| {r['shift_sd']} | {r['first_night_after']} of {r['nights']} | {r['detected']['replications']} | "
                     f"{_pct(r['detected'])} | {_pct(r['located_within_1'])} | {_pct(r['other_series_flagged'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
