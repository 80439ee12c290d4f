"""rsbench: a benchmark and evaluation suite for risk-sensitive offline RL.

Importing the package registers the ``rsbench/Risky*-v0`` task ids with gymnasium, so that
``import rsbench; gymnasium.make("rsbench/RiskyPointMass-v0")`` works as users of other gymnasium suites
expect. It costs numpy and gymnasium only: no simulator (MuJoCo loads when a MuJoCo task is made), no Ray,
no torch, no plotting.
"""

__version__ = "0.1.0"

import rsbench.envs  # noqa: F401  (registers the task ids)
