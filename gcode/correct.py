"""Command a drawing so that the profile's measured machine draws it true: inverse affine, then backlash.

The profile's ``[calibration]`` says what the machine does (``calibration.machine``). Every vertex is
first sent through the inverse of its affine map (about the machine origin, where the axes count from). Then, per axis, the
commanded point lies half a backlash ahead of the wanted one in the direction the axis moves (the
carriage trails the command by that much in its dead band): where an axis reverses
inside a line, a take-up move on that axis alone is inserted at the vertex (the carriage stands still in
its dead band, so nothing is drawn); before a line, the pen-up travel itself ends on the side the travel
came from, so it takes up the slack. Layers start at the origin, as the emitter parks there.

Arcs: the corrected polylines are what the emitter fits arcs to, so with an affine correction alone
``--arcs`` still works (fitted after correction, within the tolerance); with backlash compensation the
planner turns arcs off (``arcs_allowed``), since an arc would hide the reversals that need a take-up.
"""

from __future__ import annotations

import numpy as np
import vpype

from calibration import MachineProfile
from calibration.machine import MachineError, commanded_for
from gcode.check import OutOfBoundsError

STILL_MM = 1e-3  # a move shorter than the emitter's resolution counts as no move, not a reversal


def arcs_allowed(profile: MachineProfile) -> bool:
    """Whether G2/G3 arcs may be fitted: not while backlash is compensated (see the module docstring)."""
    return profile.calibration is None or not profile.calibration.machine.has_backlash


def correct_drawing(drawing: vpype.Document, profile: MachineProfile) -> vpype.Document:
    """The drawing as the machine must be commanded to draw it true; unchanged without ``[calibration]``.

    Raises OutOfBoundsError naming the first vertex the correction moves outside the work area.
    """
    if profile.calibration is None or profile.calibration.machine.is_exact:
        return drawing
    error = profile.calibration.machine
    out = vpype.Document(metadata=drawing.metadata)
    for layer_id in sorted(drawing.layers):
        layer = drawing.layers[layer_id]
        if not len(layer):
            out.add(layer.clone(), layer_id)
            continue
        ends = np.cumsum([len(line) for line in layer])[:-1]
        points = np.concatenate(list(layer))
        affine = np.split(commanded_for(error, np.column_stack([points.real, points.imag])), ends)
        lines = compensate_backlash(affine, error)
        _check(lines, profile, layer_id)
        out.add(vpype.LineCollection([ln[:, 0] + 1j * ln[:, 1] for ln in lines], metadata=layer.metadata), layer_id)
    return out


def compensate_backlash(lines: list[np.ndarray], error: MachineError) -> list[np.ndarray]:
    """The lines (n, 2 each, drawn in order from the origin) with backlash taken up at every reversal.

    An axis moves toward + or - by the sign of its last step longer than STILL_MM (pen-up travel between
    lines included); the command leads each wanted point by half the backlash that way. The machine
    starts at the origin as if it had arrived there moving toward it.
    """
    if not error.has_backlash or not lines:
        return lines
    half = np.array([error.backlash_x_mm, error.backlash_y_mm]) / 2
    wanted = np.concatenate(lines)
    before = np.vstack([half, wanted[:-1]])  # commanded origin, reached moving toward it, stands for +half
    step = wanted - before
    sign = np.where(step > STILL_MM, 1.0, np.where(step < -STILL_MM, -1.0, 0.0))
    last = np.where(sign != 0, np.arange(len(wanted))[:, None], -1)
    np.maximum.accumulate(last, axis=0, out=last)  # the last vertex whose step set each axis's direction
    moving = np.where(last >= 0, np.take_along_axis(sign, np.maximum(last, 0), axis=0), -1.0)
    commanded = wanted + half * moving
    firsts = np.cumsum([0] + [len(line) for line in lines[:-1]])
    turned = np.flatnonzero(np.any(moving[1:] != moving[:-1], axis=1)) + 1  # vertices where an axis reverses
    inside = np.setdiff1d(turned, firsts)  # at a line's first vertex the pen-up travel took up the slack
    take_up = wanted[inside - 1] + half * moving[inside]  # the previous vertex, the new lead: one axis moves
    moves = np.insert(commanded, inside, take_up, axis=0)  # each take-up just before its vertex
    return np.split(moves, (firsts + np.searchsorted(inside, firsts))[1:])


def _check(lines: list[np.ndarray], profile: MachineProfile, layer_id: int) -> None:
    """Raise OutOfBoundsError for the first commanded vertex outside the work area."""
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    points = np.concatenate(lines)
    inside = (points[:, 0] >= 0) & (points[:, 0] <= width) & (points[:, 1] >= 0) & (points[:, 1] <= height)
    if not inside.all():
        first = int(np.argmin(inside))
        bad, index = points[first], int(np.searchsorted(np.cumsum([len(ln) for ln in lines]), first, side="right"))
        raise OutOfBoundsError(
            f"layer {layer_id}, line {index}: the profile's [calibration] correction commands ({bad[0]:.3f}, "
            f"{bad[1]:.3f}) mm, outside the work area 0..{width:g} x 0..{height:g} mm: widen work_area.margin_mm "
            "or measure the machine again"
        )
