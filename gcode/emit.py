"""Write a planned drawing (machine mm) as G-code in the profile's dialect, checked against the work area.

Drawing moves are G1 (or G2/G3 arcs fitted within the tolerance when asked), travel is G0 with the pen
up. Numbers have exactly three decimals, every line the emitter composes fits in MAX_LINE_CHARS (profile
templates may be as long as the firmware reads, see ``calibration.FIRMWARE_MAX_LINE_CHARS``), and text from outside
(titles, layer names) only ever appears sanitised inside a comment or a pen-change message.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import vpype

from calibration import MachineProfile
from gcode.arcs import ArcTo, LineTo, fit_arcs
from gcode.check import OutOfBoundsError, check_moves
from gcode.dialects import Dialect, dialect_for, format_number
from gcode.moves import Motion, Program

MAX_LINE_CHARS = 70  # the emitter's own budget for the lines it composes, within every firmware's limit
_COMMENT_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("();")
_HEADER = "strokebot: {}"
PEN_COMMENT = "pen {}"  # starts each layer of a multi-pen program, for people and the simulator
_ORIGIN = (0.0, 0.0)


def emit_gcode(
    drawing: vpype.Document,
    profile: MachineProfile,
    title: str = "",
    arcs: bool = False,
    arc_tolerance_mm: float = 0.05,
) -> list[str]:
    """G-code lines (without newlines) drawing each layer in turn, with a pen change between layers.

    With ``arcs``, runs of vertices that lie on a circle within ``arc_tolerance_mm`` become G2/G3 arcs.
    Raises OutOfBoundsError, before producing anything, if a vertex lies outside the work area, and checks
    the finished program with ``gcode.check.check_moves`` (every move, templates and arcs included, and
    every line's length), as ``send`` will check its text.
    """
    program = build_program(drawing, profile, title, arcs, arc_tolerance_mm)
    check_moves(program, profile)
    return program.lines()


def build_program(
    drawing: vpype.Document,
    profile: MachineProfile,
    title: str = "",
    arcs: bool = False,
    arc_tolerance_mm: float = 0.05,
) -> Program:
    """The program of :func:`emit_gcode` as typed lines, not yet checked (see ``gcode.check.check_moves``).

    Raises OutOfBoundsError, before building anything, if a vertex lies outside the work area.
    """
    _check_vertices(drawing, profile)
    writer = _Writer(profile, dialect_for(profile), arc_tolerance_mm if arcs else None)
    return Program(tuple(writer.program(drawing, title)))


def sanitize_comment(text: str, max_chars: int) -> str:
    """Text safe inside a ``( ... )`` or ``;`` comment: printable ASCII, no parentheses or semicolons."""
    return "".join(c if c in _COMMENT_SAFE else "_" for c in text)[:max_chars].strip()


def _check_vertices(drawing: vpype.Document, profile: MachineProfile) -> None:
    """Raise OutOfBoundsError for the first vertex outside [0, width] x [0, height] (NaN included)."""
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    for layer_id in sorted(drawing.layers):
        lines = drawing.layers[layer_id].lines
        if not lines:
            continue
        points = np.concatenate(lines)
        x, y = points.real, points.imag
        inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
        if not inside.all():
            first = int(np.argmin(inside))
            line_index = int(np.searchsorted(np.cumsum([len(line) for line in lines]), first, side="right"))
            bad = points[first]
            raise OutOfBoundsError(
                f"layer {layer_id}, line {line_index}: vertex ({bad.real:g}, {bad.imag:g}) mm "
                f"lies outside the work area 0..{width:g} x 0..{height:g} mm"
            )


class _Writer:
    """Produces one program, remembering the last written position and whether the feed must be stated."""

    def __init__(self, profile: MachineProfile, dialect: Dialect, arc_tolerance_mm: float | None) -> None:
        self.dialect = dialect
        self.arc_tolerance_mm = arc_tolerance_mm
        self.bounds = (0.0, 0.0, profile.work_area.width_mm, profile.work_area.height_mm)
        self.draw_feed = _written(profile.motion.draw_feed_mm_min)
        self.feed: float | None = self.draw_feed  # what the next drawing move states: the feed, until it is modal
        self.position: tuple[float, float] | None = None

    def program(self, drawing: vpype.Document, title: str) -> Iterator[Motion | str]:
        yield self.comment(_HEADER, title)
        yield from ("G21", "G90", *self.dialect.header, *self.dialect.pen_up)
        layers = [(i, drawing.layers[i]) for i in sorted(drawing.layers) if len(drawing.layers[i])]
        for number, (layer_id, layer) in enumerate(layers):
            name = _pen_name(layer, layer_id)
            if number > 0:  # the pen was lifted after the previous layer's last line
                yield from self.travel(_ORIGIN)
                yield from (self.fill(template, name) for template in self.dialect.pen_change)
            if len(layers) > 1:  # says which pen draws what follows, for people and for the simulator
                yield self.comment(PEN_COMMENT, name)
            for line in layer:
                yield from self.stroke(line)
        yield from self.travel(_ORIGIN)
        yield from self.dialect.footer

    def travel(self, point: tuple[float, float]) -> Iterator[Motion]:
        if point != self.position:
            yield Motion("G0", point[0], point[1])
            self.position = point

    def stroke(self, line: np.ndarray) -> Iterator[Motion | str]:
        """Travel to the line's start, lower the pen, draw (a dot if it does not move), lift the pen."""
        yield from self.travel(self.xy(line[0]))
        yield from self.dialect.pen_down
        if self.dialect.pen_down_sets_feed:
            self.feed = self.draw_feed
        for segment in self.segments(line):
            end = self.xy(segment.end)
            if end == self.position:
                continue
            if isinstance(segment, ArcTo):
                offset = segment.center - complex(*self.position)
                code = "G2" if segment.clockwise else "G3"
                yield Motion(code, end[0], end[1], _written(offset.real), _written(offset.imag), self.feed)
            else:
                yield Motion("G1", end[0], end[1], feed_mm_min=self.feed)
            self.feed = None  # the feed is modal: write it once
            self.position = end
        yield from self.dialect.pen_up

    def xy(self, point: complex) -> tuple[float, float]:
        """The point as written: three decimals, never rounded out of the work area."""
        return _coordinate(point.real, self.bounds[2]), _coordinate(point.imag, self.bounds[3])

    def segments(self, line: np.ndarray) -> list[LineTo | ArcTo]:
        if self.arc_tolerance_mm is None or len(line) < 3:
            return [LineTo(point) for point in line[1:]]
        return fit_arcs(line, self.arc_tolerance_mm, self.bounds)

    def comment(self, template: str, text: str) -> str:
        """A comment line of ``template`` filled with ``text``, made safe and cut to fit MAX_LINE_CHARS."""
        room = MAX_LINE_CHARS - len(self.dialect.comment(template.format("")))
        return self.dialect.comment(template.format(sanitize_comment(text, room)))

    def fill(self, template: str, pen: str) -> str:
        """A pen-change line naming the pen, sanitised and cut to fit MAX_LINE_CHARS."""
        room = MAX_LINE_CHARS - len(template.replace("{pen}", ""))
        return template.replace("{pen}", sanitize_comment(pen, max(0, room)))


def _written(value: float) -> float:
    """``value`` as G-code written here reads back: rounded to three decimals (``format_number``)."""
    return float(format_number(value))


def _coordinate(value: float, limit: float) -> float:
    """``value`` as written, three decimals, rounded inwards where rounding would leave [0, limit]."""
    written = _written(value)
    if written > limit:
        written = _written(math.floor(limit * 1000) / 1000)
    return 0.0 if written < 0 else written


def _pen_name(layer: vpype.LineCollection, layer_id: int) -> str:
    """The layer's pen name (its SVG group label), or its number when it has none."""
    return layer.property(vpype.METADATA_FIELD_NAME) or f"layer {layer_id}"
