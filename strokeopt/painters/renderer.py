"""A neural painter as a ``StrokeRenderer``: the optimiser's strokes painted by the learned brush.

Every stroke gets a square window of the canvas around its control points, one size for all strokes of
a step, with corners on whole pixels: big enough for the longest stroke and such that the pen's width is
a brush size the painter knows (the brush spans 3 % to 16 % of its canvas). The stroke becomes an action
in its window (a line becomes a quadratic Bézier with its control point at the middle), the painter paints
it black at the window's resolution, and the coverage is cut into the canvas tiles the window covers, so
it composites exactly like the soft rasteriser's patches. Gradients reach the control points and widths
through the painter; the windows follow the strokes from step to step.
"""

from __future__ import annotations

import math

import torch

from strokeopt.painters.actions import RADIUS_MAX_FRACTION, RADIUS_MIN_FRACTION, size_for_radius
from strokeopt.painters.base import Painter
from strokeopt.render import TILE_PX, CoveragePatches, tiles_of_boxes

WINDOW_MARGIN = 1.25  # the window is this many times the longest stroke's extent (plus two widths) across
DEFAULT_PRESSURE = 0.8
PRIMITIVES = ("line", "quadratic")


class PainterRenderer:
    """Renders quadratic-Bézier (or line) strokes with a neural painter on a ``height_px`` x ``width_px`` canvas."""

    def __init__(self, painter: Painter, height_px: int, width_px: int, pressure: float = DEFAULT_PRESSURE,
                 tile_px: int = TILE_PX) -> None:
        if not 0.0 <= pressure <= 1.0:
            raise ValueError(f"brush pressure must be in [0, 1], got {pressure}")
        self.painter = painter.eval().requires_grad_(False)
        self.height_px = height_px
        self.width_px = width_px
        self.pressure = pressure
        self.tile_px = tile_px
        self.tiles_y = math.ceil(height_px / tile_px)
        self.tiles_x = math.ceil(width_px / tile_px)

    def actions(self, primitive: str, control: torch.Tensor, widths_px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Actions (N, 12) for strokes in canvas pixels, each window's corner (N, 2) in whole pixels, their side."""
        if primitive == "line":
            control = torch.stack([control[:, 0], control.mean(dim=1), control[:, 1]], dim=1)
        elif primitive != "quadratic":
            raise ValueError(f"a neural painter paints quadratic Bézier strokes; use --primitive quadratic or "
                             f"line, not {primitive}")
        n = len(control)
        widths = widths_px.expand(n)
        with torch.no_grad():
            lo, hi = control.amin(dim=1), control.amax(dim=1)
            width = float(widths.detach().mean())
            extent = float((hi - lo).amax()) if n else 0.0
            side_px = min(max(WINDOW_MARGIN * extent + 2 * width, width / (2 * RADIUS_MAX_FRACTION)),
                          width / (2 * RADIUS_MIN_FRACTION))
            side = max(2, math.ceil(side_px))
            corner = ((lo + hi) / 2 - side / 2).floor()
        inside = ((control - corner[:, None]) / side).clamp(0.0, 1.0)
        size = size_for_radius(widths / 2 / side, 1).clamp(0.0, 1.0)
        like = dict(dtype=control.dtype, device=control.device)
        actions = torch.cat([
            torch.full((n, 2), self.pressure, **like), size[:, None],
            torch.zeros(n, 3, **like),  # black: the painter's darkness is the coverage
            inside.reshape(n, 6),
        ], dim=1)
        return actions, corner.long(), side

    def stroke_patches(
        self, primitive: str, control: torch.Tensor, widths_px: torch.Tensor, filter_px: float
    ) -> CoveragePatches:
        """Coverage patches of the strokes; ``filter_px`` is ignored (the painter's edges are the brush's)."""
        self.painter.to(control.device)
        actions, corner, side = self.actions(primitive, control, widths_px)
        coverage = self.painter.coverage_at(actions.float(), side).to(control.dtype)  # (N, side, side)
        stroke, tile_y, tile_x = self._window_tiles(corner, side)
        t = self.tile_px
        offsets = torch.arange(t, device=control.device)
        iy, ix = torch.meshgrid(offsets, offsets, indexing="ij")
        py = tile_y[:, None] * t + iy.reshape(1, -1)
        px = tile_x[:, None] * t + ix.reshape(1, -1)
        wy, wx = py - corner[stroke, 1:2], px - corner[stroke, 0:1]
        inside = (wx >= 0) & (wx < side) & (wy >= 0) & (wy < side)
        flat = coverage.reshape(len(coverage), -1)
        index = wy.clamp(0, side - 1) * side + wx.clamp(0, side - 1)
        values = torch.where(inside, flat[stroke[:, None].expand_as(index), index], torch.zeros((), **_like(flat)))
        return CoveragePatches(
            stroke=stroke, pixel=py * (self.tiles_x * t) + px, coverage=values,
            height_px=self.height_px, width_px=self.width_px, tile_px=t,
        )

    def _window_tiles(self, corner: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(stroke, tile_y, tile_x) of every canvas tile that each stroke's window (whole pixels) overlaps."""
        lo = corner.to(torch.float64)
        return tiles_of_boxes(lo, lo + (side - 0.5), self.tile_px, self.height_px, self.width_px)


def _like(tensor: torch.Tensor) -> dict:
    return {"dtype": tensor.dtype, "device": tensor.device}
