"""Sub-pixel positions of drawn lines on the straightened sheet: intensity-weighted centroids, then a line fit.

The picture is resampled onto the page (mm, y down) through the sheet's marker homography, and turned into
darkness (0 paper, 1 black) against a smooth estimate of the paper's own brightness, so uneven light does
not shift or weaken anything. Positions found here are mapped back to image pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.markers import SheetFrame
from calibration.profile import WorkArea


@dataclass(frozen=True, eq=False)
class Straightened:
    """Darkness (noise keeps its sign) on the page grid: pixel (row i, col j) is page mm ((j + 0.5) / k, (i + 0.5) / k)."""

    darkness: np.ndarray  # float32, 0 paper .. 1 black
    px_per_mm: float
    frame: SheetFrame

    def page_to_image(self, page_mm: np.ndarray) -> np.ndarray:
        return self.frame.to_image(page_mm)


def straighten(gray: np.ndarray, frame: SheetFrame, area: WorkArea, paper_scale_mm: float) -> Straightened:
    """Resample ``gray`` onto the page at about the picture's own resolution, as darkness.

    The paper's brightness is the picture closed (dark features removed) over ``paper_scale_mm``, which
    must exceed the largest dark feature measured (the tone patches).
    """
    k = float(np.clip(frame.px_per_mm, 2.0, 16.0))
    to_page = np.array([[1 / k, 0, 0.5 / k], [0, 1 / k, 0.5 / k], [0, 0, 1]])
    size = (round(area.width_mm * k), round(area.height_mm * k))
    page = cv2.warpPerspective(gray.astype(np.float32), frame.page_to_image @ to_page, size,
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    side = int(paper_scale_mm * k) | 1
    smooth = cv2.GaussianBlur(page, (0, 0), 1.0)
    paper = cv2.morphologyEx(smooth, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    coarse = 2.0 / k  # the closed paper varies slowly: smooth it at 2 px/mm, then scale it back up
    paper = cv2.resize(paper, None, fx=coarse, fy=coarse, interpolation=cv2.INTER_AREA)
    paper = cv2.resize(cv2.GaussianBlur(paper, (0, 0), side * coarse / 2), size, interpolation=cv2.INTER_LINEAR)
    darkness = 1 - page / np.maximum(paper, 1e-3)
    # the closing picks the paper's brightest grain: rescale so that bare paper is 0 dark on the whole
    inside = darkness[int(area.margin_mm * k):-int(area.margin_mm * k) or None, int(area.margin_mm * k):-int(area.margin_mm * k) or None]
    bare = float(np.median(inside[inside < 0.15])) if (inside < 0.15).any() else 0.0
    darkness = (darkness - bare) / (1 - bare)  # not clipped: averages of noisy paper stay unbiased
    return Straightened(darkness=darkness, px_per_mm=k, frame=frame)


@dataclass(frozen=True)
class LineFit:
    """A straight stroke near an axis: ``across = position + slope * (along - at)`` in page mm."""

    position_mm: float
    slope: float
    at_mm: float
    weight: float  # total darkness used, in mm² (how much ink was seen)


def fit_line(page: Straightened, horizontal: bool, across_mm: float, at_mm: float, half_length_mm: float,
             skip_mm: float, half_width_mm: float, floor: float = 0.08) -> LineFit | None:
    """The stroke running along page x (``horizontal``) or y, near ``across_mm``, over ``at_mm`` +- half_length_mm.

    Columns within ``skip_mm`` of ``at_mm`` are left out (where another stroke crosses). Each column's
    darkness-weighted centroid within ``half_width_mm`` is found, twice (the window recentred), and a
    weighted straight line fitted through them. None when there is too little ink.
    """
    k = page.px_per_mm
    d = page.darkness if horizontal else page.darkness.T
    lo, hi = int(np.ceil((at_mm - half_length_mm) * k - 0.5)), int(np.floor((at_mm + half_length_mm) * k - 0.5))
    cols = np.arange(max(lo, 0), min(hi + 1, d.shape[1]))
    along = (cols + 0.5) / k
    cols, along = cols[np.abs(along - at_mm) >= skip_mm], along[np.abs(along - at_mm) >= skip_mm]
    if len(cols) < 4:
        return None
    centre = np.full(len(cols), across_mm)
    for _ in range(3):
        r0 = np.floor((centre - half_width_mm) * k - 0.5).astype(int)
        n = int(np.ceil(2 * half_width_mm * k)) + 2
        rows = r0[:, None] + np.arange(n)[None, :]
        pos = (rows + 0.5) / k
        inside = (np.abs(pos - centre[:, None]) <= half_width_mm) & (rows >= 0) & (rows < d.shape[0])
        values = d[rows.clip(0, d.shape[0] - 1), cols[:, None]]
        w = np.where(inside, np.clip(values - floor, 0, None), 0)
        mass = w.sum(axis=1)
        good = mass > 0.05 * max(float(np.median(mass)), 1e-9)
        if good.sum() < 4:
            return None
        centroid = (w * pos).sum(axis=1)[good] / mass[good]
        slope, position = np.polyfit(along[good] - at_mm, centroid, 1, w=np.sqrt(mass[good]))
        centre = position + slope * (along - at_mm)
    return LineFit(position_mm=float(position), slope=float(slope), at_mm=at_mm, weight=float(mass.sum() / k / k))


def cross_centre(page: Straightened, centre_mm: np.ndarray, arm_mm: float, pen_mm: float) -> tuple[np.ndarray, float] | None:
    """A cross's centre in page mm (two arms fitted, intersected) and the ink seen; None when not found."""
    cx, cy = centre_mm
    skip = 1.5 * pen_mm + 0.3
    half = arm_mm - pen_mm - 0.4
    width = min(0.75 * pen_mm + 1.0, arm_mm - skip)
    h = fit_line(page, True, cy, cx, half, skip, width)
    v = fit_line(page, False, cx, cy, half, skip, width)
    if h is None or v is None:
        return None
    # y = h.p + h.s (x - cx); x = v.p + v.s (y - cy)
    y = (h.position_mm + h.slope * (v.position_mm - cx)) / (1 - h.slope * v.slope)
    x = v.position_mm + v.slope * (y - cy)
    y = h.position_mm + h.slope * (x - cx)
    return np.array([x, y]), min(h.weight, v.weight)


def profile_across(page: Straightened, x_mm: float, y_range_mm: tuple[float, float], half_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The mean darkness across a vertical page line at ``x_mm``: (x offsets in mm, darkness)."""
    k = page.px_per_mm
    rows = np.arange(int(y_range_mm[0] * k), int(y_range_mm[1] * k))
    cols = np.arange(int((x_mm - half_mm) * k - 0.5), int((x_mm + half_mm) * k + 0.5) + 1)
    cols = cols[(cols >= 0) & (cols < page.darkness.shape[1])]
    values = page.darkness[np.ix_(rows, cols)].mean(axis=0)
    return (cols + 0.5) / k - x_mm, values


def mean_in(page: Straightened, rect_page_mm: tuple[float, float, float, float], statistic=np.mean) -> float:
    """A statistic of the darkness inside a page rectangle (xmin, ymin, xmax, ymax)."""
    k = page.px_per_mm
    x0, y0, x1, y1 = (int(round(v * k)) for v in rect_page_mm)
    return float(statistic(page.darkness[y0:y1, x0:x1]))
