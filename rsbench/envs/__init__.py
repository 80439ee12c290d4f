"""Risk specs, the risk wrapper, the Risky PointMass env and the registered ``rsbench/Risky*-v0`` ids.

Importing this package registers the task ids with gymnasium; MuJoCo is imported only when a MuJoCo
task is made.
"""

from rsbench.envs.registration import SPECS, TASKS, TaskInfo, make, register_tasks
from rsbench.envs.spec import RISK_SPEC_VERSION, RiskSpec, SpecError
from rsbench.envs.wrapper import RiskWrapper

register_tasks()

__all__ = [
    "RISK_SPEC_VERSION",
    "SPECS",
    "TASKS",
    "RiskSpec",
    "RiskWrapper",
    "SpecError",
    "TaskInfo",
    "make",
    "register_tasks",
]
