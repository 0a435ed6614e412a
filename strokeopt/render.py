"""The analytic soft rasteriser: polylines -> per-stroke coverage patches on the tiles each stroke touches.

Cost follows the strokes' footprint: a stroke is evaluated only on the square tiles within reach of its
polyline, never on the whole canvas, so N strokes on an H x W canvas cost O(footprint), not O(N x H x W).
Coverage uses a box filter of width ``filter_px`` across the line; at ``filter_px = 1`` this is the pixel's
own area sampling (what a pen leaves, seen at this resolution); wider filters soften edges for optimisation
while keeping each stroke's total ink the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from strokeopt import raster_cpu
from strokeopt.primitives import polyline

TILE_PX = 8
_MIN_TRANSMITTANCE = 1e-4


@dataclass(frozen=True)
class CoveragePatches:
    """Coverage of stroke ``stroke[p]`` on the pixels ``pixel[p]`` (flat indices into the tile-padded canvas)."""

    stroke: torch.Tensor  # (P,) long
    pixel: torch.Tensor  # (P, tile_px * tile_px) long
    coverage: torch.Tensor  # (P, tile_px * tile_px), in [0, 1]
    height_px: int
    width_px: int
    tile_px: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        t = self.tile_px
        return math.ceil(self.height_px / t) * t, math.ceil(self.width_px / t) * t


def distance_to_polylines(points: torch.Tensor, polylines: torch.Tensor) -> torch.Tensor:
    """Distance from each of Q points to the matching polyline: points (P, Q, 2), polylines (P, M, 2) -> (P, Q)."""
    if polylines.shape[1] == 1:
        return (points - polylines).norm(dim=-1)
    a = polylines[:, None, :-1, :]
    ab = polylines[:, None, 1:, :] - a
    ap = points[:, :, None, :] - a
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)
    d2 = (ap - t[..., None] * ab).square().sum(-1).amin(-1)
    return (d2 + 1e-12).sqrt()


def line_coverage(distance_px: torch.Tensor, width_px: torch.Tensor, filter_px: float) -> torch.Tensor:
    """Ink fraction of a pixel at ``distance_px`` from a line of ``width_px``, under a box filter ``filter_px`` wide."""
    half_w, half_f = width_px / 2, filter_px / 2
    overlap = torch.minimum(distance_px + half_w, torch.full_like(distance_px, half_f)) - torch.maximum(
        distance_px - half_w, torch.full_like(distance_px, -half_f)
    )
    return overlap.clamp_min(0.0) / filter_px


BACKENDS = ("auto", "torch", "numba")


class StrokeRenderer(Protocol):
    """What the optimiser needs of a renderer: stroke parameters in, per-stroke coverage patches out.

    The analytic soft rasteriser below is one; a learned neural painter (action -> stroke image) is another
    that plugs into ``fit_strokes`` without changing the optimiser.
    """

    height_px: int
    width_px: int

    def stroke_patches(
        self, primitive: str, control: torch.Tensor, widths_px: torch.Tensor, filter_px: float
    ) -> CoveragePatches: ...


class SoftRasteriser:
    """Renders polylines of given widths as coverage patches on a ``height_px`` x ``width_px`` canvas.

    ``backend``: "torch" runs everywhere (and is the one used on CUDA); "numba" is the compiled CPU path
    with a hand-written backward pass; "auto" takes numba for CPU tensors when it is installed.
    """

    def __init__(self, height_px: int, width_px: int, tile_px: int = TILE_PX, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown renderer backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        if backend == "numba" and not raster_cpu.AVAILABLE:
            raise ValueError("the numba renderer backend was asked for but numba is not installed")
        self.height_px = height_px
        self.width_px = width_px
        self.tile_px = tile_px
        self.backend = backend
        self.tiles_y = math.ceil(height_px / tile_px)
        self.tiles_x = math.ceil(width_px / tile_px)

    def stroke_patches(
        self, primitive: str, control: torch.Tensor, widths_px: torch.Tensor, filter_px: float
    ) -> CoveragePatches:
        """Coverage patches of strokes given by their primitive and control points (N, K, 2)."""
        return self.patches(polyline(primitive, control), widths_px, filter_px)

    def patches(self, polylines: torch.Tensor, widths_px: torch.Tensor, filter_px: float) -> CoveragePatches:
        """Coverage patches of polylines (N, M, 2) in pixel coordinates with per-stroke widths (N,)."""
        reach = (widths_px + filter_px) / 2  # beyond this distance a stroke leaves no ink
        stroke, tile_y, tile_x = self._tiles_in_reach(polylines.detach(), reach.detach())
        t = self.tile_px
        offsets = torch.arange(t, device=polylines.device)
        iy, ix = torch.meshgrid(offsets, offsets, indexing="ij")
        iy, ix = iy.reshape(-1), ix.reshape(-1)
        py = tile_y[:, None] * t + iy[None, :]
        px = tile_x[:, None] * t + ix[None, :]
        if self._use_numba(polylines):
            coverage = raster_cpu.PatchCoverage.apply(polylines, widths_px, stroke, tile_y, tile_x, t, filter_px)
        else:
            centres = torch.stack([px, py], dim=-1).to(polylines.dtype) + 0.5
            distance = distance_to_polylines(centres, polylines[stroke])
            coverage = line_coverage(distance, widths_px[stroke][:, None], filter_px)
        return CoveragePatches(
            stroke=stroke,
            pixel=py * (self.tiles_x * t) + px,
            coverage=coverage,
            height_px=self.height_px,
            width_px=self.width_px,
            tile_px=t,
        )

    def _use_numba(self, polylines: torch.Tensor) -> bool:
        if self.backend == "auto":
            return raster_cpu.AVAILABLE and polylines.device.type == "cpu"
        return self.backend == "numba"

    def _tiles_in_reach(
        self, polylines: torch.Tensor, reach: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(stroke, tile_y, tile_x) for every tile that some pixel of the stroke could touch."""
        t = self.tile_px
        if self._use_numba(polylines):
            found = raster_cpu.tiles_in_reach(
                polylines.contiguous().numpy(), reach.contiguous().numpy(), t, self.tiles_y, self.tiles_x,
                self.width_px, self.height_px,
            )
            return tuple(torch.from_numpy(a) for a in found)
        lo = polylines.amin(dim=1) - reach[:, None]
        hi = polylines.amax(dim=1) + reach[:, None]
        stroke, tile_y, tile_x = tiles_of_boxes(lo, hi, t, self.height_px, self.width_px)
        centre = torch.stack([tile_x, tile_y], dim=-1).to(polylines.dtype).add(0.5).mul(t)
        near = distance_to_polylines(centre[:, None, :], polylines[stroke])[:, 0] <= reach[stroke] + t * 0.7072
        return stroke[near], tile_y[near], tile_x[near]


