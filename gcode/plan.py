"""Turn a Document read from SVG into a drawing ready to emit: in machine mm, merged and ordered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vpype

from calibration import MachineProfile
from gcode.layout import Placement, layout_to_work_area


@dataclass(frozen=True)
class PlannedDrawing:
    """A drawing in machine millimetres, one layer per pen, with its lines merged and ordered."""

    document: vpype.Document
    placement: Placement


def order_lines(lines: vpype.LineCollection, start: complex = 0j) -> vpype.LineCollection:
    """Greedy nearest-neighbour order from ``start``, reversing lines where that shortens the travel."""
    index = vpype.LineIndex(lines, reverse=True)
    ordered = lines.clone()
    position = start
    while len(index) > 0:
        idx, reverse = index.find_nearest(position)
        line = index.pop(idx)
        if reverse:
            line = np.flip(line)
        ordered.append(line)
        position = line[-1]
    return ordered


def plan_document(
    doc: vpype.Document, profile: MachineProfile, merge_tolerance_mm: float = 0.05
) -> PlannedDrawing:
    """Place the drawing in machine mm, then merge touching lines and order each layer to cut travel.

    Layout comes first so that the merge tolerance is in millimetres and ordering starts at the machine
    origin, where the pen rests; each later layer starts where the previous one ended.
    """
    placed, placement = layout_to_work_area(doc, profile)
    position = 0j
    for layer_id in sorted(placed.layers):
        layer = placed.layers[layer_id].clone(placed.layers[layer_id])
        layer.merge(tolerance=merge_tolerance_mm, flip=True)
        layer = order_lines(layer, start=position)
        placed.layers[layer_id] = layer
        if len(layer):
            position = layer[-1][-1]
    return PlannedDrawing(document=placed, placement=placement)
