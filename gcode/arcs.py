"""Replace runs of polyline vertices by circular arcs, so that G-code can draw them as G2/G3 moves.

Curves reach the G-code writer as dense polylines in machine millimetres. A run of vertices that lies on
a circle can be drawn by one arc move instead of one line per edge, which cuts the number of lines to
stream and lets the controller move smoothly.

Method. Greedily, from vertex ``i``, find the longest run ``points[i..j]`` that an arc can replace: try
the shortest run with three vertices and a chord of at least 0.01 mm; if it passes, search exponentially
for a failing ``j``, then bisect between the last run that passed and the first that failed (O(L log L)
for a run of L vertices). A run is judged by

1. fitting a circle through both end points (the centre lies on the chord's perpendicular bisector; its
   place there minimises the algebraic residuals ``|p - c|² - r²`` of the inner vertices, in closed form),
2. moving the centre onto the 0.001 mm grid that the G-code is written on, at the grid point nearest the
   bisector of the *rounded* end points, so that the controller sees start and end on one circle
   (GRBL's error 33), and
3. checking the arc against the run: the radius in range, every vertex within tolerance of it, the angle
   strictly monotonic in one direction, sweep at most 3π/2, every edge no closer to the centre than
   ``r - tol`` (this bounds the arc's bulge beyond each chord), and the arc's extreme points in bounds.

Why these checks suffice: along a ray from the centre at an angle inside one edge's span, the edge's
distance from the centre is convex in the angle, so it lies between the edge's nearest distance to the
centre and its larger end radius. With both within ``tol`` of the arc's radius, every point of the arc is
within ``tol`` of the edge point on the same ray. Snapping the centre leaves the start and end radii a
little apart (under 0.003 mm); the arc is then taken as the spiral between them (``flatten_arc``), and the
checks use the smaller or larger radius, whichever is stricter.

Runs where no arc fits become one ``LineTo`` per edge. Consecutive duplicate vertices are dropped first.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

import numba
import numpy as np

GRID_MM = 0.001  # G-code coordinates are written with three decimals
MIN_RADIUS_MM = 0.05
MAX_RADIUS_MM = 10_000.0  # larger radii make the controller's arc arithmetic ill-conditioned
MAX_SWEEP = 1.5 * math.pi  # keeps the end far from the start, so rounding never turns an arc into a circle
MIN_CHORD_MM = 0.01  # with rounding moving points by 0.0007 mm, shorter arcs could reverse direction
MAX_MISMATCH_MM = 0.002  # |r_end - r_start| after rounding; GRBL rejects above 0.005 mm


@dataclass(frozen=True)
class LineTo:
    """A straight move to ``end`` (x + 1j*y in mm)."""

    end: complex


@dataclass(frozen=True)
class ArcTo:
    """A circular move to ``end`` around ``center``; clockwise (G2) or counter-clockwise (G3), y up."""

    end: complex
    center: complex
    clockwise: bool


Segment = LineTo | ArcTo


def fit_arcs(
    points: np.ndarray, tolerance_mm: float, bounds: tuple[float, float, float, float]
) -> list[Segment]:
    """Segments drawing the polyline ``points`` (complex, ≥ 2 points) from ``points[0]``.

    Every arc stays within ``tolerance_mm`` of the polyline it replaces (and it of the arc) and inside
    ``bounds`` (xmin, ymin, xmax, ymax); every other edge becomes one line. A polyline of one repeated point gives one
    zero-length ``LineTo``, so that a dot is still drawn.
    """
    points = np.asarray(points, dtype=np.complex128)
    keep = np.append(points[1:] != points[:-1], True)  # the last of each run of equal vertices
    distinct = points[keep]
    if len(distinct) == 1:
        return [LineTo(complex(points[-1]))]
    ends, centres, directions = _fit(
        np.ascontiguousarray(distinct.real),
        np.ascontiguousarray(distinct.imag),
        float(tolerance_mm),
        np.asarray(bounds, dtype=np.float64),
    )
    segments: list[Segment] = []
    for end, centre, direction in zip(distinct[ends].tolist(), centres.tolist(), directions.tolist()):
        if direction == 0:
            segments.append(LineTo(end))
        else:
            segments.append(ArcTo(end, centre, direction < 0))
    return segments


def arc_radius_mismatch_mm(start: complex, arc: ArcTo) -> float:
    """|end radius - start radius| of ``arc`` from ``start`` as a controller sees it: rounded to 0.001 mm."""
    start, end, centre = (complex(round(p.real, 3), round(p.imag, 3)) for p in (start, arc.end, arc.center))
    return abs(abs(end - centre) - abs(start - centre))


def arc_sweep(start: complex, arc: ArcTo) -> float:
    """The angle ``arc`` turns through from ``start``, in (0, 2π]; equal directions mean a full circle."""
    turn = cmath.phase((arc.end - arc.center) * (start - arc.center).conjugate())
    if arc.clockwise:
        turn = -turn
    return turn + 2 * math.pi if turn <= 0 else turn


def flatten_arc(start: complex, arc: ArcTo, tolerance_mm: float) -> np.ndarray:
    """Points along ``arc`` from ``start`` (both ends included) whose chords stay within ``tolerance_mm``.

    The radius goes linearly with the angle from the start radius to the end radius: the two differ only
    by the centre's rounding, and this is the curve ``fit_arcs`` checked.
    """
    u0, u1 = start - arc.center, arc.end - arc.center
    r0, r1 = abs(u0), abs(u1)
    sweep = arc_sweep(start, arc)
    step = 2 * math.acos(max(-1.0, 1 - tolerance_mm / max(r0, r1)))
    t = np.linspace(0.0, 1.0, max(1, math.ceil(sweep / step)) + 1)
    angle = math.atan2(u0.imag, u0.real) + (-sweep if arc.clockwise else sweep) * t
    path = arc.center + (r0 + (r1 - r0) * t) * np.exp(1j * angle)
    path[0], path[-1] = start, arc.end
    return path


@numba.njit(cache=True)
def _fit(x, y, tol, bounds):
    """Greedy arcs over distinct vertices: (end index, centre, direction ±1 or 0 for a line) per segment."""
    n = len(x)
    ends = np.empty(n - 1, dtype=np.int64)
    centres = np.empty(n - 1, dtype=np.complex128)
    directions = np.zeros(n - 1, dtype=np.int64)
    count = 0
    i = 0
    while i < n - 1:
        first = i + 2  # the shortest run worth trying: three vertices, and a chord the rounding cannot flip
        while first < n - 1 and math.hypot(x[first] - x[i], y[first] - y[i]) < MIN_CHORD_MM:
            first += 1
        if first >= n or _try_arc(x, y, i, first, tol, bounds)[0] == 0:
            ends[count] = i + 1
            centres[count] = complex(math.nan, math.nan)
            count += 1
            i += 1
            continue
        good, bad, step = first, n, 1
        while good + step < n:  # exponential search for a failing end
            if _try_arc(x, y, i, good + step, tol, bounds)[0] != 0:
                good += step
                step *= 2
            else:
                bad = good + step
                break
        if bad == n and good < n - 1:
            if _try_arc(x, y, i, n - 1, tol, bounds)[0] != 0:
                good = n - 1
            else:
                bad = n - 1
        while bad - good > 1:  # bisection: `good` passes, `bad` fails
            mid = (good + bad) // 2
            if _try_arc(x, y, i, mid, tol, bounds)[0] != 0:
                good = mid
            else:
                bad = mid
        direction, cx, cy = _try_arc(x, y, i, good, tol, bounds)
        ends[count] = good
        centres[count] = complex(cx, cy)
        directions[count] = direction
        count += 1
        i = good
    return ends[:count], centres[:count], directions[:count]


@numba.njit(cache=True)
def _try_arc(x, y, i, j, tol, bounds):
    """(direction, centre x, centre y) of an arc replacing vertices i..j, direction 0 if none fits."""
    if math.hypot(x[j] - x[i], y[j] - y[i]) < MIN_CHORD_MM:
        return 0, 0.0, 0.0
    cx, cy = _fit_centre(x, y, i, j)
    if not (abs(cx) < 1e7 and abs(cy) < 1e7):  # straight, or nearly so
        return 0, 0.0, 0.0
    cx, cy = _snap_centre(x[i], y[i], x[j], y[j], cx, cy)
    return _check_arc(x, y, i, j, tol, bounds, cx, cy), cx, cy


@numba.njit(cache=True)
def _fit_centre(x, y, i, j):
    """Centre of the circle through vertices i and j that best fits those between (algebraic residuals).

    With the start at the origin, chord midpoint m and unit normal u, the centre is m + t·u and each
    vertex q has residual |q|² - 2 q·m - 2t q·u: linear in t, so least squares is one division.
    """
    ex, ey = x[j] - x[i], y[j] - y[i]
    chord = math.hypot(ex, ey)
    mx, my, ux, uy = ex / 2, ey / 2, -ey / chord, ex / chord
    sum_fg = 0.0
    sum_gg = 0.0
    for k in range(i + 1, j):
        qx, qy = x[k] - x[i], y[k] - y[i]
        f = qx * qx + qy * qy - 2 * (qx * mx + qy * my)
        g = 2 * (qx * ux + qy * uy)
        sum_fg += f * g
        sum_gg += g * g
    if sum_gg == 0.0:
        return math.inf, math.inf
    t = sum_fg / sum_gg
    return x[i] + mx + t * ux, y[i] + my + t * uy


@numba.njit(cache=True)
def _snap_centre(sx, sy, ex, ey, cx, cy):
    """The grid point nearest to where the centre meets the bisector of the rounded start and end.

    It is within 0.0008 mm of that bisector, so the rounded radii differ by at most 0.0015 mm.
    """
    sx, sy, ex, ey = _round(sx), _round(sy), _round(ex), _round(ey)
    mx, my = (sx + ex) / 2, (sy + ey) / 2
    chord = math.hypot(ex - sx, ey - sy)
    ux, uy = -(ey - sy) / chord, (ex - sx) / chord
    t = (cx - mx) * ux + (cy - my) * uy
    return _round(mx + t * ux), _round(my + t * uy)


@numba.njit(cache=True)
def _round(v):
    return round(v, 3)


@numba.njit(cache=True)
def _check_arc(x, y, i, j, tol, bounds, cx, cy):
    """Direction (+1 counter-clockwise, -1 clockwise) if the arc around (cx, cy) may replace i..j, else 0."""
    r_start = math.hypot(x[i] - cx, y[i] - cy)
    r_end = math.hypot(x[j] - cx, y[j] - cy)
    r_lo, r_hi = min(r_start, r_end), max(r_start, r_end)
    if r_lo < MIN_RADIUS_MM or r_hi > MAX_RADIUS_MM:
        return 0
    r_rounded = math.hypot(_round(x[i]) - cx, _round(y[i]) - cy)
    if abs(math.hypot(_round(x[j]) - cx, _round(y[j]) - cy) - r_rounded) > MAX_MISMATCH_MM:
        return 0
    direction = 0
    sweep = 0.0
    ux, uy = x[i] - cx, y[i] - cy
    for k in range(i, j):
        vx, vy = x[k + 1] - cx, y[k + 1] - cy
        rho = math.hypot(vx, vy)
        if rho > r_lo + tol or rho < r_hi - tol:
            return 0
        turn = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
        if turn == 0.0 or (direction != 0 and (turn > 0) != (direction > 0)):
            return 0
        direction = 1 if turn > 0 else -1
        sweep += abs(turn)
        if sweep > MAX_SWEEP or r_hi * (1 - math.cos(turn / 2)) > tol:
            return 0
        if _distance_to_segment(0.0, 0.0, ux, uy, vx, vy) < r_hi - tol:
            return 0
        ux, uy = vx, vy
    if not _arc_in_bounds(x[i], y[i], x[j], y[j], cx, cy, max(r_hi, r_rounded), direction, sweep, bounds):
        return 0
    return direction


@numba.njit(cache=True)
def _distance_to_segment(px, py, ax, ay, bx, by):
    """Distance from point p to segment ab."""
    dx, dy = bx - ax, by - ay
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
    t = min(max(t, 0.0), 1.0)
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


@numba.njit(cache=True)
def _arc_in_bounds(sx, sy, ex, ey, cx, cy, radius, direction, sweep, bounds):
    """Whether the ends and the axis-aligned extremes within the sweep lie inside bounds."""
    xmin, ymin, xmax, ymax = bounds[0], bounds[1], bounds[2], bounds[3]
    if not (xmin <= sx <= xmax and ymin <= sy <= ymax and xmin <= ex <= xmax and ymin <= ey <= ymax):
        return False
    start_angle = math.atan2(sy - cy, sx - cx)
    for quarter in range(4):
        angle = quarter * math.pi / 2
        if (direction * (angle - start_angle)) % (2 * math.pi) <= sweep:
            px, py = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
            if not (xmin <= px <= xmax and ymin <= py <= ymax):
                return False
    return True
