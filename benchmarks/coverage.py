"""Measured coverage and false-positive rates of the intervals and tests the report shows (docs/design.md §6).

    .venv/bin/python benchmarks/coverage.py                 # the full measurement (about 20 min of one core)
    .venv/bin/python benchmarks/coverage.py --reps 20 --truth 20000 --pool 200   # a quick look
    .venv/bin/python benchmarks/coverage.py --pool 0 & .venv/bin/python benchmarks/coverage.py --truth 0  # in two

Scripted policies whose true metrics are fixed by many episodes are put through the leaderboard pipeline as
a run would be: 5 training seeds of 100 episodes each (protocol 2: seed s on the episode set of
(eval.seed, task, s), eval.seed = the replication), then :func:`rsbench.results.tables.per_seed`,
:func:`rsbench.report.leaderboard.task_board` and :func:`rsbench.report.compare.planned_comparisons`, the
functions ``rsbench report`` calls. Nothing here re-implements a metric or a test.

- Coverage: the share of replications whose 95% interval holds the truth, per metric, for the seed-level
  t-interval and for the two-level bootstrap (:func:`rsbench.eval.stats.two_level_bootstrap_ci`), and the
  estimator's bias (mean estimate minus truth, with its Monte Carlo standard error).
- False positives: two labels of the same policy (a 50/50 mixture whose per-episode coin is keyed by the
  label's own seed, so the two differ episode by episode but not in distribution) sharing every seed's
  episode set: how often the leaderboard puts them in different tiers and how often ``report --compare``
  (paired when the groups share episode sets, else Welch) calls a planned comparison significant.
- Power: the same with a real difference (shortcut share 0.5 vs 0.3, one coin stream: one model at two
  settings), paired test against Welch.

Policies: ``shortcut``, ``detour`` and ``mixture`` (50/50 per episode) on RiskyPointMass, the real
evaluator for every replication (truth from ``--truth`` episodes, default 20,000); the committed ``medium``
behaviour policy on RiskyHalfCheetah from a pool of ``--pool`` episodes evaluated once (each replication draws
its 500 episodes from the pool with replacement, so the truth is the pool's own value, exactly: :class:`Pool`). Writes
``benchmarks/results/coverage.json`` and ``coverage.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "results"
POINTMASS = "rsbench/RiskyPointMass-v0"
CHEETAH = "rsbench/RiskyHalfCheetah-v0"
ALPHAS = (0.05, 0.1, 0.25)
METRICS = ("mean_return", "cvar_0.05", "cvar_0.1", "cvar_0.25", "violation_rate")
COMPARED = ("cvar_0.1", "violation_rate", "mean_return")  # what report --compare tests
SEEDS, EPISODES = 5, 100
TRUTH_SEED = 10**6  # the truth's eval.seed: no replication uses it
POWER_P = 0.35  # the power contrast: shortcut share 0.5 against this


# ----------------------------------------------------------------------------------------------- policies


def mixture(p_shortcut: float, coin_seed: int) -> Callable[..., np.ndarray]:
    """Shortcut with probability ``p_shortcut`` per episode, else detour; the coin is keyed by
    (``coin_seed``, episode seed), so an episode's choice does not depend on its batch."""
    from rsbench.envs.policies import detour, shortcut
    from rsbench.methods.noise import episode_keys

    def act(obs: np.ndarray, *, episode_seeds: np.ndarray) -> np.ndarray:
        u = (episode_keys(coin_seed, episode_seeds, 0) >> np.uint64(11)).astype(np.float64) / 2.0**53
        return np.where((u < p_shortcut)[:, None], shortcut(obs), detour(obs))

    return act


def pointmass_policies() -> dict[str, Callable[..., np.ndarray]]:
    from rsbench.envs.policies import detour, shortcut

    return {
        "shortcut": lambda obs: shortcut(obs),
        "shortcut_copy": lambda obs: shortcut(obs),  # two labels of one deterministic policy
        "detour": lambda obs: detour(obs),
        "mixture": mixture(0.5, 1),
        "mixture_copy": mixture(0.5, 2),  # the same policy, its own coins: equal in distribution
        f"mixture_{POWER_P:g}": mixture(
            POWER_P, 1
        ),  # the same coins, fewer shortcuts: one model, two settings
    }


