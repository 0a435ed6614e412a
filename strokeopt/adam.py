"""Adam with cosine-annealed learning rates, run through torch's fused kernel without ``torch.optim``.

``torch.optim`` imports ``torch._dynamo`` the first time an optimiser is built or stepped: 1 to 1.5 s of
every fit's set-up, as long as 60 iterations of a 1000-line fit. ``FusedAdam`` keeps the state
``torch.optim.Adam(fused=True)`` keeps and calls the kernel it calls, and ``CosineSchedule`` sets the
learning rates ``CosineAnnealingLR(eta_min=0)`` sets, by the same recursion, so every step is bit for bit
theirs (``tests/test_strokeopt_adam.py`` checks it against torch.optim).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
EPS = 1e-8


@dataclass
class ParamGroup:
    """Tensors stepped with one learning rate; ``lr`` is changed by the schedule, ``base_lr`` is where it began."""

    params: list[torch.Tensor]
    lr: float
    base_lr: float


@dataclass(frozen=True)
class _Moments:
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    step: torch.Tensor  # a float32 scalar on the parameter's device, as the fused kernel wants


class FusedAdam:
    """Adam (betas 0.9, 0.999, eps 1e-8, no weight decay) over groups of (tensors, learning rate)."""

    def __init__(self, groups: Sequence[tuple[Sequence[torch.Tensor], float]]) -> None:
        self.groups = [ParamGroup(list(params), float(lr), float(lr)) for params, lr in groups]
        self._moments: dict[torch.Tensor, _Moments] = {}

    def zero_grad(self) -> None:
        """Drop every gradient (set to None, as ``zero_grad(set_to_none=True)`` does)."""
        for group in self.groups:
            for param in group.params:
                param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every tensor that has a gradient; moments start at zero on a tensor's first step."""
        for group in self.groups:
            params = [p for p in group.params if p.grad is not None]
            if not params:
                continue
            moments = [self._moments_of(p) for p in params]
            steps = [m.step for m in moments]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params, [p.grad for p in params], [m.exp_avg for m in moments], [m.exp_avg_sq for m in moments],
                [], steps, lr=group.lr, beta1=BETAS[0], beta2=BETAS[1], weight_decay=0.0, eps=EPS,
                amsgrad=False, maximize=False,
            )

    def _moments_of(self, param: torch.Tensor) -> _Moments:
        if param not in self._moments:
            step = torch.zeros((), dtype=torch.float32, device=param.device)
            self._moments[param] = _Moments(torch.zeros_like(param), torch.zeros_like(param), step)
        return self._moments[param]

    @torch.no_grad()
    def forget(self, rows: torch.Tensor, count: int) -> None:
        """Zero both moments at ``rows`` of every stepped tensor with ``count`` rows (restarted strokes)."""
        for param, moments in self._moments.items():
            if param.shape[:1] == (count,):
                moments.exp_avg[rows] = 0.0
                moments.exp_avg_sq[rows] = 0.0


class CosineSchedule:
    """Learning rates from each group's own down to 0 over ``t_max`` steps along half a cosine.

    The recursive form of ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``eta_min=0``: each rate is
    the previous one times the ratio of successive cosine terms, so the floats are the ones torch sets.
    """

    def __init__(self, optimiser: FusedAdam, t_max: int) -> None:
        self.optimiser = optimiser
        self.t_max = t_max
        self.epoch = 0

    def step(self) -> None:
        """Advance one epoch (call after the optimiser's step)."""
        self.epoch += 1
        t_max, epoch = self.t_max, self.epoch
        for group in self.optimiser.groups:
            if (epoch - 1 - t_max) % (2 * t_max) == 0:  # the minimum passed: torch restarts the climb
                group.lr = group.lr + group.base_lr * (1 - math.cos(math.pi / t_max)) / 2
            else:
                group.lr = (1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1) / t_max)) \
                    * group.lr
