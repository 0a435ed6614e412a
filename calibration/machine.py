"""What a miscalibrated machine does with a commanded move, and the commands that make it draw true.

The model (used by the synthetic sheets, the simulated boards and the planner's correction): each axis
has a dead band of its backlash, then an affine map turns the carriage position into where the pen is.
The correction inverts it: commanded = A⁻¹ (wanted − offset), and on each axis the
commanded point leads the wanted one by half a backlash in the direction the axis moves (the carriage
trails the command by that much), so the drawn result is the wanted one. Plain ``math``: the simulator steps a carriage per block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MachineError:
    """What a miscalibrated machine does: ``drawn = A @ axes + offset``, with backlash on the axes first.

    A's columns are the drawn X and Y axes: X has length ``scale_x`` and turns ``rotation_deg``; Y has
    length ``scale_y`` and leans ``skew_deg`` from square toward +X.
    """

    scale_x: float = 1.0
    scale_y: float = 1.0
    skew_deg: float = 0.0
    rotation_deg: float = 0.0
    offset_x_mm: float = 0.0
    offset_y_mm: float = 0.0
    backlash_x_mm: float = 0.0
    backlash_y_mm: float = 0.0

    def matrix(self) -> np.ndarray:
        return affine_matrix(self.scale_x, self.scale_y, self.skew_deg, self.rotation_deg)

    @property
    def is_exact(self) -> bool:
        """True for a machine that draws exactly what it is told."""
        return self == MachineError()

    @property
    def has_backlash(self) -> bool:
        return self.backlash_x_mm > 0 or self.backlash_y_mm > 0


def affine_matrix(scale_x: float, scale_y: float, skew_deg: float, rotation_deg: float) -> np.ndarray:
    """The 2x2 map with the drawn X axis (scale_x, turned rotation_deg) and Y axis (scale_y, leaning skew_deg)."""
    k, r = math.radians(skew_deg), math.radians(rotation_deg)
    upper = np.array([[scale_x, scale_y * math.sin(k)], [0.0, scale_y * math.cos(k)]])
    rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    return rot @ upper


class Carriage:
    """Where the pen of a machine with ``error`` really is, commanded move by commanded move.

    Straight moves keep each axis monotone, so the dead band is applied at each move's end. At the
    start the carriage rests at ``start_mm`` as if it had arrived there moving toward the origin.
    """

    def __init__(self, error: MachineError, start_mm: tuple[float, float] = (0.0, 0.0)) -> None:
        m = error.matrix()
        self._m = (float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1]))
        self._offset = (error.offset_x_mm, error.offset_y_mm)
        self._half = (error.backlash_x_mm / 2, error.backlash_y_mm / 2)
        self._axes = [start_mm[0] + self._half[0], start_mm[1] + self._half[1]]
        self.drawn_mm = self._map()

    def move(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Command a straight move to (x, y); returns where the pen now is."""
        for i, target in enumerate((x_mm, y_mm)):
            if target - self._axes[i] > self._half[i]:
                self._axes[i] = target - self._half[i]
            elif self._axes[i] - target > self._half[i]:
                self._axes[i] = target + self._half[i]
        self.drawn_mm = self._map()
        return self.drawn_mm

    def _map(self) -> tuple[float, float]:
        (a, b, c, d), (x, y) = self._m, self._axes
        return a * x + b * y + self._offset[0], c * x + d * y + self._offset[1]


def commanded_for(error: MachineError, wanted_mm: np.ndarray) -> np.ndarray:
    """The commanded points (n, 2) at which ``error``'s affine map draws ``wanted_mm``.

    The map is about the machine origin: the axes count their steps from there (from home), so a wrong
    steps/mm stretches away from it and a leaning Y axis leans from it.
    """
    inverse = np.linalg.inv(error.matrix())
    return (np.asarray(wanted_mm, dtype=float) - [error.offset_x_mm, error.offset_y_mm]) @ inverse.T


def corrected_reach_mm(error: MachineError, rect_mm: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The box (xmin, ymin, xmax, ymax) that commands for anything drawn inside ``rect_mm`` stay within.

    The affine image of a rectangle is a parallelogram (its extremes are at the corners); backlash
    compensation commands up to half a backlash beyond it on each side.
    """
    x0, y0, x1, y1 = rect_mm
    corners = commanded_for(error, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    half = np.array([error.backlash_x_mm, error.backlash_y_mm]) / 2
    lo, hi = lo - half, hi + half
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def compose(residual: MachineError, drawn_with: MachineError) -> MachineError:
    """The machine's error, from what a sheet drawn with ``drawn_with``'s correction measured (``residual``).

    Drawn = R · A₁⁻¹ · A · commanded, so the machine's A = R · A₁ (both without rotation: upper
    triangular, so is their product); the backlash left over adds to the one compensated.
    """
    product = residual.matrix() @ drawn_with.matrix()
    rotation = math.atan2(product[1, 0], product[0, 0])
    c, s = math.cos(rotation), math.sin(rotation)
    upper = np.array([[c, s], [-s, c]]) @ product
    return MachineError(
        scale_x=round(float(math.hypot(product[0, 0], product[1, 0])), 6),
        scale_y=round(float(math.hypot(upper[0, 1], upper[1, 1])), 6),
        skew_deg=round(math.degrees(math.atan2(upper[0, 1], upper[1, 1])), 4),
        rotation_deg=round(math.degrees(rotation), 4),
        offset_x_mm=residual.offset_x_mm + drawn_with.offset_x_mm,
        offset_y_mm=residual.offset_y_mm + drawn_with.offset_y_mm,
        backlash_x_mm=round(max(0.0, residual.backlash_x_mm + drawn_with.backlash_x_mm), 4),
        backlash_y_mm=round(max(0.0, residual.backlash_y_mm + drawn_with.backlash_y_mm), 4),
    )
