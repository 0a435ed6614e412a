"""How dark ink looks on the paper: a measured tone curve applied to the renderer's ideal darkness.

The renderer's darkness (1 - transmittance) is what an ideal, opaque black pen would give. A real pen on
real paper is paler, and hatching spreads or clumps: the calibration sheet's tone ladder measures how dark
each coverage looks. Fitting through that curve makes the optimiser lay down the ink the paper needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ToneCurve:
    """Measured darkness at each ideal darkness (coverage), both in [0, 1], piecewise linear between them.

    ``coverage`` rises strictly from 0 to 1 and ``darkness`` does not fall: darker ink never looks lighter.
    """

    coverage: tuple[float, ...]
    darkness: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.coverage) != len(self.darkness) or len(self.coverage) < 2:
            raise ValueError("a tone curve needs at least two (coverage, darkness) points, as many of each")
        if self.coverage[0] != 0.0 or self.coverage[-1] != 1.0:
            raise ValueError(f"a tone curve's coverage runs from 0 to 1, got {self.coverage[0]} to {self.coverage[-1]}")
        if any(b <= a for a, b in zip(self.coverage, self.coverage[1:])):
            raise ValueError("a tone curve's coverage must rise strictly")
        if any(not 0.0 <= d <= 1.0 for d in self.darkness) or any(b < a for a, b in zip(self.darkness, self.darkness[1:])):
            raise ValueError("a tone curve's darkness must be in [0, 1] and never fall")

    def apply(self, transmittance: torch.Tensor) -> torch.Tensor:
        """The picture as the paper shows it: each pixel's ideal darkness through the curve (differentiable)."""
        xs = torch.tensor(self.coverage, dtype=transmittance.dtype, device=transmittance.device)
        ys = torch.tensor(self.darkness, dtype=transmittance.dtype, device=transmittance.device)
        ideal = (1.0 - transmittance).clamp(0.0, 1.0)
        segment = (torch.bucketize(ideal.detach(), xs, right=True) - 1).clamp(0, len(xs) - 2)
        x0, x1, y0, y1 = xs[segment], xs[segment + 1], ys[segment], ys[segment + 1]
        return 1.0 - (y0 + (ideal - x0) * (y1 - y0) / (x1 - x0))
