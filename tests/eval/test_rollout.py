"""Batched evaluation equals stepping the registered gymnasium env one episode at a time."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsbench.behaviour.named import scripted_policy
from rsbench.envs import make
from rsbench.envs.policies import detour, shortcut
from rsbench.eval.metrics import normalised_score
from rsbench.eval.rollout import eval_seeds, evaluate
from rsbench.eval.summary import evaluate_policy, summarize
from rsbench.risk import RiskSetting

RSBENCH = Path(sys.executable).parent / "rsbench"


def sequential(policy, task_id, seeds):
    """Reference: the registered env (RiskWrapper + TimeLimit), one episode at a time."""
    env = make(task_id)
    rows = []
    for s in seeds:
        obs, _ = env.reset(seed=int(s))
        ret = length = viol = pen = 0
        while True:
            obs, r, term, trunc, info = env.step(policy(obs[None])[0])
            ret += r
            length += 1
            viol += info["violation"]
            pen += info["penalty"]
            if term or trunc:
                rows.append((ret, length, viol, pen, term, trunc))
                break
    return [np.array(c) for c in zip(*rows, strict=True)]


@pytest.mark.parametrize("policy", [shortcut, detour])
def test_pointmass_batch_matches_the_gym_env(policy):
    seeds = eval_seeds("rsbench/RiskyPointMass-v0", 200)
    batch = evaluate(policy, "rsbench/RiskyPointMass-v0", 200)
    ret, length, viol, pen, term, trunc = sequential(policy, "rsbench/RiskyPointMass-v0", seeds)
    np.testing.assert_allclose(batch.returns, ret, rtol=0, atol=1e-9)
    assert np.array_equal(batch.lengths, length) and np.array_equal(batch.violation_steps, viol)
    assert np.array_equal(batch.penalty_events, pen)
    assert np.array_equal(batch.terminated, term) and np.array_equal(batch.truncated, trunc)


def test_mujoco_batch_matches_the_gym_env():
    def policy(obs):  # deterministic in the observation, so both paths see the same actions
        return np.tanh(obs[:, :3] * 3.0)

    task = "rsbench/RiskyHopper-v0"
    seeds = eval_seeds(task, 4)
    batch = evaluate(policy, task, 4)
    ret, length, viol, pen, term, _ = sequential(policy, task, seeds)
    np.testing.assert_allclose(batch.returns, ret, rtol=1e-12)
    assert np.array_equal(batch.lengths, length) and np.array_equal(batch.violation_steps, viol)
    assert np.array_equal(batch.penalty_events, pen) and np.array_equal(batch.terminated, term)
    assert viol.sum() > 0


def test_lock_step_one_call_per_step_and_risk_is_passed():
    calls = []

    def policy(obs, risk=None):
        calls.append((len(obs), risk))
        return shortcut(obs)

    eps = evaluate(policy, "rsbench/RiskyPointMass-v0", 50, risk=RiskSetting.parse("cvar:0.1"))
    assert len(calls) == eps.lengths.max()
    assert calls[0][0] == 50 and all(r == RiskSetting("cvar", 0.1) for _, r in calls)
    # Finished episodes drop out: the batch never grows and ends with the longest episodes only.
    sizes = [n for n, _ in calls]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == (eps.lengths == eps.lengths.max()).sum()


def test_common_random_numbers_and_fixed_seeds():
    a = eval_seeds("rsbench/RiskyPointMass-v0", 10)
    assert np.array_equal(a[:5], eval_seeds("rsbench/RiskyPointMass-v0", 5))  # fixed per episode index
    assert not np.array_equal(a, eval_seeds("rsbench/RiskyHopper-v0", 10))
    assert not np.array_equal(a, eval_seeds("rsbench/RiskyPointMass-v0", 10, base_seed=1))
    first = evaluate(shortcut, "rsbench/RiskyPointMass-v0", 300)
    again = evaluate(shortcut, "rsbench/RiskyPointMass-v0", 300)
    assert np.array_equal(first.returns, again.returns)
    # An episode's outcome (start state and penalty draws) depends on its seed alone, not on the batch
    # around it: the first 150 of 300 episodes equal a run of 150.
    half = evaluate(shortcut, "rsbench/RiskyPointMass-v0", 150)
    assert np.array_equal(half.returns, first.returns[:150])
    assert np.array_equal(half.penalty_events, first.penalty_events[:150]) and half.penalty_events.sum() > 10
    # Every policy is evaluated on the same seeds.
    rnd = evaluate(
        scripted_policy("random", "rsbench/RiskyPointMass-v0", 0), "rsbench/RiskyPointMass-v0", 300
    )
    assert np.array_equal(rnd.seeds, first.seeds)


def test_calibrated_property_with_non_overlapping_intervals():
    rows = {}
    for name, policy in (("shortcut", shortcut), ("detour", detour)):
        eps = evaluate(policy, "rsbench/RiskyPointMass-v0", 1000)
        rows[name] = {r.metric: r for r in summarize(eps, (0.1,), rng=np.random.default_rng(0))}
    s, d = rows["shortcut"], rows["detour"]
    assert s["mean_return"].low > d["mean_return"].high
    assert s["cvar_0.1"].high < d["cvar_0.1"].low
    assert s["violation_rate"].low > d["violation_rate"].high


def test_eval_cli_json_shows_the_property(tmp_path: Path):
    out = {}
    for policy in ("shortcut", "detour"):
        proc = subprocess.run(
            [
                RSBENCH,
                "eval",
                "--policy",
                policy,
                "--episodes",
                "1000",
                "--risk",
                "neutral,cvar:0.1",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(proc.stdout)
        assert [r["risk"] for r in data["results"]] == ["neutral", "cvar:0.1"]
        out[policy] = {m["metric"]: m for m in data["results"][0]["metrics"]}
    assert out["shortcut"]["cvar_0.1"]["high"] < out["detour"]["cvar_0.1"]["low"]
    assert out["shortcut"]["mean_return"]["low"] > out["detour"]["mean_return"]["high"]


def test_small_tails_are_flagged_in_the_output():
    eps = evaluate(shortcut, "rsbench/RiskyPointMass-v0", 50)
    rows = {r.metric: r for r in summarize(eps, (0.05, 0.25), rng=np.random.default_rng(0))}
    assert any("n*alpha = 2.5" in f for f in rows["cvar_0.05"].flags)
    assert rows["cvar_0.25"].flags == ()


def test_evaluate_policy_is_evaluate_then_summarize_per_setting_with_the_normalised_score() -> None:
    task = "rsbench/RiskyPointMass-v0"
    settings = [RiskSetting.parse("neutral"), RiskSetting.parse("cvar:0.1")]
    out = evaluate_policy(
        detour, task, 20, seed=3, settings=settings, alphas=(0.1,), references=(-50.0, 50.0)
    )
    assert [s for s, _ in out] == settings
    expected = summarize(evaluate(detour, task, 20, seed=3), (0.1,), rng=np.random.default_rng(3))
    rows = out[0][1]
    assert rows[:-1] == expected
    mean, score = expected[0], rows[-1]
    assert score.metric == "normalised_score" and score.method == mean.method
    assert [score.estimate, score.low, score.high] == pytest.approx(
        normalised_score([mean.estimate, mean.low, mean.high], -50.0, 50.0)
    )
    unscored = evaluate_policy(detour, task, 20, seed=3, alphas=(0.1,))
    assert [s for s, _ in unscored] == [None] and unscored[0][1] == expected


def test_user_policy_file(tmp_path: Path):
    f = tmp_path / "mine.py"
    f.write_text("import numpy as np\ndef act(obs, risk=None):\n    return np.zeros((len(obs), 2))\n")
    proc = subprocess.run(
        [RSBENCH, "eval", "--policy-file", f"{f}:act", "--episodes", "5", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = {m["metric"]: m for m in json.loads(proc.stdout)["results"][0]["metrics"]}
    assert metrics["mean_length"]["estimate"] == 100  # standing still never reaches the goal
    bad = subprocess.run([RSBENCH, "eval", "--policy-file", f"{f}:nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no callable 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_policies_that_name_env_ids_and_step_get_them() -> None:
    seen: list[tuple[int, list[int]]] = []

    def policy(obs, *, env_ids, step):
        seen.append((step, list(env_ids)))
        assert len(env_ids) == len(obs)
        return np.clip(np.array([0.1, 0.1]) - obs, -0.1, 0.1)

    eps = evaluate(policy, "rsbench/RiskyPointMass-v0", 4, seed=0)
    assert [s for s, _ in seen] == list(range(len(seen)))
    assert seen[0][1] == [0, 1, 2, 3]
    finished_early = np.flatnonzero(eps.lengths < eps.lengths.max())
    for i in finished_early:  # an episode leaves the batch after its last step
        assert all(i not in ids for step, ids in seen if step >= eps.lengths[i])


def test_policies_that_name_episode_seeds_get_each_rows_evaluation_seed() -> None:
    """The episode's evaluation seed identifies it whatever the batch: per-episode noise is keyed by it."""
    seen: list[tuple[list[int], list[int]]] = []

    def policy(obs, *, env_ids, episode_seeds):
        seen.append((list(env_ids), list(episode_seeds)))
        return np.clip(np.array([0.1, 0.1]) - obs, -0.1, 0.1)

    evaluate(policy, "rsbench/RiskyPointMass-v0", 5, seed=3)
    seeds = eval_seeds("rsbench/RiskyPointMass-v0", 5, 3)
    assert seen and all(s == [int(seeds[i]) for i in ids] for ids, s in seen)
