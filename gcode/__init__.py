"""SVG to G-code for GRBL and Marlin pen plotters: layout, merging, ordering, dialects, and a G-code reader."""

from gcode.dialects import Dialect, dialect_for, flavour_for
from gcode.check import LineTooLongError, OutOfBoundsError, RefusedCommandError, check_program
from gcode.emit import emit_gcode
from gcode.layout import ROTATIONS, Placement, layout_to_work_area
from gcode.order import order_paths
from gcode.plan import PlannedDrawing, PlanOptions, order_lines, plan_document, plan_drawing
from gcode.reader import (
    Dwell,
    Event,
    Flavour,
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
    "ROTATIONS",
    "Dialect",
    "Dwell",
    "Event",
    "Flavour",
    "GcodeError",
    "GcodeInterpreter",
    "LineTooLongError",
    "ModalState",
    "Move",
    "OutOfBoundsError",
    "PlanOptions",
    "Pause",
    "PenChange",
    "Placement",
    "PlanStats",
    "PlannedDrawing",
    "ProgramEnd",
    "RefusedCommandError",
    "SvgError",
    "check_program",
    "compute_stats",
    "dialect_for",
    "emit_gcode",
    "flavour_for",
    "layout_to_work_area",
    "order_lines",
    "order_paths",
    "parse_words",
    "plan_document",
    "plan_drawing",
    "read_program",
    "read_svg",
    "strip_comment",
]
