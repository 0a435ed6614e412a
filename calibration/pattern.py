"""The calibration test sheet as plain data: every stroke in machine mm, grouped by what it measures.

The sheet is laid out on the page (origin top-left, y down, as seen from above) inside the profile's drawing
area, and stored in machine mm through the profile's origin. Features whose position depends on the
direction a line is approached from (crosses, backlash pairs) are built in machine axes, with short
"hooks" at both ends of each line: whichever way the planner draws the line, the last move before it on
the measured axis is the hook's, so its position shifts by the same half-backlash every time.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass

import cv2
import numpy as np
import vpype

from calibration.profile import MachineProfile, WorkArea

MARKER_DICTIONARY = "DICT_4X4_50"
MARKER_CELLS = 6  # a 4x4 ArUco marker with its one-cell black border
MARKER_IDS = (0, 1, 2, 3)  # top-left, top-right, bottom-right, bottom-left on the page
TONE_DENSITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SOLID_SPACING = 0.35  # hatch spacing of the solid patch, in pen widths: solid even for a pen 60 % too thin
COMB_GAPS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)  # gaps between comb lines, in pen widths (they merge below 1)
COMB_ISOLATED = 2  # widely spaced lines after the graded ones: the pen width is measured on these
MIN_CROSSES = 25
FORMAT = "strokebot-calibration-pattern"
VERSION = 1

Polyline = np.ndarray  # (n, 2) float, machine mm


@dataclass(frozen=True, eq=False)
class Marker:
    """A fiducial: an ArUco marker filled with hatching; ``corners_mm`` in ArUco order as seen on the page."""

    id: int
    corners_mm: np.ndarray  # (4, 2) machine mm: top-left, top-right, bottom-right, bottom-left on the page
    strokes: tuple[Polyline, ...]


@dataclass(frozen=True, eq=False)
class Cross:
    """A cross whose two arms are approached from +X and +Y; the measure step locates its centre."""

    centre_mm: np.ndarray  # (2,) machine mm
    arm_mm: float  # half the length of each arm
    strokes: tuple[Polyline, ...]


@dataclass(frozen=True, eq=False)
class BacklashPair:
    """Two parallel lines across ``axis``: the first approached moving +axis, the second moving -axis.

    Backlash widens the gap between them by the backlash of that axis.
    """

    axis: str  # "x": vertical lines at x = lines_mm; "y": horizontal lines at y = lines_mm
    lines_mm: tuple[float, float]  # position on ``axis`` of the +approached and the -approached line
    span_mm: tuple[float, float]  # extent along the other axis (hooks included)
    hook_mm: float
    strokes: tuple[Polyline, ...]


@dataclass(frozen=True, eq=False)
class Comb:
    """Vertical lines (machine X positions) at graded gaps, then a few isolated ones for the pen width."""

    lines_mm: tuple[float, ...]
    isolated: tuple[int, ...]  # indices into lines_mm of the isolated lines
    span_mm: tuple[float, float]  # machine y extent
    strokes: tuple[Polyline, ...]


@dataclass(frozen=True, eq=False)
class TonePatch:
    """A square hatched at ``density`` (pen width / hatch spacing, the profile's pen); 0 < density."""

    density: float
    rect_mm: tuple[float, float, float, float]  # machine xmin, ymin, xmax, ymax
    strokes: tuple[Polyline, ...]


@dataclass(frozen=True, eq=False)
class CalibrationPattern:
    """The whole sheet: its strokes by role, and the nominal geometry the measure step compares against."""

    profile_name: str
    date: str
    work_area: WorkArea
    pen_width_mm: float
    markers: tuple[Marker, ...]
    crosses: tuple[Cross, ...]
    squares: tuple[Polyline, ...]
    backlash: tuple[BacklashPair, ...]
    comb: Comb
    tone: tuple[TonePatch, ...]
    solid: TonePatch  # the solid reference patch: how dark ink is where it covers the paper
    label: tuple[Polyline, ...]

    def strokes_by_role(self) -> dict[str, list[Polyline]]:
        """Every stroke, grouped by role, in drawing order."""
        return {
            "markers": [s for m in self.markers for s in m.strokes],
            "crosses": [s for c in self.crosses for s in c.strokes],
            "squares": list(self.squares),
            "backlash": [s for p in self.backlash for s in p.strokes],
            "comb": list(self.comb.strokes),
            "tone": [s for p in (*self.tone, self.solid) for s in p.strokes],
            "label": list(self.label),
        }

    def strokes(self) -> list[Polyline]:
        """All strokes, in drawing order."""
        return [s for group in self.strokes_by_role().values() for s in group]


def page_to_machine(area: WorkArea, xy: np.ndarray) -> np.ndarray:
    """Machine mm of page points (origin top-left, y down); the mapping is its own inverse."""
    xy = np.array(xy, dtype=float)
    vertical, horizontal = area.origin.split("-")
    if horizontal == "right":
        xy[..., 0] = area.width_mm - xy[..., 0]
    if vertical == "bottom":
        xy[..., 1] = area.height_mm - xy[..., 1]
    return xy


machine_to_page = page_to_machine


def axis_signs(area: WorkArea) -> np.ndarray:
    """(sx, sy): +1 where a machine axis points the way the page's does (x right, y down), else -1."""
    vertical, horizontal = area.origin.split("-")
    return np.array([-1.0 if horizontal == "right" else 1.0, -1.0 if vertical == "bottom" else 1.0])


def build_pattern(profile: MachineProfile, date: str | None = None) -> CalibrationPattern:
    """The test sheet for ``profile``'s drawing area and first pen; ``date`` (ISO) defaults to today."""
    area = profile.work_area
    pen = profile.pens[0].width_mm
    date = date or _dt.date.today().isoformat()
    left, top = area.margin_mm, area.margin_mm
    width, height = area.drawing_width_mm, area.drawing_height_mm
    marker_mm = float(np.clip(0.1 * min(width, height), 12.0, 30.0))
    cell_mm = marker_mm / MARKER_CELLS

    markers = tuple(
        _marker(area, i, (x, y), marker_mm, pen)
        for i, (x, y) in zip(MARKER_IDS, (
            (left, top), (left + width - marker_mm, top),
            (left + width - marker_mm, top + height - marker_mm), (left, top + height - marker_mm),
        ))
    )

    inset = marker_mm + 2 * cell_mm + 2.0
    nx = max(5, int((width - 2 * inset) // 40) + 1)
    ny = max(5, int((height - 2 * inset) // 40) + 1)
    xs = np.linspace(left + inset, left + width - inset, nx)
    ys = np.linspace(top + inset, top + height - inset, ny)
    pitch = min(xs[1] - xs[0], ys[1] - ys[0])
    arm = min(4.0, 0.12 * pitch)
    hook = min(1.5, arm / 3)
    crosses = tuple(_cross(area, (x, y), arm, hook) for y in ys for x in xs)

    box = pitch - 2 * (arm + 1.5)
    if _comb_length(pen) > box:
        raise ValueError(f"the drawing area {width:g} x {height:g} mm is too small for a calibration sheet with a "
                         f"{pen:g} mm pen: its pen-width comb needs {_comb_length(pen):.0f} mm between crosses "
                         f"and there are {box:.0f} mm")
    cells = [((xs[i] + xs[i + 1]) / 2, (ys[j] + ys[j + 1]) / 2) for j in range(ny - 1) for i in range(nx - 1)]
    last_row = (ny - 2) * (nx - 1)
    roles = {0: "backlash-x", nx - 2: "backlash-y", last_row: "backlash-y", len(cells) - 1: "backlash-x"}
    free = [k for k in range(len(cells)) if k not in roles]
    middle = sorted(free, key=lambda k: abs(k - len(cells) / 2))
    roles[middle[0]] = "comb"
    roles[middle[1]] = "tone-0"
    roles[middle[2]] = "tone-1"

    squares: list[Polyline] = []
    backlash: list[BacklashPair] = []
    tone: list[TonePatch] = []
    comb = solid = None
    patch = min(8.0, box / 3.4)
    slots = [(u, v) for v in (-1, 0, 1) for u in (-1, 0, 1)]
    tone_slots = [(cells[next(k for k, r in roles.items() if r == f"tone-{t}")], s) for t in (0, 1) for s in slots]
    for k, centre in enumerate(cells):
        role = roles.get(k, "square")
        if role == "square":
            squares += _square(area, centre, box * 0.6)
        elif role.startswith("backlash"):
            backlash.append(_backlash_pair(area, centre, role[-1], box, hook))
        elif role == "comb":
            comb = _comb(area, centre, box, pen)
    ladder = {}
    for density in TONE_DENSITIES:  # a small patch holds few lines: keep the densities that differ
        ladder.setdefault(max(1, round(patch * density / pen)), density)
    for n, ((cx, cy), (u, v)) in enumerate(tone_slots[: len(ladder) + 1]):
        rect = (cx + u * patch * 1.2 - patch / 2, cy + v * patch * 1.2 - patch / 2)
        if n < len(ladder):
            tone.append(_patch(area, rect, patch, pen, list(ladder.values())[n]))
        else:
            solid = _patch(area, rect, patch, pen, 1 / SOLID_SPACING)

    label = _label(area, f"{profile.name} - {date} - pen {profile.pens[0].name} {pen:g} mm",
                   (left + marker_mm + 2 * cell_mm, top + height - marker_mm / 2),
                   width - 2 * (marker_mm + 2 * cell_mm), min(4.0, marker_mm / 3))
    return CalibrationPattern(
        profile_name=profile.name, date=date, work_area=area, pen_width_mm=pen, markers=markers,
        crosses=crosses, squares=tuple(squares), backlash=tuple(backlash), comb=comb, tone=tuple(tone),
        solid=solid, label=label,
    )


def marker_bits(marker_id: int) -> np.ndarray:
    """The marker's cells, border included, as booleans (True: black), rows from the top of the page."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, MARKER_DICTIONARY))
    return cv2.aruco.generateImageMarker(dictionary, marker_id, MARKER_CELLS) == 0


def _marker(area: WorkArea, marker_id: int, corner: tuple[float, float], side_mm: float, pen_mm: float) -> Marker:
    """An ArUco marker at ``corner`` (page mm, top-left), its black cells cross-hatched.

    Rows of cells are hatched across, columns down: each pass covers the slits that backlash or a thin
    pen leaves in the other (between rows of cells, at the ragged ends of lines).
    """
    bits = marker_bits(marker_id)
    cell = side_mm / MARKER_CELLS
    x0, y0 = corner
    strokes = []
    spacing = 0.8 * pen_mm
    n = max(1, math.ceil((cell - pen_mm) / spacing) + 1)
    for transposed in (False, True):
        cells = bits.T if transposed else bits
        for row in range(MARKER_CELLS):
            for across in np.linspace(row * cell + pen_mm / 2, (row + 1) * cell - pen_mm / 2, n):
                for start, stop in _runs(cells[row]):
                    a, b = start * cell + pen_mm / 2, stop * cell - pen_mm / 2
                    line = [[a, across], [b, across]] if not transposed else [[across, a], [across, b]]
                    strokes.append(page_to_machine(area, np.array(line) + [x0, y0]))
    page_corners = np.array([[x0, y0], [x0 + side_mm, y0], [x0 + side_mm, y0 + side_mm], [x0, y0 + side_mm]])
    return Marker(id=marker_id, corners_mm=page_to_machine(area, page_corners), strokes=tuple(strokes))


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """The (start, stop) index ranges where ``row`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _cross(area: WorkArea, page_centre: tuple[float, float], arm: float, hook: float) -> Cross:
    """A cross at a page point, built in machine axes: arms with hooks on their -Y and -X sides."""
    cx, cy = page_to_machine(area, page_centre)
    horizontal = np.array([[cx - arm, cy - hook], [cx - arm, cy], [cx + arm, cy], [cx + arm, cy - hook]])
    vertical = np.array([[cx - hook, cy - arm], [cx, cy - arm], [cx, cy + arm], [cx - hook, cy + arm]])
    return Cross(centre_mm=np.array([cx, cy]), arm_mm=arm, strokes=(horizontal, vertical))


def _backlash_pair(area: WorkArea, page_centre: tuple[float, float], axis: str, box: float, hook: float) -> BacklashPair:
    """Two lines across ``axis``, a third of ``box`` apart: hooks on the - side of the first, + of the second."""
    c = page_to_machine(area, page_centre)
    k = 0 if axis == "x" else 1
    gap, half = box / 3, box / 2
    a, b = c[k] - gap / 2, c[k] + gap / 2
    lo, hi = c[1 - k] - half, c[1 - k] + half
    strokes = []
    for pos, side in ((a, -1), (b, +1)):
        line = np.array([[pos + side * hook, lo], [pos, lo], [pos, hi], [pos + side * hook, hi]])
        strokes.append(line if k == 0 else line[:, ::-1].copy())
    return BacklashPair(axis=axis, lines_mm=(a, b), span_mm=(lo, hi), hook_mm=hook, strokes=tuple(strokes))


def _square(area: WorkArea, page_centre: tuple[float, float], side: float) -> list[Polyline]:
    """A square with its two diagonals."""
    cx, cy = page_centre
    h = side / 2
    ring = np.array([[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h], [cx - h, cy - h]])
    return [page_to_machine(area, ring), page_to_machine(area, ring[[0, 2]]), page_to_machine(area, ring[[1, 3]])]


def _comb_gaps(pen_mm: float) -> list[float]:
    """Centre-to-centre distances between the comb's lines."""
    return [g * pen_mm + pen_mm for g in COMB_GAPS] + [max(4.0, 8 * pen_mm)] * COMB_ISOLATED


def _comb_length(pen_mm: float) -> float:
    return sum(_comb_gaps(pen_mm)) + pen_mm


def _comb(area: WorkArea, page_centre: tuple[float, float], box: float, pen_mm: float) -> Comb:
    """Vertical lines at gaps COMB_GAPS x pen width, then COMB_ISOLATED lines far apart."""
    gaps = _comb_gaps(pen_mm)
    xs = np.concatenate([[0.0], np.cumsum(gaps)])
    cx, cy = page_centre
    xs = cx - xs[-1] / 2 + xs
    half = box / 2
    lines = [page_to_machine(area, [[x, cy - half], [x, cy + half]]) for x in xs]
    ys = sorted((lines[0][0, 1], lines[0][1, 1]))
    n = len(xs)
    return Comb(lines_mm=tuple(float(line[0, 0]) for line in lines), isolated=tuple(range(n - COMB_ISOLATED, n)),
                span_mm=(ys[0], ys[1]), strokes=tuple(lines))


def _patch(area: WorkArea, corner: tuple[float, float], side: float, pen_mm: float, density: float) -> TonePatch:
    """A square at a page corner hatched with horizontal lines, as one zigzag, about ``density`` dense.

    The square holds a whole number of hatch periods (a line in the middle of each), so its mean darkness is
    that of the hatching; the density stated is the one drawn: pen width / spacing.
    """
    x0, y0 = corner
    n = max(1, round(side * density / pen_mm))
    spacing = side / n
    points = []
    for i in range(n):
        y = y0 + (i + 0.5) * spacing
        a, b = x0 + pen_mm / 2, x0 + side - pen_mm / 2
        points += [[a, y], [b, y]] if i % 2 == 0 else [[b, y], [a, y]]
    corners = page_to_machine(area, [[x0, y0], [x0 + side, y0 + side]])
    rect = (*corners.min(axis=0), *corners.max(axis=0))
    return TonePatch(density=float(pen_mm / spacing), rect_mm=tuple(float(v) for v in rect),
                     strokes=(page_to_machine(area, points),))


def _label(area: WorkArea, text: str, left_centre: tuple[float, float], room_mm: float,
           height_mm: float) -> tuple[Polyline, ...]:
    """``text`` in a Hershey font, its left end at ``left_centre`` (page mm), at most ``room_mm`` long."""
    lines = vpype.text_line(text, font_name="futural", size=height_mm)
    xmin, ymin, xmax, ymax = lines.bounds()
    scale = min(1.0, room_mm / (xmax - xmin))
    x0, y0 = left_centre
    return tuple(
        page_to_machine(area, np.column_stack([x0 + (line.real - xmin) * scale,
                                               y0 + (line.imag - (ymin + ymax) / 2) * scale]))
        for line in lines
    )
