"""The stroke set: the plain value that leaves the optimiser (control points in canvas pixels, one pen each)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIMITIVES = ("dot", "line", "quadratic", "cubic", "catmull-rom")
CATMULL_ROM_POINTS = 5  # a Catmull-Rom stroke passes through this many control points
CONTROL_POINTS = {"dot": 1, "line": 2, "quadratic": 3, "cubic": 4, "catmull-rom": CATMULL_ROM_POINTS}


@dataclass(frozen=True)
class StrokeSet:
    """N strokes of one primitive on a ``width_px`` x ``height_px`` canvas.

    ``points`` has shape (N, K, 2): K control points (x, y) per stroke, in pixels, y pointing down, with the
    canvas spanning [0, width_px] x [0, height_px]. ``pens`` gives each stroke's pen index.
    """

    primitive: str
    points: np.ndarray
    pens: np.ndarray
    width_px: int
    height_px: int
    colors: np.ndarray | None = None  # (N, 3) RGB in [0, 1] per stroke, for free paint
    opacity: np.ndarray | None = None  # (N,) per stroke, for free paint
    widths_px: np.ndarray | None = None  # (N,) per stroke when widths were learned; else the pen's width

    def __post_init__(self) -> None:
        if self.primitive not in PRIMITIVES:
            raise ValueError(f"unknown primitive {self.primitive!r}; expected one of {', '.join(PRIMITIVES)}")
        k = CONTROL_POINTS[self.primitive]
        if self.points.ndim != 3 or self.points.shape[1:] != (k, 2):
            raise ValueError(f"{self.primitive} strokes need points of shape (N, {k}, 2), got {self.points.shape}")
        if self.pens.shape != (len(self.points),):
            raise ValueError("pens must give one pen index per stroke")

    def __len__(self) -> int:
        return len(self.points)
