"""Packed multi-seed training: K independently initialised copies of one method trained as one stacked model.

A benchmark trains the same small model for many seeds; each copy alone leaves a core or a GPU mostly idle.
:class:`Pack` stacks the K copies' weights (``torch.func.stack_module_state``), runs the method's own loss
code once for all of them under ``vmap`` + ``functional_call``, and steps one optimiser per stacked tensor.
Adam (like SGD, AdamW, RMSprop) is elementwise, so one optimiser over stacked tensors is K separate ones.

A method opts in by subclassing :class:`PackableMethod` and writing its update as data (one concept in one
place: the same loss code runs unpacked and packed):

- :meth:`~PackableMethod.nets`: the modules and free parameters its losses read (trainable and targets);
- :meth:`~PackableMethod.optimizers`: its optimisers, each over parameters of those nets;
- :meth:`~PackableMethod.noise`: every random number one update needs, drawn from the method's own
  generator in a fixed order (outside ``vmap``, so seed s draws exactly what it draws alone);
- :meth:`~PackableMethod.stages`: the ordered stages of one update, each a loss function of
  ``(nets, batch, noise)`` whose named losses its optimisers minimise, then Polyak updates of target nets.

:meth:`PackableMethod.update` runs the stages on the method's own modules; :class:`Pack` runs them on the
stacked weights. Loss functions must not draw random numbers, call ``.item()`` or branch on tensor values
(``vmap`` forbids all three); keys of their result that start with ``_`` are minimised but not reported.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from rsbench.methods.base import Method

Tensor = torch.Tensor
Nets = Mapping[str, Any]  # name -> a module (callable, with its methods) or a free parameter tensor
Batch = Mapping[str, Tensor]  # a batch, or an update's noise draws, by name
Losses = Callable[[Nets, Batch, Batch], dict[str, Tensor]]

# Optimisers whose update of each element depends on that element's gradient and state only.
ELEMENTWISE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.RMSprop)


@dataclass(frozen=True)
class Stage:
    """One stage of an update: ``losses(nets, batch, noise)`` -> named scalars; ``minimise`` maps an
    optimiser's name to the loss it steps on; ``polyak`` lists ``(target, source, tau)`` soft updates of the
    target's parameters (not its buffers) made after the step, ``tau = 1`` a copy. Later stages see the
    weights that earlier stages stepped. A method whose targets update only on some steps (a delayed actor,
    an EMA every N steps) returns stages without those entries on the other steps."""

    losses: Losses
    minimise: Mapping[str, str]
    polyak: tuple[tuple[str, str, float], ...] = field(default=())


class PackableMethod(Method):
    """A method whose update is a sequence of :class:`Stage` (see the module docstring); it trains alone
    through :meth:`update` and with other seeds of itself through :class:`Pack`."""

    packable: ClassVar[bool] = True

    @abc.abstractmethod
    def nets(self) -> dict[str, nn.Module | nn.Parameter]:
        """Modules and free parameters the stage losses read, by name (targets included)."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers by name, each over parameters of :meth:`nets` (one of :data:`ELEMENTWISE`)."""

    @abc.abstractmethod
    def noise(self, batch_size: int) -> dict[str, Tensor]:
        """This update's random draws from ``self.generator``, always in the same order."""

    @abc.abstractmethod
    def stages(self) -> tuple[Stage, ...]:
        """The stages of the next update (they may depend on ``self.steps``, e.g. a delayed actor)."""

    def update(self, batch: dict[str, Tensor]) -> dict[str, float]:
        nets, optimizers = self.nets(), self.optimizers()
        noise = self.noise(batch["observations"].shape[0])
        report: dict[str, Tensor] = {}
        for stage in self.stages():
            losses = stage.losses(nets, batch, noise)
            _step(optimizers, stage, losses)
            for target, source, tau in stage.polyak:
                _lerp(_params_of(nets[target]), _params_of(nets[source]), tau)
            report.update(losses)
        return {k: float(v.detach()) for k, v in report.items() if not k.startswith("_")}


def packable(method: type[Method] | Method) -> bool:
    """Whether a method (class or instance) can train in a :class:`Pack`."""
    cls = method if isinstance(method, type) else type(method)
    return issubclass(cls, PackableMethod) and bool(getattr(cls, "packable", False))


def _params_of(net: nn.Module | Tensor) -> list[Tensor]:
    return list(net.parameters()) if isinstance(net, nn.Module) else [net]


