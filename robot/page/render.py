"""What the pen drew, as a picture of the page: polylines in machine mm -> PIL image.

The ink model is the optimiser's (strokeopt.render at filter_px = 1), so what the optimiser shows is what
the pen draws: paper is 1.0; a pixel at distance d (px) from a polyline of width w (px) is covered by
c = max(0, min(d + w/2, 0.5) - max(d - w/2, -0.5)) -- a one-pixel box filter across the line -- and
transmittances multiply over polylines: image = prod(1 - c * (1 - ink)). With one pen per stroke
(``stroke_pens``) each stroke has its own width and ink and the page is RGB: the product runs per channel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from calibration import MachineProfile, PenProfile

_PAIRWISE_BUDGET = 1 << 21  # pixels x segments evaluated at once before falling back to per-segment boxes


def render_strokes(
    strokes: Sequence[Sequence[tuple[float, float]]],
    profile: MachineProfile,
    px_per_mm: float,
    region_mm: tuple[float, float, float, float] | None = None,
    pen_index: int = 0,
    stroke_pens: Sequence[int] | None = None,
) -> Image.Image:
    """Render polylines given in MACHINE mm as they look on the page; mode "L" for a black pen, "RGB" otherwise.

    ``region_mm`` = (xmin, ymin, xmax, ymax) in machine mm (default: the whole work area); the image is
    round((xmax - xmin) * px_per_mm) x round((ymax - ymin) * px_per_mm) pixels, page up at the top.
    ``stroke_pens``: one index into ``profile.pens`` per stroke (a multi-pen drawing); the image is then
    always "RGB" and ``pen_index`` is not used.
    """
    page = render_page(strokes, profile, px_per_mm, region_mm, pen_index, stroke_pens)
    return Image.fromarray(_to_uint8(page), mode="L" if page.ndim == 2 else "RGB")


def render_page(
    strokes: Sequence[Sequence[tuple[float, float]]],
    profile: MachineProfile,
    px_per_mm: float,
    region_mm: tuple[float, float, float, float] | None = None,
    pen_index: int = 0,
    stroke_pens: Sequence[int] | None = None,
) -> np.ndarray:
    """The page as floats in [0, 1] (1.0 = paper): (H, W) for a black pen, (H, W, 3) for a coloured one.

    With ``stroke_pens`` (one index into ``profile.pens`` per stroke) every stroke is drawn with its own
    pen's width and ink and the page is always (H, W, 3).
    """
    origin, shape = _frame(profile, px_per_mm, region_mm)
    if stroke_pens is None:
        ink = _ink(profile.pens[pen_index])
        darkness: float | np.ndarray = 1.0 if not ink.any() else 1.0 - ink
        image = np.ones(shape if np.ndim(darkness) == 0 else (*shape, 3), dtype=np.float64)
        pens = [(profile.pens[pen_index].width_mm * px_per_mm, darkness)] * len(strokes)
    else:
        _check_stroke_pens(strokes, profile, stroke_pens)
        image = np.ones((*shape, 3), dtype=np.float64)
        pens = [(profile.pens[i].width_mm * px_per_mm, 1.0 - _ink(profile.pens[i])) for i in stroke_pens]
    for stroke, (width_px, dark) in zip(strokes, pens):
        if len(stroke) == 0:
            continue
        page = np.array([profile.machine_to_page(float(x), float(y)) for x, y in stroke], dtype=np.float64)
        _stamp(image, (page - origin) * px_per_mm, width_px, dark)
    return image


def _ink(pen: PenProfile) -> np.ndarray:
    """The pen's ink colour as RGB transmittances in [0, 1] (black = 0, paper white = 1)."""
    return np.array([int(pen.color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])


def _check_stroke_pens(
    strokes: Sequence[Sequence[tuple[float, float]]], profile: MachineProfile, stroke_pens: Sequence[int]
) -> None:
    """Raise ValueError unless there is one valid pen index per stroke, so no stroke is silently misdrawn."""
    if len(stroke_pens) != len(strokes):
        raise ValueError(f"stroke_pens has {len(stroke_pens)} entries for {len(strokes)} strokes")
    bad = [i for i in stroke_pens if not (isinstance(i, (int, np.integer)) and 0 <= i < len(profile.pens))]
    if bad:
        raise ValueError(f"stroke_pens index {bad[0]!r} is not a pen of the profile ({len(profile.pens)} pens)")


def stroke_coverage(distance_px: np.ndarray, width_px: float) -> np.ndarray:
    """Ink fraction of a pixel whose centre is ``distance_px`` from a line ``width_px`` wide (1-px box filter)."""
    half = width_px / 2.0
    return np.maximum(0.0, np.minimum(distance_px + half, 0.5) - np.maximum(distance_px - half, -0.5))


def _frame(
    profile: MachineProfile, px_per_mm: float, region_mm: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, tuple[int, int]]:
    """The region's top-left corner on the page (mm) and the image shape (rows, columns)."""
    if not (isinstance(px_per_mm, (int, float)) and math.isfinite(px_per_mm) and px_per_mm > 0):
        raise ValueError(f"px_per_mm must be a positive number, got {px_per_mm!r}")
    wa = profile.work_area
    xmin, ymin, xmax, ymax = region_mm if region_mm is not None else (0.0, 0.0, wa.width_mm, wa.height_mm)
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"region_mm must be (xmin, ymin, xmax, ymax) with xmax > xmin, ymax > ymin; got {region_mm}")
    corners = np.array([profile.machine_to_page(x, y) for x in (xmin, xmax) for y in (ymin, ymax)])
    origin = corners.min(axis=0)
    shape = (round((ymax - ymin) * px_per_mm), round((xmax - xmin) * px_per_mm))
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"region_mm {region_mm} is smaller than one pixel at {px_per_mm:g} px/mm")
    return origin, shape


