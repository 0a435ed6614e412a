"""The machine half of the pipeline as functions: SVG -> G-code -> plotter -> picture of the drawing.

Each step takes and returns plain values; the CLI only parses options, calls these and writes files. The fit
half (image -> strokes -> SVG) is ``strokebot.fitting``; the stream to the plotter, its journal and resuming it
are ``strokebot.jobs``. This half imports no torch, so these commands start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image

from calibration import MachineProfile, as_simulated
from gcode import (
    PlanOptions,
    PlanStats,
    Placement,
    build_program,
    check_moves,
    plan_drawing,
    timeline_stats,
)
from gcode.correct import arcs_allowed, correct_drawing
from gcode.dialects import flavour_for
from gcode.emit import MAX_LINE_CHARS, sanitize_comment
from gcode.reader import GcodeInterpreter, Pause, strip_comment
from robot import GrblSimulator, SimSettings, render_strokes
from robot.firmware.grbl_codes import alarm_meaning, error_meaning
from strokebot.jobs import DrawnStrokes

SIM_SUPERSAMPLE = 4  # simulated drawing pixels per fit pixel along each axis


@dataclass(frozen=True)
class PlanRun:
    """G-code for a drawing, its statistics, and where the SVG page landed on the machine."""

    lines: list[str]
    stats: PlanStats
    placement: Placement


def plan_svg(svg_path: str | Path, profile: MachineProfile, options: PlanOptions = PlanOptions()) -> PlanRun:
    """Read an SVG, lay out, merge and order its lines in the work area, and write them as G-code.

    The program is built once as typed moves; the bounds check and the statistics read those moves, and
    its text is written last. With a ``[calibration]`` in the profile the moves are corrected for the machine
    (``gcode.correct``) before they are checked.
    """
    planned = plan_drawing(svg_path, profile, options)
    program = build_program(
        correct_drawing(planned.document, profile), profile, title=Path(svg_path).name,
        arcs=options.arcs and arcs_allowed(profile),
        arc_tolerance_mm=options.arc_tolerance_mm,
    )
    stats = timeline_stats(check_moves(program, profile), program.line_count(), profile)
    return PlanRun(lines=program.lines(), stats=stats, placement=planned.placement)


def simulate_program(lines: Sequence[str], profile: MachineProfile) -> tuple[GrblSimulator, list[str]]:
    """Run a program through the simulated GRBL line by line; returns it and the answers that were not ``ok``.

    The board has homing and soft limits on and is homed first, so a move out of the work area is ALARM:2.
    """
    simulator = GrblSimulator(profile, SimSettings(homing=True, soft_limits=True))
    simulator.receive(b"$H\n")
    problems = []
    for number, line in enumerate(lines, start=1):
        answer = simulator.receive(line.encode("ascii", "replace") + b"\n").decode("ascii", "replace")
        refusals = [a for a in answer.split() if a.startswith(("error:", "ALARM:"))]
        if refusals:
            problems.append(f"line {number} ({line.strip()}): {refusals[0]} ({_meaning(refusals[0])})")
        if strip_comment(line)[0] in ("M0", "M1"):
            simulator.receive(b"~")  # a pen change: the simulated operator is ready at once
    return simulator, problems


def _meaning(answer: str) -> str:
    """What GRBL's ``error:N`` or ``ALARM:N`` means, in GRBL's words."""
    kind, _, number = answer.partition(":")
    code = int(number) if number.isdigit() else -1
    return error_meaning(code) if kind == "error" else alarm_meaning(code)


def render_drawing(
    strokes: Sequence[Sequence[tuple[float, float]]],
    profile: MachineProfile,
    px_per_mm: float,
    region_mm: tuple[float, float, float, float] | None = None,
    pens: Sequence[int] | None = None,
) -> Image.Image:
    """What the pens drew, as the page looks from above (RGB when ``pens`` gives each stroke's pen)."""
    return render_strokes(strokes, as_simulated(profile), px_per_mm, region_mm, stroke_pens=pens)


def stroke_pens(drawn: DrawnStrokes, lines: Sequence[str], profile: MachineProfile) -> list[int]:
    """The profile pen of each drawn stroke, read from the program's "(pen NAME)" comments.

    The emitter starts each layer of a multi-pen program with such a comment; a stroke drawn after k pen
    changes (M0) belongs to the pen named after the k-th one. Unnamed sections use the first pen.
    """
    names = [sanitize_comment(pen.name, MAX_LINE_CHARS) for pen in profile.pens]
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))  # pauses as the board sees them (Marlin: "M0 text")
    section_pen: dict[int, int] = {}
    pauses = 0
    for line in lines:
        code, comment = strip_comment(line)
        if any(isinstance(event, Pause) for event in interpreter.execute(line)):
            pauses += 1
        elif not code and comment.startswith("pen ") and comment[4:].strip() in names:
            section_pen[pauses] = names.index(comment[4:].strip())
    return [section_pen.get(section, 0) for section in drawn.sections]
