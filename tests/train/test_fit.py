from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rsbench.methods import Space, create, get
from rsbench.methods.base import DataSpec, Method, MethodConfig
from rsbench.train import TrainingDiverged, fit, latest_checkpoint, load_checkpoint


def _tiny(name: str, data, seed: int = 0) -> Method:
    return create(name, Space.from_data(data), get(name).Config.tiny(), seed=seed)


def _weights(method: Method) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in method.model.state_dict().items()}  # type: ignore[attr-defined]


def test_resume_repeats_an_uninterrupted_run(pointmass_data, tmp_path: Path) -> None:
    straight = _tiny("rs_diffuser", pointmass_data)
    full = fit(straight, pointmass_data, 6, batch_size=8, seed=5, log_every=2)

    first = _tiny("rs_diffuser", pointmass_data)
    fit(
        first,
        pointmass_data,
        4,
        batch_size=8,
        seed=5,
        log_every=2,
        checkpoint_every=2,
        checkpoint_dir=tmp_path,
    )
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt is not None and ckpt.name == "step-000000004"
    assert [p.name for p in tmp_path.iterdir()] == ["step-000000004"]  # keep=1, no temp dirs left
    resumed = _tiny("rs_diffuser", pointmass_data, seed=99)  # its own init is replaced by the checkpoint
    rest = fit(resumed, pointmass_data, 6, batch_size=8, seed=0, log_every=2, resume_from=ckpt)

    assert rest.steps == 6 and [r["step"] for r in rest.curves] == [2, 4, 6]
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[key]), key
    drop = ("wall_time",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rest.curves] == [
        {k: v for k, v in r.items() if k not in drop} for r in full.curves
    ]


def test_curves_average_losses_per_log_point(pointmass_data) -> None:
    result = fit(_tiny("diffuser", pointmass_data), pointmass_data, 5, batch_size=8, log_every=2)
    assert [r["step"] for r in result.curves] == [2, 4, 5]
    assert {"diffusion_loss", "value_loss"} <= set(result.curves[0])
    frame = result.frame()
    assert list(frame["step"]) == [2, 4, 5] and result.wall_time > 0


class _Exploding(Method):
    """Reports a finite loss, then NaN at the third step."""

    name = "exploding"

    def __init__(self, space: Space):
        super().__init__(MethodConfig(), space)
        self.w = torch.nn.Linear(1, 1)

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions")

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"td_loss": float("nan") if self.steps == 2 else 1.0}

    def act(self, obs: np.ndarray, **kwargs: Any) -> np.ndarray:
        return np.zeros((len(obs), self.space.act_dim), np.float32)

    def components(self) -> dict[str, Any]:
        return {"w": self.w}


def test_non_finite_loss_stops_with_step_and_loss_named(pointmass_data) -> None:
    with pytest.raises(
        TrainingDiverged, match=r"exploding: training diverged at step 3: loss 'td_loss' is nan"
    ):
        fit(_Exploding(Space.from_data(pointmass_data)), pointmass_data, 10, batch_size=4)


def test_checkpoint_callback_replaces_files(pointmass_data, tmp_path: Path) -> None:
    seen: list[int] = []
    fit(
        _tiny("decision_diffuser", pointmass_data),
        pointmass_data,
        5,
        batch_size=8,
        checkpoint_every=2,
        on_checkpoint=lambda step, method, trainer: seen.append(step),
    )
    assert seen == [2, 4, 5]
    assert not list(tmp_path.iterdir())


def test_bad_arguments_and_foreign_checkpoints(pointmass_data, tmp_path: Path) -> None:
    method = _tiny("diffuser", pointmass_data)
    with pytest.raises(ValueError, match="checkpoint_every needs"):
        fit(method, pointmass_data, 2, checkpoint_every=1)
    from rsbench.errors import UserError

    with pytest.raises(UserError, match="not an rsbench checkpoint"):
        load_checkpoint(tmp_path)
    other = _tiny("decision_diffuser", pointmass_data)
    fit(other, pointmass_data, 1, batch_size=4, checkpoint_every=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds 'decision_diffuser', not 'diffuser'"):
        fit(method, pointmass_data, 2, resume_from=latest_checkpoint(tmp_path))