def tiles_of_boxes(
    lo: torch.Tensor, hi: torch.Tensor, tile_px: int, height_px: int, width_px: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(box, tile_y, tile_x) for every canvas tile that each box [lo, hi] (N, 2) in pixels overlaps."""
    tiles_y, tiles_x = math.ceil(height_px / tile_px), math.ceil(width_px / tile_px)
    visible = (hi[:, 0] > 0) & (hi[:, 1] > 0) & (lo[:, 0] < width_px) & (lo[:, 1] < height_px)
    tx0 = (lo[:, 0] / tile_px).floor().long().clamp(0, tiles_x - 1)
    tx1 = (hi[:, 0] / tile_px).floor().long().clamp(0, tiles_x - 1)
    ty0 = (lo[:, 1] / tile_px).floor().long().clamp(0, tiles_y - 1)
    ty1 = (hi[:, 1] / tile_px).floor().long().clamp(0, tiles_y - 1)
    nx = tx1 - tx0 + 1
    counts = torch.where(visible, nx * (ty1 - ty0 + 1), torch.zeros_like(nx))
    box = torch.repeat_interleave(torch.arange(len(lo), device=lo.device), counts)
    first = torch.cumsum(counts, 0) - counts
    k = torch.arange(len(box), device=lo.device) - first[box]
    tile_x = tx0[box] + k % nx[box]
    tile_y = ty0[box] + torch.div(k, nx[box], rounding_mode="floor")
    return box, tile_y, tile_x


def composite_ink(patches: CoveragePatches, opacity: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Order-independent ink: transmittance multiplies, so log-transmittance is a sum over strokes.

    ``opacity`` is a number, one value per stroke (N,) for a grayscale (H, W) result, or one absorbance per
    stroke and channel (N, C) for a (C, H, W) result. 1 is bare paper, 0 full ink.
    """
    if isinstance(opacity, float):
        alpha = torch.full((1, 1, 1), opacity, dtype=patches.coverage.dtype, device=patches.coverage.device)
    elif opacity.dim() == 1:
        alpha = opacity[patches.stroke][None, :, None]
    else:
        alpha = opacity[patches.stroke].t()[:, :, None]  # (C, P, 1)
    log_t = torch.log((1.0 - alpha * patches.coverage[None]).clamp_min(_MIN_TRANSMITTANCE))
    hp, wp = patches.padded_shape
    channels = log_t.shape[0]
    total = torch.zeros(channels, hp * wp, dtype=patches.coverage.dtype, device=patches.coverage.device)
    total = total.index_add(1, patches.pixel.reshape(-1), log_t.reshape(channels, -1))
    image = total.reshape(channels, hp, wp)[:, : patches.height_px, : patches.width_px].exp()
    return image if isinstance(opacity, torch.Tensor) and opacity.dim() == 2 else image[0]


def draw_strokes(
    renderer: StrokeRenderer,
    primitive: str,
    control: torch.Tensor,
    widths_px: torch.Tensor,
    filter_px: float,
    absorb: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Order-independent ink of strokes through any renderer, and each stroke's ink (coverage sum).

    The soft rasteriser takes its fused path; any other renderer's patches are composited here.
    """
    if isinstance(renderer, SoftRasteriser):
        return render_ink(renderer, polyline(primitive, control), widths_px, filter_px, absorb)
    patches = renderer.stroke_patches(primitive, control, widths_px, filter_px)
    ink = torch.zeros(len(control), dtype=control.dtype, device=control.device)
    ink = ink.index_add(0, patches.stroke, patches.coverage.detach().sum(dim=1))
    channels = absorb if absorb is not None else torch.ones(len(control), dtype=control.dtype, device=control.device)
    return composite_ink(patches, channels), ink


def render_ink(
    raster: SoftRasteriser, polylines: torch.Tensor, widths_px: torch.Tensor, filter_px: float,
    absorb: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Order-independent ink of polylines, and each stroke's ink (its coverage sum).

    Without ``absorb`` the strokes are black and the image is grayscale (H, W); with ``absorb`` (N, C),
    each stroke's absorbance per channel, it is (C, H, W). On the CPU with numba this runs fused (no
    per-pixel tensors); elsewhere it composites the patches.
    """
    channels = absorb if absorb is not None else torch.ones(
        len(polylines), 1, dtype=polylines.dtype, device=polylines.device
    )
    if not raster._use_numba(polylines):
        patches = raster.patches(polylines, widths_px, filter_px)
        ink = torch.zeros(len(polylines), dtype=polylines.dtype, device=polylines.device)
        ink = ink.index_add(0, patches.stroke, patches.coverage.detach().sum(dim=1))
        image = composite_ink(patches, channels)
    else:
        reach = (widths_px + filter_px) / 2
        stroke, tile_y, tile_x = raster._tiles_in_reach(polylines.detach(), reach.detach())
        padded = (raster.tiles_y * raster.tile_px, raster.tiles_x * raster.tile_px)
        log_t, ink = raster_cpu.InkLogTransmittance.apply(
            polylines, widths_px, channels, stroke, tile_y, tile_x, raster.tile_px, filter_px, padded,
            _MIN_TRANSMITTANCE,
        )
        image = log_t[:, : raster.height_px, : raster.width_px].exp()
    return (image if absorb is not None else image[0]), ink


def composite_over(patches: CoveragePatches, opacity: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Ordered "over" compositing of opaque paint on white paper: later strokes cover earlier ones.

    colour = paper x prod(1 - a_s) + sum_s a_s colour_s prod_{t above s}(1 - a_t), with a_s = opacity x
    coverage; computed per pixel by sorting the patch pixels top stroke first and taking an exclusive
    cumulative sum of log(1 - a) within each pixel. Returns (3, H, W).
    """
    count = len(opacity)
    pixel = patches.pixel.reshape(-1)
    stroke = patches.stroke[:, None].expand_as(patches.pixel).reshape(-1)
    alpha = (opacity[stroke] * patches.coverage.reshape(-1)).clamp(0.0, 1.0 - _MIN_TRANSMITTANCE)
    inked = (patches.coverage.reshape(-1) > 0).nonzero()[:, 0]
    pixel, stroke, alpha = pixel[inked], stroke[inked], alpha[inked]
    order = torch.argsort(pixel * count + (count - 1 - stroke))  # per pixel, the top (latest) stroke first
    pixel, stroke, alpha = pixel[order], stroke[order], alpha[order]
    log_clear = torch.log1p(-alpha)
    running = torch.cumsum(log_clear, 0)
    _, counts = torch.unique_consecutive(pixel, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    before = torch.where(starts > 0, running[(starts - 1).clamp_min(0)], torch.zeros_like(starts, dtype=running.dtype))
    above = torch.exp(running - log_clear - torch.repeat_interleave(before, counts))
    hp, wp = patches.padded_shape
    paint = torch.zeros(3, hp * wp, dtype=alpha.dtype, device=alpha.device)
    paint = paint.index_add(1, pixel, (alpha * above)[None] * colours[stroke].t())
    clear = torch.zeros(hp * wp, dtype=alpha.dtype, device=alpha.device).index_add(0, pixel, log_clear).exp()
    image = paint + clear[None]
    return image.reshape(3, hp, wp)[:, : patches.height_px, : patches.width_px]