@torch.no_grad()
def _lerp(targets: list[Tensor], sources: list[Tensor], tau: float) -> None:
    """``target <- (1 - tau) target + tau source`` (as :func:`rsbench.methods.nets.soft_update`); ``tau = 1``
    copies, bit for bit whatever the values (an EMA that tracks its model before it starts averaging)."""
    if tau == 1.0:
        torch._foreach_copy_(targets, sources)
    else:
        torch._foreach_lerp_(targets, sources, tau)


def _step(
    optimizers: Mapping[str, torch.optim.Optimizer],
    stage: Stage,
    losses: Mapping[str, Tensor],
    reduce: Callable[[Tensor], Tensor] = lambda loss: loss,
) -> None:
    """Every gradient of the stage first (from the same forward pass), then every optimiser's step."""
    grads = {}
    for name, key in stage.minimise.items():
        params = [p for g in optimizers[name].param_groups for p in g["params"]]
        grads[name] = (
            params,
            torch.autograd.grad(reduce(losses[key]), params, retain_graph=True, allow_unused=True),
        )
    for name, (params, gs) in grads.items():
        for p, g in zip(params, gs, strict=True):
            p.grad = g
        optimizers[name].step()
        for p in params:
            p.grad = None


class _Call(nn.Module):
    """Calls ``inner.<method>``: lets ``functional_call`` run a module's other methods (``actor.log_prob``)."""

    def __init__(self, inner: nn.Module, method: str):
        super().__init__()
        self.inner, self.method = inner, method

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, self.method)(*args, **kwargs)


class _Bound:
    """One seed's view of a stacked module inside ``vmap``: calling it (or one of its methods) runs the
    template module's code with that seed's weights."""

    def __init__(self, base: nn.Module, tensors: dict[str, Tensor], calls: dict[str, _Call]):
        self._base, self._tensors, self._calls = base, tensors, calls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return functional_call(self._base, self._tensors, args, kwargs)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        call = self._calls.get(method)
        if call is None:
            call = self._calls[method] = _Call(self._base, method)
        tensors = {f"inner.{k}": v for k, v in self._tensors.items()}
        return lambda *args, **kwargs: functional_call(call, tensors, args, kwargs)


