"""Packing conformance: for every packable method, K seeds trained as one stacked model (:class:`Pack`)
equal the same K seeds trained separately (weights, EMA, optimiser states and losses, to float tolerance)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rsbench.methods import Space, available, create, get
from rsbench.methods.base import DataSpec, MethodConfig
from rsbench.methods.nets import mlp
from rsbench.methods.packing import Pack, PackableMethod, Stage, packable
from rsbench.methods.planner import DiffusionPlanner

PACKABLE = [name for name in available() if packable(get(name))]
PLANNERS = [name for name in PACKABLE if issubclass(get(name), DiffusionPlanner)]
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]
K = 3


class Toy(PackableMethod):
    """The protocol at its smallest: a noisy actor, a critic with a target, a free parameter, two stages."""

    name = "toy"

    def __init__(self, space: Space, *, seed: int = 0, device: str = "cpu"):
        super().__init__(MethodConfig(), space, seed=seed, device=device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.actor = mlp(space.obs_dim, (8,), space.act_dim, nn.Tanh).to(self.device)
            self.critic = mlp(space.obs_dim + space.act_dim, (8,), 1, nn.Tanh).to(self.device)
        self.target = (
            mlp(space.obs_dim + space.act_dim, (8,), 1, nn.Tanh).to(self.device).requires_grad_(False)
        )
        self.target.load_state_dict(self.critic.state_dict())
        self.scale = nn.Parameter(torch.zeros((), device=self.device))
        self.actor_opt = torch.optim.Adam([*self.actor.parameters(), self.scale], lr=1e-2)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=1e-2)

    def data_spec(self) -> DataSpec:
        return DataSpec("transitions")

    def nets(self) -> dict[str, Any]:
        return {"actor": self.actor, "critic": self.critic, "target": self.target, "scale": self.scale}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_opt, "critic": self.critic_opt}

    def noise(self, batch_size: int) -> dict[str, torch.Tensor]:
        return {
            "eps": torch.randn((batch_size, self.space.act_dim), generator=self.generator, device=self.device)
        }

    def stages(self) -> tuple[Stage, ...]:
        return (
            Stage(self._critic, {"critic": "critic_loss"}, polyak=(("target", "critic", 0.1),)),
            Stage(self._actor, {"actor": "actor_loss"}),
        )

    def _critic(self, nets: Any, batch: Any, noise: Any) -> dict[str, torch.Tensor]:
        q = nets["critic"](torch.cat([batch["observations"], batch["actions"]], -1)).squeeze(-1)
        with torch.no_grad():
            a = nets["actor"](batch["next_observations"]) + 0.1 * noise["eps"]
            target = batch["rewards"] + 0.9 * nets["target"](
                torch.cat([batch["next_observations"], a], -1)
            ).squeeze(-1)
        return {"critic_loss": (q - target).pow(2).mean()}

    def _actor(self, nets: Any, batch: Any, noise: Any) -> dict[str, torch.Tensor]:
        a = nets["actor"](batch["observations"]) * nets["scale"].exp()
        q = nets["critic"](torch.cat([batch["observations"], a], -1))
        return {"actor_loss": -q.mean() + (a - batch["actions"]).pow(2).mean()}

    def act(self, obs: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self.clip_actions(self.actor(self.obs_tensor(obs)))

    def components(self) -> dict[str, Any]:
        return {**self.nets(), **self.optimizers()} | {"scale": nn.ParameterList([self.scale])}


def _build(name: str, data: Any, seed: int, device: str = "cpu", **config: Any) -> PackableMethod:
    space = Space.from_data(data)
    method = (
        Toy(space, seed=seed, device=device)
        if name == "toy"
        else create(name, space, get(name).Config.tiny().replace(**config), seed=seed, device=device)
    )
    method.prepare(data)
    return method  # type: ignore[return-value]


def _batches(method: Any, data: Any, seed: int, n: int) -> list[dict[str, np.ndarray]]:
    sampler = method.data_spec().sampler(data, 16, np.random.default_rng(seed))
    return [sampler.sample() for _ in range(n)]


def _tensors(method: Any) -> dict[str, torch.Tensor]:
    """Every weight, buffer and optimiser moment of a method, flat."""
    out = {}
    for name, comp in method.components().items():
        state = comp.state_dict()
        if isinstance(comp, torch.optim.Optimizer):
            for i, s in state["state"].items():
                out.update({f"{name}.{i}.{k}": v for k, v in s.items() if k != "step"})
        else:
            out.update({f"{name}.{k}": v for k, v in state.items()})
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["toy", *PACKABLE])
def test_ten_packed_updates_equal_separate_training(
    name: str, device: str, pointmass_data, monkeypatch: pytest.MonkeyPatch
) -> None:
    if device == "cuda":
        # cuDNN convolves in TF32 by default on Ampere and later GPUs (a 10-bit mantissa), with algorithms
        # chosen per shape: a vmapped and a plain convolution then differ by that rounding, not by packing.
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
        monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    _assert_packed_equals_separate(
        name, pointmass_data, device, **(PLANNER_CHECK if name in PLANNERS else {})
    )


def test_a_packed_planners_ema_copies_skips_and_averages_as_alone(pointmass_data) -> None:
    """Tiny planners average from step 0 and only every 10th step; here the EMA copies the model for
    2 steps, then averages on even steps and skips odd ones: every kind of EMA step (the base class's, so
    one planner shows it for all three) inside a pack."""
    config = {**PLANNER_CHECK, "ema_start": 3, "ema_every": 2}
    _assert_packed_equals_separate("decision_diffuser", pointmass_data, "cpu", **config)


# The planners are checked at horizon 16 with Adam's eps at 1e-3, where float32 rounding stays rounding.
# At the tiny horizon 8 the value networks' last GroupNorm normalises two positions, which makes rounding
# grow chaotically from step to step. And a U-Net has weights whose exact gradient is 0 (the bias of a
# convolution that a one-channel GroupNorm group follows) or nearly so: with eps 1e-8 Adam steps them by
# about lr either way on the sign of their rounding, which differs between a vmapped and a plain convolution;
# with eps 1e-3 their steps stay proportional to it. Neither effect is about packing.
PLANNER_CHECK: dict[str, Any] = {"horizon": 16, "adam_eps": 1e-3}


def _assert_packed_equals_separate(
    name: str, data: Any, device: str = "cpu", adam_eps: float | None = None, **config: Any
) -> None:
    """10 updates of K seeds in a pack equal their separate training: losses, weights, optimiser moments
    and the generators' states. ``adam_eps`` replaces every optimiser's eps (before the pack stacks them)."""
    seeds = [0, 1, 2][:K]
    alone = [_build(name, data, s, device, **config) for s in seeds]
    packed = [_build(name, data, s, device, **config) for s in seeds]
    if adam_eps is not None:
        for group in (g for m in [*alone, *packed] for o in m.optimizers().values() for g in o.param_groups):
            group["eps"] = adam_eps
    batches = [_batches(m, data, s, 10) for m, s in zip(alone, seeds, strict=True)]
    pack = Pack(packed)
    for step in range(10):
        losses_alone = []
        for m, b in zip(alone, batches, strict=True):
            losses_alone.append(m.update(m.to_batch(b[step])))
            m.steps += 1
        losses_packed = pack.update(_tensor_batch([b[step] for b in batches], device))
        for m in packed:
            m.steps += 1
        for k, own in enumerate(losses_alone):
            assert set(own) == set(losses_packed)
            for key, value in own.items():
                got = float(losses_packed[key][k])
                assert got == pytest.approx(value, rel=1e-4, abs=1e-5), (step, k, key)
    pack.unstack()
    for a, p in zip(alone, packed, strict=True):
        ta, tp = _tensors(a), _tensors(p)
        assert ta.keys() == tp.keys() and ta
        for key in ta:
            torch.testing.assert_close(
                tp[key], ta[key], rtol=1e-4, atol=1e-5, msg=lambda m, key=key: f"{key}: {m}"
            )
        assert torch.equal(a.generator.get_state(), p.generator.get_state())  # same draws, same order


def _tensor_batch(rows: list[dict[str, np.ndarray]], device: str) -> dict[str, torch.Tensor]:
    """Batches stacked ``(len(rows), B, ...)`` as ``fit_pack`` makes them (float32)."""
    return {
        k: torch.as_tensor(np.stack([b[k] for b in rows]), dtype=torch.float32, device=device)
        for k in rows[0]
    }


@pytest.mark.parametrize("name", ["toy", *PACKABLE])
def test_unstacking_and_restacking_continues_exactly(name: str, pointmass_data) -> None:
    """What masking a diverged seed out relies on: a pack rebuilt from its unstacked members goes on
    bit for bit as the pack would have."""
    straight, rebuilt = ([_build(name, pointmass_data, s) for s in range(2)] for _ in range(2))
    batches = [_batches(m, pointmass_data, s, 2) for s, m in enumerate(straight)]
    stacked = [
        {k: torch.as_tensor(np.stack([b[i][k] for b in batches])) for k in batches[0][0]} for i in range(2)
    ]
    pack, first = Pack(straight), Pack(rebuilt)
    pack.update(stacked[0])
    first.update(stacked[0])
    first.unstack()
    again = Pack(rebuilt)
    for m in [*straight, *rebuilt]:
        m.steps += 1
    expected, got = pack.update(stacked[1]), again.update(stacked[1])
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    pack.unstack()
    again.unstack()
    for a, b in zip(straight, rebuilt, strict=True):
        ta, tb = _tensors(a), _tensors(b)
        assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_a_pack_refuses_members_it_cannot_stack(pointmass_data) -> None:
    class Unpackable(Toy):
        packable = False  # e.g. a subclass whose update no longer follows its stages

    space = Space.from_data(pointmass_data)
    with pytest.raises(TypeError, match="cannot be packed"):
        Pack([Unpackable(space)])
    a, b = Toy(space, seed=0), Toy(space, seed=1)
    b.steps = 3
    with pytest.raises(ValueError, match="share class, config, space, device and step"):
        Pack([a, b])


def test_loss_code_may_not_draw_inside_the_pack(pointmass_data) -> None:
    """Random draws inside ``vmap`` would not be each seed's own: the pack refuses them."""

    class Drawing(Toy):
        def _actor(self, nets: Any, batch: Any, noise: Any) -> dict[str, torch.Tensor]:
            return {"actor_loss": nets["actor"](batch["observations"] + torch.randn(1)).mean()}

    members = [Drawing(Space.from_data(pointmass_data), seed=s) for s in range(2)]
    batches = [_batches(m, pointmass_data, s, 1)[0] for s, m in enumerate(members)]
    with pytest.raises(RuntimeError, match="randomness"):
        Pack(members).update({k: torch.as_tensor(np.stack([b[k] for b in batches])) for k in batches[0]})
