"""How faithful a painter is to the real brush, on strokes it was not trained on, and how fast it is.

- ``mse``: per-pixel mean squared error of the RGB-on-white strokes (values in [0, 1]).
- ``iou``: intersection over union of the ink masks (coverage > 0.5), pooled over all strokes. Coverage is
  read from the RGB image the same way for the real and the predicted stroke (the darkness along the
  stroke's paint colour), so painters that only output RGB are measured like the rest; strokes whose
  paint is almost white (no mask to speak of) are left out.
- ``texture_ratio``: high-frequency energy (the image minus its Gaussian blur of sigma 1 px, squared)
  of the predictions over that of the real strokes; 1.0 is as textured as the real brush, below 1 smoother.
- ``seconds_per_1000``: forward and backward pass of 1000 actions (median of repeats, after a warm-up).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from strokeopt.metrics import gaussian_blur
from strokeopt.painters.actions import COLOUR
from strokeopt.painters.base import Painter

MASK_THRESHOLD = 0.5
MIN_PAINT = 0.05  # squared distance of the paint colour from white below which a stroke has no mask
TEXTURE_SIGMA_PX = 1.0


@dataclass(frozen=True)
class PainterScores:
    """The held-out measures of one painter (see the module docstring)."""

    mse: float
    iou: float
    texture_ratio: float
    seconds_per_1000: float
    strokes: int
    device: str

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def coverage_from_rgb(images: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Coverage (N, H, W) that best explains RGB-on-white images (N, 3, H, W) as paint of each action's colour."""
    paint = (1.0 - actions[:, COLOUR])[:, :, None, None]
    return ((1.0 - images) * paint).sum(dim=1) / (paint.square().sum(dim=1)).clamp_min(1e-6)


def high_frequency_energy(images: torch.Tensor) -> float:
    """Sum of squares of the images minus their blur: edges, dabs and grain."""
    detail = images - gaussian_blur(images, TEXTURE_SIGMA_PX)
    return float(detail.double().square().sum())


def time_forward_backward(painter: Painter, device: torch.device, count: int = 1000, repeats: int = 5) -> float:
    """Median seconds for painting ``count`` random actions and back-propagating to them."""
    generator = torch.Generator().manual_seed(0)
    actions = torch.rand(count, 12, generator=generator).to(device).requires_grad_(True)
    times = []
    for k in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        painter(actions).mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k:  # the first is a warm-up (compilation, allocations)
            times.append(time.perf_counter() - started)
        actions.grad = None
    return float(np.median(times))


def evaluate_painter(painter: Painter, actions: np.ndarray, images: np.ndarray, device: torch.device,
                     batch: int = 500, timing: bool = True) -> PainterScores:
    """Scores of ``painter`` on held-out actions (N, 12) and real images (N, H, W, 3) uint8."""
    painter = painter.to(device).eval()
    squared = 0.0
    pixels = 0
    intersection = union = 0
    energy_real = energy_predicted = 0.0
    with torch.no_grad():
        for start in range(0, len(actions), batch):
            a = torch.as_tensor(actions[start:start + batch], dtype=torch.float32, device=device)
            real = torch.as_tensor(images[start:start + batch], device=device).permute(0, 3, 1, 2).float() / 255.0
            predicted = painter(a).clamp(0.0, 1.0)
            squared += float((predicted - real).double().square().sum())
            pixels += real.numel()
            has_mask = (1.0 - a[:, COLOUR]).square().sum(dim=1) > MIN_PAINT
            mask_real = coverage_from_rgb(real, a)[has_mask] > MASK_THRESHOLD
            mask_predicted = coverage_from_rgb(predicted, a)[has_mask] > MASK_THRESHOLD
            intersection += int((mask_real & mask_predicted).sum())
            union += int((mask_real | mask_predicted).sum())
            energy_real += high_frequency_energy(real)
            energy_predicted += high_frequency_energy(predicted)
    seconds = time_forward_backward(painter, device) if timing else float("nan")
    return PainterScores(
        mse=squared / max(pixels, 1),
        iou=intersection / max(union, 1),
        texture_ratio=energy_predicted / max(energy_real, 1e-12),
        seconds_per_1000=seconds,
        strokes=len(actions),
        device=str(device),
    )