class Pack:
    """K seeds of one packable method (same class, config, space, device and step) as one stacked model.

    The members stay ordinary methods: :meth:`unstack` writes the stacked weights and optimiser states back
    into them, after which each member's ``state_dict``, checkpoint and ``act`` are those of its seed
    trained alone. Their generators keep drawing each seed's noise; their step counters are the caller's.
    """

    def __init__(self, members: Sequence[PackableMethod]):
        _check_members(members)
        self.members = list(members)
        self.template = self.members[0]
        self.tensors: dict[str, Any] = {}  # net -> {name: (K, ...)} for modules, (K, ...) for parameters
        self._bases: dict[str, nn.Module] = {}
        self._calls: dict[str, dict[str, _Call]] = {}
        for name, net in self.template.nets().items():
            copies = [m.nets()[name] for m in self.members]
            if isinstance(net, nn.Module):
                params, buffers = stack_module_state(copies)
                for key, p in params.items():  # stack_module_state makes every parameter trainable
                    p.requires_grad_(net.get_parameter(key).requires_grad)
                self.tensors[name] = {**params, **buffers}
                self._bases[name] = copy.deepcopy(net).to("meta")
                self._calls[name] = {}
            else:
                self.tensors[name] = torch.stack([c.detach() for c in copies]).requires_grad_(
                    net.requires_grad
                )
        self.optimizers = {
            name: self._stack_optimizer(name, opt) for name, opt in self.template.optimizers().items()
        }

    def __len__(self) -> int:
        return len(self.members)

    @property
    def steps(self) -> int:
        return self.template.steps

    # -- training -------------------------------------------------------------------------------------
    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of every member on its own batch: ``batch`` holds ``(K, B, ...)`` tensors (member k's
        batch at index k). Returns each reported loss as a ``(K,)`` tensor; the caller advances ``steps``."""
        noise = _stack([m.noise(batch["observations"].shape[1]) for m in self.members])
        report: dict[str, Tensor] = {}
        for stage in self.template.stages():
            run = vmap(self._per_seed(stage.losses), randomness="error")
            losses = run(self.tensors, dict(batch), noise)
            # Seeds share no weights, so the gradient of the sum with respect to seed k's slice is seed k's own.
            _step(self.optimizers, stage, losses, reduce=torch.sum)
            for target, source, tau in stage.polyak:
                _lerp(self._trainable(target), self._trainable(source), tau)
            report.update(losses)
        return {k: v.detach() for k, v in report.items() if not k.startswith("_")}

    def _per_seed(self, losses: Losses) -> Callable[..., dict[str, Tensor]]:
        def run(
            tensors: dict[str, Any], batch: dict[str, Tensor], noise: dict[str, Tensor]
        ) -> dict[str, Tensor]:
            nets = {
                name: _Bound(self._bases[name], t, self._calls[name]) if isinstance(t, dict) else t
                for name, t in tensors.items()
            }
            return losses(nets, batch, noise)

        return run

    def _trainable(self, name: str) -> list[Tensor]:
        """The stacked parameters of net ``name`` in its ``parameters()`` order (what Polyak averages)."""
        net, t = self.template.nets()[name], self.tensors[name]
        return [t[key] for key, _ in net.named_parameters()] if isinstance(net, nn.Module) else [t]

    # -- stacking and unstacking ------------------------------------------------------------------------
    def _where(self, member: PackableMethod) -> dict[int, Tensor]:
        """``id(parameter of member) -> the stacked tensor holding it``."""
        out = {}
        for name, net in member.nets().items():
            if isinstance(net, nn.Module):
                out.update({id(p): self.tensors[name][key] for key, p in net.named_parameters()})
            else:
                out[id(net)] = self.tensors[name]
        return out

    def _stack_optimizer(self, name: str, template: torch.optim.Optimizer) -> torch.optim.Optimizer:
        if not isinstance(template, ELEMENTWISE):
            raise TypeError(
                f"{self.template.name}: optimiser {name!r} ({type(template).__name__}) is not elementwise"
            )
        where = self._where(self.template)
        groups = [
            {**{k: v for k, v in g.items() if k != "params"}, "params": [where[id(p)] for p in g["params"]]}
            for g in template.param_groups
        ]
        stacked = type(template)(groups)
        copies = [m.optimizers()[name] for m in self.members]
        for gi, group in enumerate(stacked.param_groups):
            for pi, p in enumerate(group["params"]):
                states = [c.state.get(c.param_groups[gi]["params"][pi]) for c in copies]
                if states[0]:
                    stacked.state[p] = {key: _stack_state(key, [s[key] for s in states]) for key in states[0]}
        return stacked

    @torch.no_grad()
    def unstack(self) -> None:
        """Write every member's slice of the weights, buffers and optimiser states back into the member."""
        for k, member in enumerate(self.members):
            for name, net in member.nets().items():
                t = self.tensors[name]
                if isinstance(net, nn.Module):
                    for key, v in [*net.named_parameters(), *net.named_buffers()]:
                        v.copy_(t[key][k])
                else:
                    net.copy_(t[k])
            for name, opt in member.optimizers().items():
                stacked = self.optimizers[name]
                for group, sgroup in zip(opt.param_groups, stacked.param_groups, strict=True):
                    for p, sp in zip(group["params"], sgroup["params"], strict=True):
                        state = stacked.state.get(sp)
                        if state:
                            opt.state[p] = {
                                key: v.clone() if key == "step" else v[k].clone() for key, v in state.items()
                            }


def _stack(rows: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    return {key: torch.stack([r[key] for r in rows]) for key in rows[0]}


def _stack_state(key: str, values: list[Any]) -> Any:
    """Optimiser state across members: per-element tensors stack; the step count is shared."""
    if key == "step":
        if any(not torch.equal(torch.as_tensor(v), torch.as_tensor(values[0])) for v in values):
            raise ValueError("members of a pack must have taken the same optimiser steps")
        return values[0].clone() if isinstance(values[0], Tensor) else values[0]
    return torch.stack(values)


def _check_members(members: Sequence[Method]) -> None:
    if not members:
        raise ValueError("a pack needs at least one member")
    first = members[0]
    if not packable(first):
        raise TypeError(f"{first.name or type(first).__name__} cannot be packed (not a PackableMethod)")
    for m in members[1:]:
        same = (type(m), m.config, m.space, m.device, m.steps) == (
            type(first),
            first.config,
            first.space,
            first.device,
            first.steps,
        )
        if not same:
            raise ValueError("members of a pack must share class, config, space, device and step count")
