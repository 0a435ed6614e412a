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
        lines = compensate_backlash([commanded_for(error, np.column_stack([ln.real, ln.imag]))
                                     for ln in layer], error)
        for index, line in enumerate(lines):
            _check(line, profile, layer_id, index)
        out.add(vpype.LineCollection([ln[:, 0] + 1j * ln[:, 1] for ln in lines], metadata=layer.metadata), layer_id)
    return out


def compensate_backlash(lines: list[np.ndarray], error: MachineError) -> list[np.ndarray]:
    """The lines (n, 2 each, drawn in order from the origin) with backlash taken up at every reversal."""
    if not error.has_backlash:
        return lines
    backlash = np.array([error.backlash_x_mm, error.backlash_y_mm])
    toward_plus = np.array([False, False])  # arrived at the origin moving toward it
    at = np.zeros(2)  # the commanded position
    out = []
    for line in lines:
        # the travel to the line's start: it moves each axis the way it goes, and ends on that side
        toward_plus = _direction(line[0], at, toward_plus, backlash)
        at = line[0] + _lead(backlash, toward_plus)
        points = [at]
        for point in line[1:]:
            turned = _direction(point, at, toward_plus, backlash)
            if (turned != toward_plus).any():
                points.append(points[-1] + backlash * (turned.astype(float) - toward_plus))  # take-up, one axis
                toward_plus = turned
            at = point + _lead(backlash, toward_plus)
            points.append(at)
        out.append(np.array(points))
    return out


def _direction(point: np.ndarray, at: np.ndarray, toward_plus: np.ndarray, backlash: np.ndarray) -> np.ndarray:
    """Per axis, whether the move from commanded ``at`` to ``point`` leaves the axis moving toward +."""
    if_kept = point + _lead(backlash, toward_plus)
    keeps = np.where(toward_plus, if_kept >= at - STILL_MM, if_kept <= at + STILL_MM)
    return np.where(keeps, toward_plus, ~toward_plus)


def _lead(backlash: np.ndarray, toward_plus: np.ndarray) -> np.ndarray:
    """How far the command leads the wanted point: half a backlash, the way each axis moves."""
    return np.where(toward_plus, backlash / 2, -backlash / 2)


def _check(line: np.ndarray, profile: MachineProfile, layer_id: int, index: int) -> None:
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    inside = (line[:, 0] >= 0) & (line[:, 0] <= width) & (line[:, 1] >= 0) & (line[:, 1] <= height)
    if not inside.all():
        bad = line[np.argmin(inside)]
        raise OutOfBoundsError(
            f"layer {layer_id}, line {index}: the profile's [calibration] correction commands ({bad[0]:.3f}, "
            f"{bad[1]:.3f}) mm, outside the work area 0..{width:g} x 0..{height:g} mm: widen work_area.margin_mm "
            "or measure the machine again"
        )