# ------------------------------------------------------------------------------------------------ sources


Episodes = dict[str, np.ndarray]  # return, length, violation_steps, episode_seed: (n,)


def _columns(eps) -> Episodes:
    return {
        "return": eps.returns,
        "length": eps.lengths,
        "violation_steps": eps.violation_steps,
        "episode_seed": eps.seeds,
    }


class Evaluator:
    """Episodes of a policy on a task through the real evaluator: replication ``r`` is eval.seed ``r``."""

    def __init__(self, task: str, policies: dict[str, Callable[..., np.ndarray]]):
        self.task, self.policies = task, policies

    def episodes(self, label: str, rep: int, seed: int) -> Episodes:
        from rsbench.eval.rollout import evaluate

        return _columns(evaluate(self.policies[label], self.task, EPISODES, seed=rep, train_seed=seed))

    def truth(self, label: str, n: int) -> Episodes:
        from rsbench.eval.rollout import evaluate

        return _columns(evaluate(self.policies[label], self.task, n, seed=TRUTH_SEED, train_seed=0))


class Pool:
    """Episodes drawn from pools evaluated once: ``pools`` holds two labels' episodes on the same episode
    seeds (one policy, two action-noise seeds). Replication ``r`` draws ``SEEDS * EPISODES`` indices with
    replacement and a fair coin per index (``default_rng(r)``): where it lands, the two labels swap pools. So
    each label's episodes are i.i.d. from the two pools together (whose metrics are the truth, exactly), the
    two labels are exchangeable (an exact null, which two finite pools alone would not be), and they share
    every seed's episode seeds, as protocol 2 has it; seed s takes its 100."""

    def __init__(self, pools: dict[str, Episodes]):
        self.labels = list(pools)
        self.pools = pools
        self.size = len(pools[self.labels[0]]["return"])

    def episodes(self, label: str, rep: int, seed: int) -> Episodes:
        rng = np.random.default_rng(rep)
        take = rng.integers(0, self.size, SEEDS * EPISODES)
        swap = rng.random(SEEDS * EPISODES) < 0.5
        rows = slice(seed * EPISODES, (seed + 1) * EPISODES)
        first = swap[rows] if label == self.labels[0] else ~swap[rows]
        own, other = self.pools[self.labels[0]], self.pools[self.labels[1]]
        return {k: np.where(first, other[k][take[rows]], own[k][take[rows]]) for k in own}

    def truth(self, label: str, n: int) -> Episodes:
        return {k: np.concatenate([p[k] for p in self.pools.values()]) for k in self.pools[label]}


def cheetah_pool(n: int) -> Pool:
    """The committed ``medium`` behaviour policy on RiskyHalfCheetah, two action-noise seeds (two labels of
    one policy), ``n`` episodes each on the same episode seeds."""
    from rsbench.behaviour.named import scripted_policy
    from rsbench.eval.rollout import evaluate

    pools = {}
    for label, seed in (("medium", 0), ("medium_copy", 1)):
        chunks = [
            _columns(evaluate(scripted_policy("medium", CHEETAH, seed), CHEETAH, 500, seed=TRUTH_SEED + i))
            for i in range(math.ceil(n / 500))
        ]
        pools[label] = {k: np.concatenate([c[k] for c in chunks])[:n] for k in chunks[0]}
    return Pool(pools)


# ----------------------------------------------------------------------------------------------- pipeline


