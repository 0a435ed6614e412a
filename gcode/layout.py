"""Place a drawing on the machine: fit its page into the drawing area and convert to machine mm."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import vpype

from calibration import MachineProfile, WorkArea

MM_PER_PX = 25.4 / 96.0


@dataclass(frozen=True)
class Placement:
    """Where the SVG page landed: the px -> mm factor applied and the page's rectangle in machine mm."""

    scale: float  # mm per CSS px
    page_rect_mm: tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax) in machine coordinates


def layout_to_work_area(
    doc: vpype.Document, profile: MachineProfile
) -> tuple[vpype.Document, Placement]:
    """Scale the page uniformly to fit the drawing area, centre it, and return a copy in machine mm.

    Content outside the page is cropped first; a document without a page size fits its content bounds.
    """
    doc = _copy(doc)
    if doc.page_size is not None:
        width_px, height_px = doc.page_size
        doc.crop(0, 0, width_px, height_px)
        origin_px = 0j
    else:
        xmin, ymin, xmax, ymax = doc.bounds() or (0.0, 0.0, 0.0, 0.0)
        width_px, height_px = float(xmax - xmin), float(ymax - ymin)
        origin_px = complex(xmin, ymin)

    scale, (left, top, right, bottom) = _fit(width_px, height_px, profile.work_area)
    (x0, y0), (x1, y1) = profile.page_to_machine(left, top), profile.page_to_machine(right, bottom)
    rect = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    for layer_id, layer in doc.layers.items():
        placed = []
        for line in layer:
            page_mm = (line - origin_px) * scale + complex(left, top)
            x, y = profile.page_to_machine(page_mm.real, page_mm.imag)
            # clipping to the page rectangle only removes rounding noise: the content was cropped to it
            placed.append(np.clip(x, rect[0], rect[2]) + 1j * np.clip(y, rect[1], rect[3]))
        doc.replace(placed, layer_id)
    doc.page_size = (profile.work_area.width_mm, profile.work_area.height_mm)
    return doc, Placement(scale=scale, page_rect_mm=rect)


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


def _copy(doc: vpype.Document) -> vpype.Document:
    """A deep copy of the document, so that layout never changes its input."""
    copy = doc.clone()
    for layer_id, layer in doc.layers.items():
        copy.layers[layer_id] = layer.clone([line.copy() for line in layer])
    return copy
