"""Is a run undertrained? A report never presents one without saying so.

A method whose training loss is still falling steeply at the end of its budget has not converged, and its
evaluation says little about the method (the smoke suite's 300 steps are such a run). The test is on the
logged loss curves of the run: per (method, task, loss), the median over seeds of the relative drop of the
loss from the second-to-last quarter of the logged points to the last quarter. Curves are window means of the
per-step losses (``train.log_every``), so a drop of more than ``DROP`` is a trend, not minibatch noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DROP = 0.10  # relative fall of the loss over the last quarter of training that still counts as "learning"
MIN_POINTS = 8  # fewer logged points cannot tell a trend from noise (two per quarter)


def _late_drop(curve: pd.DataFrame) -> float | None:
    """Relative fall of the mean loss from the second-to-last to the last quarter of the logged points:
    None when fewer than ``MIN_POINTS`` were logged, NaN when the loss has no relative scale."""
    values = curve.sort_values("step")["value"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if values.size < MIN_POINTS:
        return None
    q = values.size // 4
    before, last = values[-2 * q : -q].mean(), values[-q:].mean()
    if before <= 0:  # losses that cross zero (e.g. actor objectives): no trend to read, but logged enough
        return float("nan")
    return float((before - last) / before)


def training_warnings(curves: pd.DataFrame) -> list[str]:
    """One line per (method, task, loss) whose loss still falls by more than ``DROP`` over the last quarter
    of training (median over seeds), and one per (method, task) logged too sparsely to judge."""
    needed = {"method", "task", "name", "step", "value", "trial"}
    if curves is None or curves.empty or not needed <= set(curves.columns):
        return []
    losses = curves[curves["name"].astype(str).str.endswith("loss")]
    out = []
    for (method, task), sub in losses.groupby(["method", "task"], sort=True):
        steps = int(sub["step"].max())
        sparse, falling = False, []
        for name, by_loss in sub.groupby("name", sort=True):
            drops = [_late_drop(c) for _, c in by_loss.groupby("trial", sort=True)]
            known = [d for d in drops if d is not None and np.isfinite(d)]
            sparse |= any(d is None for d in drops)
            if known and float(np.median(known)) > DROP:
                falling.append(f"{name} -{float(np.median(known)):.0%}")
        if falling:
            out.append(
                f"{method} on {task} looks undertrained: after {steps} steps its loss is still falling over the "
                f"last quarter of training ({', '.join(falling)}, median over seeds); read its results as a "
                "mechanics check, not as the method's performance"
            )
        elif sparse:
            out.append(
                f"{method} on {task}: fewer than {MIN_POINTS} logged loss points per seed ({steps} steps), too "
                "few to tell whether training converged (lower train.log_every)"
            )
    return out
