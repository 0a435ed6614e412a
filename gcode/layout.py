"""Place a drawing on the machine: fit its page into the drawing area, maybe turned 90°, in machine mm."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import vpype

from calibration import MachineProfile, WorkArea

MM_PER_PX = 25.4 / 96.0
ROTATIONS = ("never", "auto", "always")


@dataclass(frozen=True)
class Placement:
    """Where the SVG page lands: scale, whether it is turned 90° clockwise, and its rectangle on the machine.

    A page point ``p`` (CSS px) goes to page mm ``turn(p - origin_px) * scale + offset_mm`` and then to
    machine coordinates through the profile's origin.
    """

    scale: float  # mm per CSS px
    rotated: bool
    origin_px: complex  # the corner of the page (or of the content) that is placed
    extent_px: tuple[float, float]  # width and height of what is placed, before turning
    offset_mm: complex  # where that corner lands on the page, in page mm (y down)
    page_rect_mm: tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax) in machine coordinates

    def to_machine(self, line: np.ndarray, profile: MachineProfile) -> np.ndarray:
        """A polyline in CSS px as machine mm (complex), clipped to the page rectangle's rounding noise."""
        relative = line - self.origin_px
        if self.rotated:  # a quarter turn clockwise on the page (y down): (x, y) -> (height - y, x)
            relative = (self.extent_px[1] - relative.imag) + 1j * relative.real
        page = relative * self.scale + self.offset_mm
        x, y = profile.page_to_machine(page.real, page.imag)
        xmin, ymin, xmax, ymax = self.page_rect_mm
        return np.clip(x, xmin, xmax) + 1j * np.clip(y, ymin, ymax)


def extent_of(doc: vpype.Document) -> tuple[complex, tuple[float, float]]:
    """What layout fits: the page (origin 0) or, without a page size, the content's bounding box."""
    if doc.page_size is not None:
        return 0j, (float(doc.page_size[0]), float(doc.page_size[1]))
    xmin, ymin, xmax, ymax = doc.bounds() or (0.0, 0.0, 0.0, 0.0)
    return complex(xmin, ymin), (float(xmax - xmin), float(ymax - ymin))


def place(origin_px: complex, extent_px: tuple[float, float], profile: MachineProfile, rotate: str = "never") -> Placement:
    """Scale ``extent_px`` uniformly into the drawing area and centre it; ``rotate`` is one of ROTATIONS.

    "auto" turns the drawing a quarter turn when that lets it be drawn larger.
    """
    width_px, height_px = extent_px
    upright = _fit(width_px, height_px, profile.work_area)
    turned = _fit(height_px, width_px, profile.work_area)
    rotated = rotate == "always" or (rotate == "auto" and turned[0] > upright[0] * (1 + 1e-9))
    scale, (left, top, right, bottom) = turned if rotated else upright
    (x0, y0), (x1, y1) = profile.page_to_machine(left, top), profile.page_to_machine(right, bottom)
    return Placement(
        scale=scale,
        rotated=rotated,
        origin_px=origin_px,
        extent_px=(width_px, height_px),
        offset_mm=complex(left, top),
        page_rect_mm=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
    )


def layout_to_work_area(
    doc: vpype.Document, profile: MachineProfile, rotate: str = "never"
) -> tuple[vpype.Document, Placement]:
    """A copy of the document in machine mm, its page fitted and centred in the drawing area.

    Content outside the page is cropped first; a document without a page size fits its content bounds.
    Each layer's lines are transformed together, as one array.
    """
    if doc.page_size is not None:
        doc = crop_document(doc, 0, 0, *doc.page_size)
    placement = place(*extent_of(doc), profile, rotate)
    placed = doc.clone()
    for layer_id, layer in doc.layers.items():
        points, ends = _joined(layer.lines)
        placed.layers[layer_id] = layer.clone(_split(placement.to_machine(points, profile), ends))
    placed.page_size = (profile.work_area.width_mm, profile.work_area.height_mm)
    return placed, placement


def crop_document(doc: vpype.Document, x1: float, y1: float, x2: float, y2: float) -> vpype.Document:
    """A copy of the document cropped to a rectangle, as vpype's ``Document.crop`` crops it.

    Lines wholly inside are kept as they are, found for all lines at once; vpype crops the others.
    """
    cropped = doc.clone()
    for layer_id, layer in doc.layers.items():
        cropped.layers[layer_id] = layer.clone(_crop_lines(layer.lines, x1, y1, x2, y2))
    return cropped


def _crop_lines(lines: list[np.ndarray], x1: float, y1: float, x2: float, y2: float) -> list[np.ndarray]:
    """vpype's ``LineCollection.crop`` of ``lines``, without calling it for the lines that it keeps whole."""
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    if x1 == x2 or y1 == y2 or not lines:
        return []
    points, ends = _joined(lines)
    outside = (points.real < x1) | (points.real > x2) | (points.imag < y1) | (points.imag > y2)
    cut = np.add.reduceat(outside, np.concatenate(([0], ends[:-1]))) > 0  # lines hold at least one point
    kept: list[np.ndarray] = []
    for line, crossed in zip(lines, cut.tolist()):
        if crossed:
            kept.extend(vpype.crop(line, x1, y1, x2, y2))
        else:
            kept.append(line)
    return kept


def _joined(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All points of ``lines`` in one array, and where each line ends in it."""
    if not lines:
        return np.zeros(0, dtype=complex), np.zeros(0, dtype=int)
    return np.concatenate(lines), np.cumsum([len(line) for line in lines])


def _split(points: np.ndarray, ends: np.ndarray) -> list[np.ndarray]:
    """``points`` cut back into lines ending at ``ends``, the inverse of :func:`_joined`."""
    return np.split(points, ends[:-1]) if len(ends) else []


def _fit(
    width_px: float, height_px: float, area: WorkArea
) -> tuple[float, tuple[float, float, float, float]]:
    """The mm-per-px scale fitting the page in the drawing area, and the centred page box in page mm."""
    sides = ((area.drawing_width_mm, width_px), (area.drawing_height_mm, height_px))
    scale = min((room / side for room, side in sides if side > 0), default=math.inf)
    if math.isinf(scale):  # content without extent (a dot): nothing to fit, keep CSS's 1/96 inch per px
        scale = MM_PER_PX
    margin = area.margin_mm
    left = max(margin, margin + (area.drawing_width_mm - width_px * scale) / 2)
    top = max(margin, margin + (area.drawing_height_mm - height_px * scale) / 2)
    right = min(area.width_mm - margin, left + width_px * scale)
    bottom = min(area.height_mm - margin, top + height_px * scale)
    return scale, (left, top, right, bottom)
