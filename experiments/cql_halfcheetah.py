"""Does CQL learn on MuJoCo? Train it on the locally built ``halfcheetah-mixed`` dataset at ten times the smoke
suite's budget and compare its evaluation return with the uniform random policy's on the same episode seeds.

    python experiments/cql_halfcheetah.py                 # CQL, 3 seeds, 10 x 300 steps, 50 episodes
    python experiments/cql_halfcheetah.py --seeds 0 --scale 1

The method, its config and the budget come from ``suites/smoke.yaml`` (the ``--label`` entry; steps and
batch size times ``--scale``). Every logged loss must be finite (training stops with an error at the first
NaN). Writes ``results.json`` (per-seed returns, loss curves) and ``results.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TASK = "rsbench/RiskyHalfCheetah-v0"
DATASET = "halfcheetah-mixed"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from rich.console import Console

    from rsbench.behaviour.named import scripted_policy
    from rsbench.data.build import build
    from rsbench.data.offline import load
    from rsbench.eval import stats
    from rsbench.eval.rollout import evaluate
    from rsbench.methods import Space, create
    from rsbench.suite import load_suite, validate_suite
    from rsbench.train import fit

    console = Console(stderr=True)
    torch.set_num_threads(args.threads)
    suite = load_suite(args.suite)
    validate_suite(suite, source=args.suite)
    if args.label not in suite.methods:
        from rsbench.errors import UserError

        raise UserError(f"no method {args.label!r} in {args.suite}", key="--label")
    entry = suite.methods[args.label]
    steps = args.scale * (entry.steps or suite.train.steps)
    batch_size = entry.batch_size or suite.train.batch_size
    dataset_id, built = build(DATASET, progress=True)
    if built:
        console.print(f"built {dataset_id}")
    data = load(dataset_id)

    random_returns = evaluate(
        scripted_policy("random", TASK), TASK, args.episodes, seed=args.eval_seed
    ).returns
    trials = []
    for seed in args.seeds:
        method = create(entry.method, Space.from_data(data), entry.config, seed=seed)
        method.prepare(data)  # normalisers, so the untrained policy acts as it would at step 0 of training
        untrained = evaluate(
            method.policy(seed=args.eval_seed), TASK, args.episodes, seed=args.eval_seed
        ).returns
        start = time.perf_counter()
        result = fit(method, data, steps, batch_size=batch_size, seed=seed, log_every=max(1, steps // 20))
        train_seconds = time.perf_counter() - start
        returns = evaluate(
            method.policy(seed=args.eval_seed), TASK, args.episodes, seed=args.eval_seed
        ).returns
        finite = all(math.isfinite(v) for row in result.curves for v in row.values())
        test = stats.welch_t_test(returns, random_returns, "greater")
        trials.append(
            {
                "seed": seed,
                "train_seconds": train_seconds,
                "mean_return": float(returns.mean()),
                "untrained_mean_return": float(untrained.mean()),
                "returns": returns.tolist(),
                "p_above_random": test.p_value,
                "losses_finite": finite,
                "curves": result.curves,
            }
        )
        console.print(
            f"seed {seed}: return {returns.mean():.1f} (untrained {untrained.mean():.1f}) "
            f"vs random {random_returns.mean():.1f} "
            f"(Welch p = {test.p_value:.2g}), {train_seconds:.0f} s"
        )
    means = np.array([t["mean_return"] for t in trials])
    return {
        "method": entry.method,
        "config": dict(entry.config),
        "task": TASK,
        "dataset": dataset_id,
        "steps": steps,
        "batch_size": batch_size,
        "episodes": args.episodes,
        "random_mean_return": float(random_returns.mean()),
        "random_returns": random_returns.tolist(),
        "trials": trials,
        "seeds_above_random": int(sum(t["mean_return"] > random_returns.mean() for t in trials)),
        "seed_mean_interval": dataclasses.asdict(stats.t_interval(means)) if means.size >= 2 else None,
        "all_losses_finite": all(t["losses_finite"] for t in trials),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"{result['method']} on `{result['dataset']}`: {result['steps']} steps, batch {result['batch_size']}, "
        f"{result['episodes']} evaluation episodes (horizon 200)",
        "",
        "| policy | seed | mean return | same net untrained | Welch p (> random) | losses finite | train time |",
        "|---|---|---|---|---|---|---|",
        f"| random | - | {result['random_mean_return']:.1f} | - | - | - | - |",
    ]
    for t in result["trials"]:
        lines.append(
            f"| {result['method']} | {t['seed']} | {t['mean_return']:.1f} | {t['untrained_mean_return']:.1f} | "
            f"{t['p_above_random']:.2g} | "
            f"{'yes' if t['losses_finite'] else 'NO'} | {t['train_seconds']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "smoke.yaml")
    parser.add_argument("--label", default="cql", help="method label in the suite")
    parser.add_argument("--scale", type=int, default=10, help="multiple of the suite's training steps")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--eval-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "experiments" / "cql_halfcheetah")
    args = parser.parse_args(argv)

    from rsbench.errors import UserError
    from rsbench.runtime import configure_environment

    configure_environment()
    try:
        result = run(args)
    except UserError as e:
        print(f"cql_halfcheetah: error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("results.json", json.dumps(result, indent=2)), ("results.md", markdown(result))):
        tmp = args.out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(args.out / name)
    print(markdown(result))
    print(f"results written to {args.out}/results.json and results.md", file=sys.stderr)
    return 0 if result["all_losses_finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
