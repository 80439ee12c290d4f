"""Scripted behaviour policies ("gaits") for gymnasium MuJoCo v5 envs.

Each gait is a sinusoidal central-pattern generator with an optional PD-style feedback term::

    a_j(t, obs) = clip(A_j * sin(2*pi*freq*t + phi_j) + b_j
                       - kp_j * q_j - kd_j * qdot_j + ka_j * theta + kav_j * thetadot, -1, 1)

where ``t`` is the integer step index, ``q``/``qdot`` are the actuated joint angles/velocities
(``obs[2:2+J]`` / ``obs[-J:]``) and ``theta``/``thetadot`` the torso pitch and its rate
(``obs[1]`` / ``obs[2+J+2]``). HalfCheetah and Walker2d gaits are purely open-loop (no feedback gains,
``obs`` may be omitted); the Hopper gait uses the feedback term and needs ``obs``.

Parameters were found by a small seeded cross-entropy search under Gaussian action noise sigma = 0.2
(``a = clip(gait + 0.2 * N(0, I), -1, 1)``). Measured over 20 episodes (reset seeds 10_000..10_019,
noise rng seed 123; "risky" counted on non-terminal steps; return is the env's own reward):

- HalfCheetah-v5 (200-step episodes), risky = obs[8] > 4.0:
  sigma 0.2: risky-step fraction 0.19, length 200, return 483 (2/20 episodes flip onto the back).
  sigma 0.1 / 0.3: risky 0.33 / 0.10, return 564 / 394. Uniform random: risky 0.00, return -65.
- Hopper-v5 (cap 500), risky = healthy and |obs[1]| > 0.1 (uses feedback, needs obs):
  sigma 0.2: risky-step fraction 0.22, mean length 270, return 565.
  sigma 0.1 / 0.3: risky 0.12 / 0.29, length 426 / 245. Uniform random: risky 0.32, length 24, return 21.
- Walker2d-v5 (cap 500), risky = healthy and |obs[1]| > 0.5:
  sigma 0.2: risky-step fraction 0.14, mean length 357, return 457.
  sigma 0.1 / 0.3: risky 0.24 / 0.16, length 391 / 325. Uniform random: risky 0.27, length 20, return 0.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SinusoidGait:
    """Sinusoidal CPG with optional PD-style joint / torso-pitch feedback."""

    freq: float  # cycles per env step
    amplitude: tuple[float, ...]
    phase: tuple[float, ...]
    offset: tuple[float, ...]
    kp: tuple[float, ...] = ()  # joint-angle gains (empty = no feedback)
    kd: tuple[float, ...] = ()  # joint-velocity gains
    ka: tuple[float, ...] = ()  # torso-pitch gains
    kav: tuple[float, ...] = ()  # torso-pitch-rate gains

    @property
    def act_dim(self) -> int:
        return len(self.amplitude)

    @property
    def uses_obs(self) -> bool:
        return bool(self.kp or self.kd or self.ka or self.kav)

    def action(self, t: np.ndarray, obs: np.ndarray | None = None) -> np.ndarray:
        """Actions for step indices ``t`` (N,) and observations ``obs`` (N, obs_dim); returns (N, act_dim)."""
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1)
        amp = np.asarray(self.amplitude, dtype=np.float64)
        u = amp * np.sin(2.0 * np.pi * self.freq * t + np.asarray(self.phase)) + np.asarray(self.offset)
        if self.uses_obs:
            if obs is None:
                raise ValueError("this gait uses observation feedback; pass obs of shape (N, obs_dim)")
            obs = np.asarray(obs, dtype=np.float64).reshape(t.shape[0], -1)
            j = self.act_dim
            zeros = np.zeros(j)
            q, qd = obs[:, 2 : 2 + j], obs[:, -j:]
            th, thd = obs[:, 1:2], obs[:, 2 + j + 2 : 2 + j + 3]
            kp, kd, ka, kav = (
                np.asarray(g, dtype=np.float64) if g else zeros for g in (self.kp, self.kd, self.ka, self.kav)
            )
            u = u - kp * q - kd * qd + ka * th + kav * thd
        return np.clip(u, -1.0, 1.0)


GAITS: dict[str, SinusoidGait] = {
    "HalfCheetah-v5": SinusoidGait(
        freq=0.2115,
        amplitude=(1.415, 1.397, 1.5, 1.5, 0.826, 0.372),
        phase=(4.984, 0.804, 4.148, 0.472, 0.791, 0.656),
        offset=(-0.239, 0.473, 0.373, -1.0, -0.552, -0.773),
    ),
    "Hopper-v5": SinusoidGait(
        freq=0.02,
        amplitude=(1.001, 0.557, 0.526),
        phase=(0.804, 3.135, 3.488),
        offset=(0.015, -0.25, 0.093),
        kp=(0.586, 1.102, 0.359),
        kd=(0.301, 0.015, 0.154),
        ka=(-0.56, -1.845, -3.705),
        kav=(-0.826, -0.227, -1.239),
    ),
    "Walker2d-v5": SinusoidGait(
        freq=0.3291,
        amplitude=(1.354, 0.252, 0.073, 0.0, 0.655, 0.796),
        phase=(1.125, 2.163, 5.904, 2.056, 5.969, 4.546),
        offset=(-0.528, 0.658, 1.0, 1.0, 0.99, 0.471),
    ),
}
