"""Write a planned drawing (machine mm) as G-code for a GRBL servo pen plotter ("grbl-servo")."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import vpype

from calibration import MachineProfile

MAX_LINE_CHARS = 70
_COMMENT_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("();")
_HEADER = "(strokebot: {})"
_PEN_CHANGE = "M0 (change to pen {})"
PEN_COMMENT = "(pen {})"


class OutOfBoundsError(ValueError):
    """A vertex of the drawing lies outside the machine's work area."""


def emit_gcode(drawing: vpype.Document, profile: MachineProfile, title: str = "") -> list[str]:
    """G-code lines (without newlines) drawing each layer in turn, with a pen change between layers.

    Raises OutOfBoundsError, before producing anything, if a vertex lies outside the work area.
    """
    _check_bounds(drawing, profile)
    return list(_GrblServoWriter(profile).program(drawing, title))


def sanitize_comment(text: str, max_chars: int) -> str:
    """Text safe inside a ``( ... )`` comment: printable ASCII, no parentheses or semicolons."""
    return "".join(c if c in _COMMENT_SAFE else "_" for c in text)[:max_chars].strip()


def format_number(value: float) -> str:
    """A number with exactly three decimals, never ``-0.000``."""
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def _check_bounds(drawing: vpype.Document, profile: MachineProfile) -> None:
    """Raise OutOfBoundsError for the first vertex outside [0, width] x [0, height] (NaN included)."""
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    for layer_id in sorted(drawing.layers):
        for line_index, line in enumerate(drawing.layers[layer_id]):
            x, y = line.real, line.imag
            inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
            if not inside.all():
                bad = line[np.argmin(inside)]
                raise OutOfBoundsError(
                    f"layer {layer_id}, line {line_index}: vertex ({bad.real:g}, {bad.imag:g}) mm "
                    f"lies outside the work area 0..{width:g} x 0..{height:g} mm"
                )


class _GrblServoWriter:
    """Produces a grbl-servo program, remembering the last written position and the feed to write."""

    def __init__(self, profile: MachineProfile) -> None:
        self.pen_down = f"M3 S{profile.pen_lift.down_s}"
        self.dwell = f"G4 P{format_number(profile.pen_lift.dwell_s)}"
        self.feed = f" F{format_number(profile.motion.draw_feed_mm_min)}"
        self.position: tuple[str, str] | None = None

    def program(self, drawing: vpype.Document, title: str) -> Iterator[str]:
        yield _comment_line(_HEADER, title)
        yield from ("G21", "G90", "M5", self.dwell)
        layers = [(i, drawing.layers[i]) for i in sorted(drawing.layers) if len(drawing.layers[i])]
        for number, (layer_id, layer) in enumerate(layers):
            if number > 0:  # the pen was lifted after the previous layer's last line
                yield _comment_line(_PEN_CHANGE, _pen_name(layer, layer_id))
            if len(layers) > 1:  # says which pen draws what follows, for people and for the simulator
                yield _comment_line(PEN_COMMENT, _pen_name(layer, layer_id))
            for line in layer:
                yield from self.stroke(line)
        yield "G0 X0.000 Y0.000"
        yield "M2"

    def stroke(self, line: np.ndarray) -> Iterator[str]:
        """Travel to the line's start, lower the pen, draw (a dot if it does not move), lift the pen."""
        points = [(format_number(p.real), format_number(p.imag)) for p in line]
        if points[0] != self.position:
            yield f"G0 X{points[0][0]} Y{points[0][1]}"
            self.position = points[0]
        yield from (self.pen_down, self.dwell)
        for x, y in points[1:]:
            if (x, y) != self.position:
                yield f"G1 X{x} Y{y}{self.feed}"
                self.feed = ""  # the feed is modal: write it once
                self.position = (x, y)
        yield from ("M5", self.dwell)


def _comment_line(template: str, text: str) -> str:
    """``template`` filled with ``text``, made safe and cut so the line fits in MAX_LINE_CHARS."""
    return template.format(sanitize_comment(text, MAX_LINE_CHARS - len(template.format(""))))


def _pen_name(layer: vpype.LineCollection, layer_id: int) -> str:
    """The layer's pen name (its SVG group label), or its number when it has none."""
    return layer.property(vpype.METADATA_FIELD_NAME) or f"layer {layer_id}"