def _stamp(image: np.ndarray, points: np.ndarray, width_px: float, darkness: float | np.ndarray) -> None:
    """Multiply ``image`` by (1 - c * darkness) for one polyline, evaluating only pixels within its reach."""
    reach = width_px / 2.0 + 1.0
    box = _box(points, reach, image.shape)
    if box is None:
        return
    r0, r1, c0, c1 = box
    rows = np.arange(r0, r1, dtype=np.float64) + 0.5
    cols = np.arange(c0, c1, dtype=np.float64) + 0.5
    segments = max(1, len(points) - 1)
    if (r1 - r0) * (c1 - c0) * segments <= _PAIRWISE_BUDGET:
        distance = _distance(rows, cols, points)
    else:  # a long polyline: each segment only looks at its own box, so cost follows the footprint
        distance = np.full((r1 - r0, c1 - c0), np.inf)
        for a, b in zip(points[:-1], points[1:]):
            sub = _box(np.stack([a, b]), reach, image.shape)
            if sub is None:
                continue
            s0, s1, t0, t1 = sub
            d = _distance(rows[s0 - r0 : s1 - r0], cols[t0 - c0 : t1 - c0], np.stack([a, b]))
            view = distance[s0 - r0 : s1 - r0, t0 - c0 : t1 - c0]
            np.minimum(view, d, out=view)
    coverage = stroke_coverage(distance, width_px)
    if np.ndim(darkness) == 0:
        image[r0:r1, c0:c1] *= 1.0 - coverage * darkness
    else:
        image[r0:r1, c0:c1] *= 1.0 - coverage[..., None] * darkness


def _box(points: np.ndarray, reach: float, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Row and column ranges of the pixels whose centres lie within ``reach`` of the points' bounding box."""
    lo = points.min(axis=0) - reach
    hi = points.max(axis=0) + reach
    c0 = max(0, math.floor(lo[0]))
    c1 = min(shape[1], math.ceil(hi[0]))
    r0 = max(0, math.floor(lo[1]))
    r1 = min(shape[0], math.ceil(hi[1]))
    if r0 >= r1 or c0 >= c1:
        return None
    return r0, r1, c0, c1


def _distance(rows: np.ndarray, cols: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance from every pixel centre (rows x cols) to the polyline ``points`` (a single point is a dot)."""
    py = rows[:, None, None]
    px = cols[None, :, None]
    if len(points) == 1:
        return np.hypot(px[..., 0] - points[0, 0], py[..., 0] - points[0, 1])
    ax, ay = points[:-1, 0], points[:-1, 1]
    bx, by = points[1:, 0] - ax, points[1:, 1] - ay
    length2 = bx * bx + by * by
    safe = np.where(length2 > 0, length2, 1.0)
    t = np.clip(((px - ax) * bx + (py - ay) * by) / safe, 0.0, 1.0)
    t = np.where(length2 > 0, t, 0.0)
    return np.hypot(px - ax - t * bx, py - ay - t * by).min(axis=-1)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
