"""Train a behaviour policy online with stable-baselines3 PPO and export checkpoints as plain torch.

SAC (what D4RL used) runs about 70 gradient steps/s on 2 CPU cores; PPO about 960 env steps/s on one
thread, so a million steps takes ~17 minutes. The policies are risk-unaware: they train on the base task
(``HalfCheetah-v5`` ...), as D4RL's did; the risk spec only enters when datasets are recorded.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsbench.behaviour.committed import TASKS
from rsbench.behaviour.policy import BehaviourPolicy, mlp
from rsbench.errors import UserError


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings: the PPO paper's MuJoCo settings (Schulman et al. 2017; SB3's defaults) with
    VecNormalize, as rl-zoo. The 2048-step rollout is gathered from ``n_envs`` envs in lock-step so the
    policy runs batched (one forward per step for all envs); the update itself is unchanged.

    Attributes:
        steps: environment steps of training.
        checkpoint_every: export a policy file every this many steps (medium and medium-replay come from these).
        seed: seeds the env, the networks and PPO's sampling.
        n_envs: envs stepped in lock-step (a DummyVecEnv in one process).
        n_steps: rollout length per env per update (n_envs * n_steps transitions per update).
        batch_size: minibatch size of the PPO epochs.
        n_epochs: passes over each rollout.
        learning_rate: Adam step size.
        gamma: discount.
        gae_lambda: GAE lambda.
        clip_range: PPO ratio clip.
        hidden: widths of the tanh MLP (actor and critic separately, as SB3's MlpPolicy).
    """

    steps: int = 1_000_000
    checkpoint_every: int = 25_000
    seed: int = 0
    n_envs: int = 8
    n_steps: int = 256
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    hidden: tuple[int, ...] = (64, 64)


def _require_sb3() -> Any:
    try:
        import stable_baselines3
    except ImportError:
        raise UserError(
            "stable-baselines3 is not installed: pip install -e '.[behaviour]'", key="rsbench behaviour train"
        ) from None
    return stable_baselines3


def export(model: Any, vecnorm: Any, provenance: dict[str, Any]) -> BehaviourPolicy:
    """The PPO actor and VecNormalize statistics as a torch-only :class:`BehaviourPolicy`."""
    import torch
    from torch import nn

    linears = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    linears.append(model.policy.action_net)
    net = mlp([m.weight.detach().clone() for m in linears], [m.bias.detach().clone() for m in linears])
    return BehaviourPolicy(
        net=net,
        log_std=model.policy.log_std.detach().clone().to(torch.float32),
        obs_mean=np.asarray(vecnorm.obs_rms.mean, dtype=np.float64).copy(),
        obs_var=np.asarray(vecnorm.obs_rms.var, dtype=np.float64).copy(),
        clip_obs=float(vecnorm.clip_obs),
        provenance=provenance,
    )


def _make_env(base: str, seed: int, n_envs: int) -> Any:
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from rsbench.envs.registration import silence_mujoco

    silence_mujoco()
    venv = DummyVecEnv([lambda: Monitor(gym.make(base))] * n_envs)
    venv.seed(seed)
    return VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=0.99)


def _checkpoint_callback(task: str, out: Path, cfg: PPOConfig, started: float) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    # The command that reproduces this run (the CLI exposes steps, seed and checkpoint_every).
    command = (
        f"rsbench behaviour train {task} --steps {cfg.steps} --seed {cfg.seed} "
        f"--checkpoint-every {cfg.checkpoint_every}"
    )

    class Checkpoint(BaseCallback):
        """Every ``checkpoint_every`` steps: export the policy, save the SB3 state for --resume, log."""

        last = 0

        def _on_training_start(self) -> None:
            # The untrained policy is the start of training: medium-replay's first checkpoint (D4RL's
            # replay buffer begins with the initial policy's data).
            if self.model.num_timesteps == 0:
                self._export(0, float("nan"))

        def _on_step(self) -> bool:
            steps = self.model.num_timesteps
            if steps // cfg.checkpoint_every == self.last // cfg.checkpoint_every:
                return True
            self.last = steps
            ep = [e["r"] for e in list(self.model.ep_info_buffer)[-20:]]
            recent = float(np.mean(ep)) if ep else float("nan")
            self._export(steps, recent)
            self.model.save(out / "latest.zip")
            self.model.get_env().save(str(out / "latest_vecnormalize.pkl"))
            _log(out / "train_log.csv", steps, time.monotonic() - started, recent)
            rate = steps / max(time.monotonic() - started, 1e-9)
            eta = (cfg.steps - steps) / max(rate, 1e-9) / 60
            print(
                f"[{task}] {steps:>8}/{cfg.steps} steps  return(last 20) {recent:8.1f}  "
                f"{rate:5.0f} steps/s  ETA {eta:5.1f} min",
                flush=True,
            )
            return True

        def _export(self, steps: int, recent: float) -> None:
            vecnorm = self.model.get_env()
            prov = {
                "task": TASKS[task][0],
                "steps": steps,
                "seed": cfg.seed,
                "command": command,
                "config": asdict(cfg),
                "train_return_last20": recent,
                "algorithm": "sb3-ppo",
            }
            export(self.model, vecnorm, prov).save(out / "checkpoints" / f"step_{steps:08d}.pt")

    return Checkpoint()


def _log(path: Path, steps: int, wall: float, ret: float) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["steps", "wall_s", "train_return_last20"])
        w.writerow([steps, f"{wall:.1f}", f"{ret:.3f}"])


def train(task: str, out: Path, cfg: PPOConfig, *, resume: bool = False) -> Path:
    """Train PPO on ``task``'s base env; checkpoints go to ``out/checkpoints``. Returns ``out``."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", key="TASK")
    _require_sb3()
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)  # two trainings share 2 cores; batch the policy, not the threads
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if resume and (out / "latest.zip").exists():
        venv = VecNormalize.load(
            str(out / "latest_vecnormalize.pkl"), _make_env(TASKS[task][0], cfg.seed, cfg.n_envs).venv
        )
        model = PPO.load(out / "latest.zip", env=venv, device="cpu")
        remaining = cfg.steps - model.num_timesteps
        print(f"[{task}] resuming at {model.num_timesteps} steps", flush=True)
    else:
        venv = _make_env(TASKS[task][0], cfg.seed, cfg.n_envs)
        model = PPO(
            "MlpPolicy",
            venv,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            n_epochs=cfg.n_epochs,
            learning_rate=cfg.learning_rate,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_range,
            seed=cfg.seed,
            device="cpu",
            policy_kwargs={"net_arch": {"pi": list(cfg.hidden), "vf": list(cfg.hidden)}},
        )
        remaining = cfg.steps
    if remaining > 0:
        model.learn(
            remaining, callback=_checkpoint_callback(task, out, cfg, started), reset_num_timesteps=not resume
        )
    return out
