"""SVG in millimetres to G-code for a GRBL pen plotter, and a reader for that G-code."""

from gcode.emit import OutOfBoundsError, emit_gcode
from gcode.layout import Placement, layout_to_work_area
from gcode.plan import PlannedDrawing, order_lines, plan_document
from gcode.reader import (
    Dwell,
    Event,
    GcodeError,
    GcodeInterpreter,
    ModalState,
    Move,
    Pause,
    PenChange,
    ProgramEnd,
    parse_words,
    read_program,
    strip_comment,
)
from gcode.stats import PlanStats, compute_stats
from gcode.svg import SvgError, read_svg

__all__ = [
    "Dwell",
    "Event",
    "GcodeError",
    "GcodeInterpreter",
    "ModalState",
    "Move",
    "OutOfBoundsError",
    "Pause",
    "PenChange",
    "Placement",
    "PlanStats",
    "PlannedDrawing",
    "ProgramEnd",
    "SvgError",
    "compute_stats",
    "emit_gcode",
    "layout_to_work_area",
    "order_lines",
    "parse_words",
    "plan_document",
    "read_program",
    "read_svg",
    "strip_comment",
]
