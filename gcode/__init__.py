"""SVG to G-code for GRBL and Marlin pen plotters: layout, merging, ordering, dialects, and a G-code reader."""

from gcode.dialects import Dialect, dialect_for, flavour_for
from gcode.check import LineTooLongError, OutOfBoundsError, RefusedCommandError, check_moves, check_program
from gcode.emit import build_program, emit_gcode
from gcode.layout import ROTATIONS, Placement, layout_to_work_area
from gcode.merge import merge_lines
from gcode.moves import Motion, Program, Timeline
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
from gcode.stats import PlanStats, compute_stats, timeline_stats
from gcode.svg import SvgError, flatten_svg, load_svg, read_svg

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
    "Motion",
    "Move",
    "OutOfBoundsError",
    "PlanOptions",
    "Pause",
    "PenChange",
    "Placement",
    "PlanStats",
    "PlannedDrawing",
    "Program",
    "ProgramEnd",
    "RefusedCommandError",
    "SvgError",
    "Timeline",
    "build_program",
    "check_moves",
    "check_program",
    "compute_stats",
    "dialect_for",
    "emit_gcode",
    "flatten_svg",
    "flavour_for",
    "layout_to_work_area",
    "load_svg",
    "merge_lines",
    "order_lines",
    "order_paths",
    "parse_words",
    "plan_document",
    "plan_drawing",
    "read_program",
    "read_svg",
    "strip_comment",
    "timeline_stats",
]