def run_frame(source, labels: dict[str, str], rep: int) -> pd.DataFrame:
    """The episodes table a run would store: one group per label (``label -> source label``), 5 seeds."""
    frames = []
    for label, policy in labels.items():
        for seed in range(SEEDS):
            eps = source.episodes(policy, rep, seed)
            frames.append(
                pd.DataFrame(
                    {
                        "trial": f"{label}-task-s{seed}",
                        "method": label,
                        "algo": label,
                        "task": "task",
                        "sweep": "{}",
                        "risk": "neutral",
                        "seed": seed,
                        "episode": np.arange(len(eps["return"])),
                        **eps,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def truth_metrics(eps: Episodes) -> dict[str, float]:
    """The policy's metrics from many episodes, with the same functions the per-seed table uses."""
    from rsbench.eval import metrics

    return {
        "mean_return": float(eps["return"].mean()),
        **{f"cvar_{a:g}": float(metrics.cvar(eps["return"], a)) for a in ALPHAS},
        "violation_rate": float(metrics.violation_rate(eps["violation_steps"], eps["length"])),
    }


def intervals(table: pd.DataFrame, episodes: pd.DataFrame) -> dict[str, dict[str, tuple]]:
    """``kind -> metric -> (estimate, low, high)`` for one group: the interval the leaderboard shows (its own
    :func:`~rsbench.report.leaderboard.cell` and :func:`~rsbench.report.leaderboard.cvar_bootstrap`, as
    ``task_board`` calls them; checked equal to the board's in the fast test), the seed-level t-interval and
    the two-level bootstrap alone (low/high None where no interval is shown: every seed equal)."""
    from rsbench.eval import stats
    from rsbench.eval.metrics import metric_info
    from rsbench.report import leaderboard as lb

    ordered = episodes.sort_values(["seed", "episode"])
    sets = np.stack([g["return"].to_numpy() for _, g in ordered.groupby("seed")])
    out: dict[str, dict[str, tuple]] = {"shown": {}, "t": {}, "bootstrap": {}}
    for m in METRICS:
        x = table.sort_values("seed")[m].to_numpy(dtype=float)
        boot = lb.cvar_bootstrap(sets, float(m[5:])) if m.startswith("cvar_") else None
        c = lb.cell(x, metric_info(m).bounds, boot)
        out["shown"][m] = (c.mean, c.low, c.high)
        t = stats.t_interval(x) if np.ptp(x) > 0 else None
        out["t"][m] = (float(x.mean()), t.low if t else None, t.high if t else None)
        if boot is not None:
            out["bootstrap"][m] = (boot.estimate, boot.low, boot.high) if t else (boot.estimate, None, None)
    return out


def coverage(source, label: str, truth: dict[str, float], reps: int, first_rep: int = 0) -> dict:
    """Coverage of each interval kind and the bias of each estimator over ``reps`` replications."""
    from rsbench.results.tables import per_seed

    hits: dict[str, dict[str, list[bool]]] = {}
    est: dict[str, list[float]] = {m: [] for m in METRICS}
    width: dict[str, dict[str, list[float]]] = {}
    for rep in range(first_rep, first_rep + reps):
        episodes = run_frame(source, {label: label}, rep)
        table = per_seed(episodes, ALPHAS)
        for kind, by_metric in intervals(table, episodes).items():
            for m, (e, low, high) in by_metric.items():
                if kind == "shown":
                    est[m].append(e)
                if low is None:  # no interval: every seed equal (e.g. the detour's violation rate 0)
                    ok = math.isclose(e, truth[m], abs_tol=1e-12)
                    w = 0.0
                else:
                    ok, w = low <= truth[m] <= high, high - low
                hits.setdefault(kind, {}).setdefault(m, []).append(bool(ok))
                width.setdefault(kind, {}).setdefault(m, []).append(w)
    out = {"label": label, "reps": reps, "truth": truth, "metrics": {}}
    for m in METRICS:
        e = np.asarray(est[m])
        out["metrics"][m] = {
            "bias": float(e.mean() - truth[m]),
            "bias_se": float(e.std(ddof=1) / math.sqrt(e.size)),
            "sd": float(e.std(ddof=1)),
            **{f"coverage_{k}": float(np.mean(hits[k][m])) for k in hits if m in hits[k]},
            **{f"width_{k}": float(np.mean(width[k][m])) for k in width if m in width[k]},
        }
    return out


def two_labels(source, a: str, b: str, reps: int, first_rep: int = 0) -> dict:
    """Two groups on shared episode sets through the leaderboard and ``report --compare``: how often the
    tier walk separates them, and how often each planned test rejects at 0.05 (paired: the compare's own
    test; Welch: the same per-seed values)."""
    from rsbench.report import leaderboard as lb
    from rsbench.report.compare import planned_comparisons
    from rsbench.results.tables import per_seed

    tiers, tests = [], {m: {"compare": [], "welch": []} for m in COMPARED}
    kinds = set()
    for rep in range(first_rep, first_rep + reps):
        episodes = run_frame(source, {"a": a, "b": b}, rep)
        table = lb.with_groups(per_seed(episodes, ALPHAS))
        board = lb.task_board(table, "task", list(ALPHAS))  # tiers: Welch on per-seed values, no bootstrap
        tier = {r["group"]: r["tier"] for r in board.rows}
        tiers.append(tier["a neutral"] != tier["b neutral"])
        for p in planned_comparisons(table, ["a,b"], list(ALPHAS)):
            kinds.add(p.test)
            tests[p.metric]["compare"].append(bool(p.p_holm < 0.05))  # NaN (identical seeds): no rejection
            x, y = (
                table[table["group"] == g].sort_values("seed")[p.metric].to_numpy()
                for g in ("a neutral", "b neutral")
            )
            tests[p.metric]["welch"].append(bool(lb.welch_difference(x, y)[3] < 0.05))  # NaN: no rejection
    return {
        "a": a,
        "b": b,
        "reps": reps,
        "compare_test": sorted(kinds),
        "tiers_differ": float(np.mean(tiers)),
        "reject": {m: {k: float(np.mean(v)) for k, v in by.items()} for m, by in tests.items()},
    }


# ------------------------------------------------------------------------------------------------ the run


def measure(reps: int, truth_n: int, pool_n: int, log=print, save=lambda results: None) -> dict:
    """Every figure of the module docstring (``pool_n`` 0: RiskyPointMass only; ``truth_n`` 0: RiskyHalfCheetah
    only), the hardest cases first; ``log`` gets a line and ``save`` the results so far after each part."""
    start = time.perf_counter()
    pm = Evaluator(POINTMASS, pointmass_policies())
    results: dict = {"reps": reps, "seeds": SEEDS, "episodes": EPISODES, "coverage": [], "two_labels": []}

    def done(what: str) -> None:
        results["seconds"] = round(time.perf_counter() - start, 1)
        log(f"{what}: {results['seconds']:.0f} s")
        save(results)

    pairs = {
        "mixture_copy": ("mixture", "mixture_copy", "null: equal in distribution, own coins", reps),
        "power": ("mixture", f"mixture_{POWER_P:g}", f"power: shortcut share 0.5 vs {POWER_P:g}, shared coins", reps),
        "shortcut_copy": ("shortcut", "shortcut_copy", "null: one deterministic policy under two labels", max(reps // 4, 2)),
    }  # fmt: skip
    for part in (
        ("mixture", "mixture_copy", "power", "shortcut", "detour", "shortcut_copy") if truth_n else ()
    ):
        if part in pairs:
            a, b, what, n = pairs[part]
            results["two_labels"].append({"task": POINTMASS, "what": what, **two_labels(pm, a, b, n)})
        else:
            truth = truth_metrics(pm.truth(part, truth_n))
            entry = {"task": POINTMASS, "truth_episodes": truth_n, **coverage(pm, part, truth, reps)}
            results["coverage"].append(entry)
        done(part)
    if pool_n:
        pool = cheetah_pool(pool_n)
        done(f"HalfCheetah pool of {pool_n} episodes x 2")
        truth = truth_metrics(pool.truth("medium", pool_n))
        entry = {"task": CHEETAH, "truth_episodes": 2 * pool_n, **coverage(pool, "medium", truth, reps)}
        results["coverage"].append(entry)
        done("HalfCheetah coverage")
        what = "null: one behaviour policy, two action-noise seeds"
        results["two_labels"].append(
            {"task": CHEETAH, "what": what, **two_labels(pool, "medium", "medium_copy", reps)}
        )
        done("HalfCheetah two labels")
    return results


def merged(previous: dict, fresh: dict) -> dict:
    """``fresh`` with the entries of tasks it did not measure kept from ``previous`` (the same replication
    count only): the two tasks may run as two processes (``--truth 0`` / ``--pool 0``)."""
    measured = {e["task"] for e in fresh["coverage"] + fresh["two_labels"]}
    if previous.get("reps") != fresh["reps"]:
        return fresh
    out = dict(fresh)
    for key in ("coverage", "two_labels"):
        out[key] = [e for e in previous.get(key, []) if e["task"] not in measured] + fresh[key]
    out["seconds"] = round(fresh["seconds"] + previous.get("seconds", 0.0), 1)
    return out


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.05 * 0.95) / n)


def markdown(r: dict) -> str:
    """The tables docs/statistics.md copies."""
    n = r["reps"]
    lines = [
        f"{r['seeds']} seeds x {r['episodes']} episodes per replication, {n} replications "
        f"(binomial SE of a 95% coverage: {binomial_se(0.95, n):.3f}); {r['seconds']:.0f} s.",
        "",
        "| task | policy | metric | truth | bias (MC SE) | sd of estimate | coverage: shown | t | two-level bootstrap "
        "| mean width: shown | t |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in r["coverage"]:
        task = c["task"].split("/")[1].replace("-v0", "")
        for m, f in c["metrics"].items():
            boot = f"{f['coverage_bootstrap']:.3f}" if "coverage_bootstrap" in f else "-"
            lines.append(
                f"| {task} ({c['truth_episodes']} episodes) | {c['label']} | {m} | {c['truth'][m]:.4g} | "
                f"{f['bias']:+.3g} ({f['bias_se']:.2g}) | {f['sd']:.3g} | {f['coverage_shown']:.3f} | "
                f"{f['coverage_t']:.3f} | {boot} | {f['width_shown']:.3g} | {f['width_t']:.3g} |"
            )
    lines += [
        "",
        "| task | groups | what | tiers differ | "
        + " | ".join(f"{m}: compare | {m}: Welch" for m in COMPARED)
        + " |",
        "|---|---|---|---|" + "---|---|" * len(COMPARED),
    ]
    for t in r["two_labels"]:
        task = t["task"].split("/")[1].replace("-v0", "")
        cells = " | ".join(
            f"{t['reject'][m]['compare']:.3f} | {t['reject'][m]['welch']:.3f}" for m in COMPARED
        )
        lines.append(
            f"| {task} | {t['a']} / {t['b']} | {t['what']} (compare: {', '.join(t['compare_test'])}) | "
            f"{t['tiers_differ']:.3f} | {cells} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="replications (default 300)")
    parser.add_argument(
        "--truth", type=int, default=1_000_000, help="PointMass truth episodes (>= 20,000; 0: skip PointMass)"
    )
    parser.add_argument(
        "--pool", type=int, default=10_000, help="HalfCheetah pool episodes per label (0: skip)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="directory for coverage.json / coverage.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp())
    os.chdir(tempfile.mkdtemp())  # MuJoCo may log into the working directory
    started = {"when": datetime.now(UTC).isoformat(timespec="minutes"), "load": round(os.getloadavg()[0], 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "coverage.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}

    def save(
        results: dict,
    ) -> None:  # after every part, atomically: an interrupted run keeps what it measured
        both = {"measured": started, **merged(previous, results)}
        for name, text in (("coverage.json", json.dumps(both, indent=2)), ("coverage.md", markdown(both))):
            tmp = args.out / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(args.out / name)

    measure(args.reps, args.truth, args.pool, log=lambda t: print(t, flush=True), save=save)
    print((args.out / "coverage.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
