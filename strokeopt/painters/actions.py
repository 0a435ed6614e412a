"""The stroke action: Nakano's 12 numbers in [0, 1] that describe one brush stroke.

Layout (index: meaning), coordinates as fractions of the canvas side, x to the right, y down:

    0 pressure at the start     1 pressure at the end       2 brush size (radius, see ``radius_px``)
    3 red    4 green    5 blue  (the paint colour)
    6, 7   start point (x, y)   8, 9   control point (x, y)   10, 11 end point (x, y)

The stroke follows the quadratic Bézier start -> control -> end, with the pressure changing linearly
from start to end. Every painter (the MyPaint engine and the learned ones) reads actions in this layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ACTION_SIZE = 12
ACTION_FIELDS = (
    "pressure_start", "pressure_end", "size", "red", "green", "blue",
    "start_x", "start_y", "control_x", "control_y", "end_x", "end_y",
)
PRESSURE = slice(0, 2)
SIZE = 2
COLOUR = slice(3, 6)
POINTS = slice(6, 12)
RADIUS_MIN_FRACTION = 0.015  # size 0: the brush radius is this fraction of the canvas side
RADIUS_MAX_FRACTION = 0.08  # size 1


class ActionError(ValueError):
    """Actions that are not a finite (N, 12) array in [0, 1]."""


def check_actions(actions: np.ndarray) -> np.ndarray:
    """The actions as a float64 (N, 12) array, or an ``ActionError`` naming the first bad one."""
    try:
        array = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ActionError(f"actions must be numbers, {ACTION_SIZE} per stroke") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != ACTION_SIZE:
        raise ActionError(f"an action has {ACTION_SIZE} numbers ({', '.join(ACTION_FIELDS)}); got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ActionError(f"action {row}: {ACTION_FIELDS[col]} is not a finite number")
    outside = (array < 0.0) | (array > 1.0)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise ActionError(f"action {row}: {ACTION_FIELDS[col]} = {array[row, col]:g} is outside [0, 1]")
    return array


def read_actions(path: str | Path) -> np.ndarray:
    """Actions from a ``.npy`` array, a ``.json`` list (of lists) or a text/CSV file of 12 numbers a row."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif path.suffix == ".json":
            array = np.asarray(json.loads(path.read_text(encoding="utf-8")), dtype=np.float64)
        else:
            text = path.read_text(encoding="utf-8").replace(",", " ")
            array = np.asarray([[float(v) for v in line.split()] for line in text.splitlines() if line.strip()])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ActionError(f"cannot read actions from {path}: {getattr(error, 'strerror', None) or error}") from None
    except ValueError as error:  # ragged rows, words, pickled objects
        raise ActionError(f"{path} does not hold rows of {ACTION_SIZE} numbers ({error})") from None
    try:
        return check_actions(array)
    except ActionError as error:
        raise ActionError(f"{path}: {error}") from None


def radius_px(size: np.ndarray | float, canvas_px: int) -> np.ndarray | float:
    """Brush radius in canvas pixels for the size action: linear from 1.5 % to 8 % of the canvas side."""
    return canvas_px * (RADIUS_MIN_FRACTION + (RADIUS_MAX_FRACTION - RADIUS_MIN_FRACTION) * size)


def size_for_radius(radius: np.ndarray | float, canvas_px: int) -> np.ndarray | float:
    """The size action that gives a brush of ``radius`` canvas pixels (the inverse of ``radius_px``)."""
    return (radius / canvas_px - RADIUS_MIN_FRACTION) / (RADIUS_MAX_FRACTION - RADIUS_MIN_FRACTION)


def random_actions(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` actions drawn uniformly, each stroke's three points within one canvas (as Nakano)."""
    return rng.random((count, ACTION_SIZE))


def bezier_samples(actions: np.ndarray, canvas_px: int, samples: int) -> np.ndarray:
    """Points (N, samples, 2) in canvas pixels along each action's Bézier, evenly spaced in the parameter."""
    points = actions[:, POINTS].reshape(-1, 3, 2) * canvas_px
    t = np.linspace(0.0, 1.0, samples)[None, :, None]
    return ((1 - t) ** 2) * points[:, None, 0] + 2 * (1 - t) * t * points[:, None, 1] + (t**2) * points[:, None, 2]
