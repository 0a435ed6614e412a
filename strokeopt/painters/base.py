"""What every neural painter is: a differentiable map from actions (N, 12) to stroke images on white paper.

A painter kind is a ``torch.nn.Module`` subclass registered in ``KINDS``. Besides ``forward`` it knows how
to train itself one step (``make_optimisers`` and ``train_step``), so one training loop (``train.py``)
serves every kind, and how to rebuild itself from its ``config()`` when a painter file is loaded.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from strokeopt.painters.actions import COLOUR


class Painter(torch.nn.Module):
    """Actions (N, 12) in [0, 1] -> RGB strokes on white (N, 3, H, W) in [0, 1], differentiable in both."""

    kind: ClassVar[str]
    canvas_px: int

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this painter's architecture (plain numbers and strings)."""
        raise NotImplementedError

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def coverage(self, actions: torch.Tensor) -> torch.Tensor:
        """Ink coverage (N, H, W) in [0, 1] of each stroke painted black: what the optimiser composites.

        The default paints the strokes black and reads coverage as the darkness of the result; kinds that
        predict coverage directly override it.
        """
        black = actions.clone()
        black[:, COLOUR] = 0.0
        return (1.0 - self.forward(black)).mean(dim=1).clamp(0.0, 1.0)

    def coverage_at(self, actions: torch.Tensor, canvas_px: int) -> torch.Tensor:
        """Coverage (N, canvas_px, canvas_px): the same strokes on a canvas of another resolution.

        The default resamples the painter's own canvas (area-averaged when shrinking); kinds whose
        model is continuous paint at the asked resolution directly.
        """
        coverage = self.coverage(actions)
        if canvas_px == coverage.shape[-1]:
            return coverage
        resized = torch.nn.functional.interpolate(coverage[:, None], size=(canvas_px, canvas_px), mode="bilinear",
                                                  antialias=canvas_px < coverage.shape[-1], align_corners=False)
        return resized[:, 0].clamp(0.0, 1.0)

    def make_optimisers(self, learning_rate: float) -> list[torch.optim.Optimizer]:
        """The optimisers ``train_step`` uses, in a fixed order (so a checkpoint can restore them)."""
        return [torch.optim.Adam(self.parameters(), lr=learning_rate)]

    def train_step(
        self, actions: torch.Tensor, images: torch.Tensor, optimisers: list[torch.optim.Optimizer], step: int,
        total_steps: int, model: torch.nn.Module | None = None,
    ) -> dict[str, float]:
        """One optimisation step on a batch: actions (B, 12), real images (B, 3, H, W); returns named losses.

        ``model`` is the module to call for forward passes whose gradients must be averaged across
        processes (the ``DistributedDataParallel`` wrapper of ``self`` under torchrun; ``self`` otherwise).
        """
        model = model or self
        optimisers[0].zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(actions), images)
        loss.backward()
        optimisers[0].step()
        return {"mse": float(loss.detach())}


KINDS: dict[str, type[Painter]] = {}


def register(kind: type[Painter]) -> type[Painter]:
    """Class decorator: make a painter kind known by its ``kind`` name."""
    KINDS[kind.kind] = kind
    return kind
