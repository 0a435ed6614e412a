"""Turn an SVG into a drawing ready to emit: in machine mm, one layer per pen, lines merged and ordered.

Curves are flattened once, after the layout scale is known, so the tolerance holds in machine
millimetres however much the drawing is enlarged: the file is parsed once, the scale found from its page,
and its curves flattened at ``tolerance / scale`` CSS px. A file without a page is laid out by its
content's bounds, so it is flattened coarsely first to measure them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vpype

from calibration import MachineProfile
from gcode.layout import ROTATIONS, Placement, extent_of, layout_to_work_area, place
from gcode.merge import merge_lines
from gcode.order import order_paths
from gcode.svg import flatten_svg, load_svg

COARSE_QUANTIZATION_PX = 1.0  # first reading, only to measure the page or the content
ARC_SHARE_OF_TOLERANCE = 0.75  # with arcs: 1/4 of the tolerance for flattening, 3/4 for fitting arcs


@dataclass(frozen=True)
class PlanOptions:
    """How to plan: curve tolerance and line-merge tolerance (mm), page rotation, and G2/G3 arcs."""

    tolerance_mm: float = 0.05
    merge_tolerance_mm: float = 0.05
    rotate: str = "never"  # one of ROTATIONS
    arcs: bool = False

    def __post_init__(self) -> None:
        if self.rotate not in ROTATIONS:
            raise ValueError(f"rotate must be one of {', '.join(ROTATIONS)}, got {self.rotate!r}")
        if not (0 < self.tolerance_mm <= 10 and 0 <= self.merge_tolerance_mm <= 10):
            raise ValueError("tolerances must be in (0, 10] mm")

    @property
    def flatten_tolerance_mm(self) -> float:
        """Largest distance between a curve and the polyline that stands for it."""
        return self.tolerance_mm * (1 - ARC_SHARE_OF_TOLERANCE) if self.arcs else self.tolerance_mm

    @property
    def arc_tolerance_mm(self) -> float:
        """Largest distance between a fitted arc and the polyline it replaces."""
        return self.tolerance_mm * ARC_SHARE_OF_TOLERANCE


@dataclass(frozen=True)
class PlannedDrawing:
    """A drawing in machine millimetres, one layer per pen, with its lines merged and ordered."""

    document: vpype.Document
    placement: Placement
    options: PlanOptions


def plan_drawing(path: str | Path, profile: MachineProfile, options: PlanOptions = PlanOptions()) -> PlannedDrawing:
    """Read an SVG with its curves flattened to the tolerance in machine mm, then plan it."""
    svg = load_svg(path)
    if svg.page_px is not None:
        coarse = None
        scale = place(0j, svg.page_px, profile, options.rotate).scale
    else:
        coarse = flatten_svg(svg, COARSE_QUANTIZATION_PX)
        scale = place(*extent_of(coarse), profile, options.rotate).scale
    quantization_px = 0.9 * options.flatten_tolerance_mm / scale  # 10 % kept for a slightly larger final scale
    if quantization_px >= COARSE_QUANTIZATION_PX:
        doc = coarse if coarse is not None else flatten_svg(svg, COARSE_QUANTIZATION_PX)
    else:
        doc = flatten_svg(svg, quantization_px)
    return plan_document(doc, profile, options)


def plan_document(doc: vpype.Document, profile: MachineProfile, options: PlanOptions = PlanOptions()) -> PlannedDrawing:
    """Place the drawing in machine mm, then merge touching lines and order each layer to cut travel.

    Layout comes first so that the merge tolerance is in millimetres. Every layer starts from the machine
    origin: the pen rests there at the start, and parks there for each pen change.
    """
    placed, placement = layout_to_work_area(doc, profile, options.rotate)
    for layer_id in sorted(placed.layers):
        layer = merge_lines(placed.layers[layer_id], options.merge_tolerance_mm, flip=True)
        placed.layers[layer_id] = order_lines(layer, start=0j)
    return PlannedDrawing(document=placed, placement=placement, options=options)


def order_lines(lines: vpype.LineCollection, start: complex = 0j) -> vpype.LineCollection:
    """The lines in the order (and direction) that keeps pen-up travel short, starting from ``start``."""
    if len(lines) == 0:
        return lines.clone()
    starts = np.array([line[0] for line in lines])
    ends = np.array([line[-1] for line in lines])
    order, flipped = order_paths(starts, ends, start)
    return lines.clone([np.flip(lines[i]) if flip else lines[i] for i, flip in zip(order, flipped)])

