"""The machine half of the pipeline as functions: SVG -> G-code -> plotter -> picture of the drawing.

Each step takes and returns plain values; the CLI only parses options, calls these and writes files. The fit
half (image -> strokes -> SVG) is ``strokebot.fitting``; this half imports no torch, so these commands start fast.
"""

from __future__ import annotations

import os
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

from calibration import MachineProfile
from gcode import PlanOptions, PlanStats, Placement, check_program, compute_stats, emit_gcode, plan_svg as plan_svg_file
from gcode.dialects import dialect_for, flavour_for
from gcode.emit import MAX_LINE_CHARS, sanitize_comment
from gcode.reader import GcodeInterpreter, Pause, strip_comment
from gcode.stats import elapsed_seconds
from robot import (
    BoardSimulator,
    ConnectOptions,
    GrblSimulator,
    PtyPlotter,
    SimSettings,
    StreamError,
    StreamReport,
    default_protocol,
    open_streamer,
    render_strokes,
    simulator_for,
)
from robot.grbl_status import MachineStatus
from robot.grbl_codes import alarm_meaning, error_meaning
from robot.journal import Journal, first_missing
from robot.marlin import NO_CHECK_MODE
from robot.resume import ResumePlan, plan_resume_missing, rewind_line, whole_program
from robot.stopping import signals_deferred

SIM_PORT = "sim"
SIM_SUPERSAMPLE = 4  # simulated drawing pixels per fit pixel along each axis


@dataclass(frozen=True)
class PlanRun:
    """G-code for a drawing, its statistics, and where the SVG page landed on the machine."""

    lines: list[str]
    stats: PlanStats
    placement: Placement


def plan_svg(svg_path: str | Path, profile: MachineProfile, options: PlanOptions = PlanOptions()) -> PlanRun:
    """Read an SVG, lay out, merge and order its lines in the work area, and write them as G-code."""
    planned = plan_svg_file(svg_path, profile, options)
    lines = emit_gcode(
        planned.document, profile, title=Path(svg_path).name, arcs=options.arcs,
        arc_tolerance_mm=options.arc_tolerance_mm,
    )
    return PlanRun(lines=lines, stats=compute_stats(lines, profile), placement=planned.placement)


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
    return render_strokes(strokes, profile, px_per_mm, region_mm, stroke_pens=pens)


def check_port(port: str) -> None:
    """Fail at once, before any long work, when ``port`` is a path that is not a serial port (URLs and 'sim' pass).

    The device is opened without becoming the controlling terminal and without waiting for a carrier, and
    asked for its terminal settings: /dev/null, a file or a folder fails there, in one line.
    """
    if port == SIM_PORT or "://" in port:
        return
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise StreamError(f"cannot open serial port {port}: no such device") from None
    except PermissionError:
        raise StreamError(f"cannot open serial port {port}: permission denied (on Linux, join the dialout "
                          "group)") from None
    except OSError as exc:
        raise StreamError(f"cannot open serial port {port}: {exc.strerror}") from None
    try:
        termios.tcgetattr(fd)
    except termios.error:
        raise StreamError(f"cannot use {port} as a serial port: not a terminal device") from None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class StreamPlan:
    """What a send will stream (a resumed job's preamble included), checked, and the warnings of the check."""

    resume: ResumePlan
    warnings: tuple[str, ...]


def plan_stream(lines: Sequence[str], journal: Journal | None, profile: MachineProfile) -> StreamPlan:
    """The lines to stream for ``lines`` (a new job, or the rest of the journal's), checked before any is sent.

    Raises OutOfBoundsError, LineTooLongError, RefusedCommandError or GcodeError (see ``gcode.check``),
    naming the program's line, so that nothing reaches the board.
    """
    plan = resume_plan(lines, journal, profile)
    return StreamPlan(plan, tuple(check_program(plan.lines, profile, plan.program_lines)))


@dataclass(frozen=True)
class DrawnStrokes:
    """What a (simulated) pen drew: polylines in machine mm and, per stroke, the program pauses before it."""

    strokes: list[list[tuple[float, float]]]
    sections: list[int]

    @classmethod
    def of(cls, simulator: BoardSimulator) -> "DrawnStrokes":
        return cls([list(s) for s in simulator.strokes], list(simulator.stroke_sections))


def send_program(
    lines: Sequence[str],
    port: str,
    profile: MachineProfile,
    baud: int = 115200,
    progress: bool = True,
    on_pause: Callable[[str], None] | None = None,
    protocol: str | None = None,
    journal: Journal | None = None,
    timeout_s: float = 10.0,
    checked: StreamPlan | None = None,
    connect: ConnectOptions = ConnectOptions(),
) -> tuple[StreamReport, DrawnStrokes | None]:
    """Stream a program to a plotter; with ``port='sim'`` to a simulated board on a pseudo-terminal.

    ``protocol`` is one of ``robot.PROTOCOLS`` (default: the profile's firmware's). ``on_pause`` is called
    at each pen change (M0) with its message and returns when the pen is in; the simulator changes pens at
    once. With a ``journal``, every line acknowledged is recorded in it as its program line number; a
    journal that already holds some (a job being resumed) makes the stream go on from the first line not
    acknowledged, after a preamble that restores the machine's state there. A stop that dropped the
    board's queue (Ctrl-C, an alarm, any exception) is recorded as a rewind (if the journal can still be
    written). Returns the stream report and, for the simulator, what it drew. Ctrl-C raises
    StreamInterrupted once the machine is stopped, the pen lifted; any other exception the same, raised
    again with the report as its ``report``. The report's errors and alarm name the program's own line
    numbers (None, "the resume preamble", for a preamble line). ``connect`` says what may be done to a GRBL
    board found in alarm or in a feed hold; one found stopped with a previous sender's queue dropped (an
    alarm, a hold cleared by a reset) rewinds the journal past the lines that may not have run.
    """
    check_port(port)
    plan = resume_plan(lines, journal, profile)
    protocol = protocol or default_protocol(profile)
    elapsed = elapsed_seconds(plan.lines, profile) if progress else None  # the progress bar's ETA

    def on_ack(index: int) -> None:
        if journal is not None and plan.program_lines[index] is not None:
            journal.acknowledge(plan.program_lines[index])

    def stream_to(device: str, pause: Callable[[str], None] | None) -> StreamReport:
        nonlocal plan, elapsed
        with open_streamer(protocol, device, baud, timeout_s, dialect_for(profile).pen_up, connect) as streamer:
            if streamer.queue_dropped_at is not None and journal is not None and journal.acknowledged:
                plan = _rewind_dropped_queue(lines, journal, profile, streamer.queue_dropped_at, connect)
                elapsed = elapsed_seconds(plan.lines, profile) if progress else None
            try:
                report = streamer.stream(plan.lines, progress, pause, elapsed, on_ack, plan.program_lines)
            except BaseException as exc:  # Ctrl-C, a signal, or an exception the streamer stopped for
                if getattr(exc, "report", None) is not None:
                    with signals_deferred():
                        _record_stop_if_possible(exc.report, lines, profile, journal)
                raise
        _record_stop(report, lines, profile, journal)
        return report

    if port != SIM_PORT:
        return stream_to(port, on_pause), None
    with PtyPlotter(simulator_for(profile, firmware="marlin" if protocol == "marlin" else "grbl")) as plotter:
        report = stream_to(plotter.port, None)
    return report, DrawnStrokes.of(plotter.simulator)


def check_on_board(
    lines: Sequence[str],
    port: str,
    profile: MachineProfile,
    baud: int = 115200,
    progress: bool = True,
    protocol: str | None = None,
    timeout_s: float = 10.0,
    connect: ConnectOptions = ConnectOptions(),
) -> StreamReport:
    """Have a GRBL board parse every line in its check mode (``$C``), moving nothing; the report lists every error.

    With ``port='sim'`` a simulated GRBL does it. Marlin has no check mode: StreamError before the port is opened.
    """
    check_port(port)
    protocol = protocol or default_protocol(profile)
    if protocol == "marlin":
        raise StreamError(NO_CHECK_MODE)

    def check_on(device: str) -> StreamReport:
        with open_streamer(protocol, device, baud, timeout_s, dialect_for(profile).pen_up, connect) as streamer:
            return streamer.check(lines, progress)

    if port != SIM_PORT:
        return check_on(port)
    with PtyPlotter(simulator_for(profile, firmware="grbl")) as plotter:
        return check_on(plotter.port)


def _rewind_dropped_queue(
    lines: Sequence[str], journal: Journal, profile: MachineProfile, found: MachineStatus, connect: ConnectOptions
) -> ResumePlan:
    """The board dropped what a previous sender had queued: unacknowledge what may not have run, plan anew."""
    before = first_missing(journal.acknowledged)
    journal.rewind(rewind_line(lines, journal.acknowledged, found.position_mm, profile))
    plan = resume_plan(lines, journal, profile)
    if connect.on_notice is not None and plan.start_line != before:
        connect.on_notice(f"the board was found {found.state}, with what the previous sender queued dropped: "
                          f"going on from line {plan.start_line} instead of {before}")
    return plan


def resume_plan(lines: Sequence[str], journal: Journal | None, profile: MachineProfile) -> ResumePlan:
    """The whole program for a new job; for a journal with acknowledged lines, a preamble and the rest."""
    if journal is None or not journal.acknowledged:
        return whole_program(lines)
    return plan_resume_missing(lines, journal.acknowledged, profile)


def _record_stop(
    report: StreamReport, program: Sequence[str], profile: MachineProfile, journal: Journal | None
) -> None:
    """After a stop that dropped the board's queue: the lines that may not have run are unacknowledged again.

    Where the machine stopped tells which lines ran: those before it that the board did not refuse are
    recorded as acknowledged even when their ``ok`` never came (the stop cut it off).
    """
    if journal is None or not (report.interrupted or report.alarm):
        return
    if not journal.acknowledged and not report.last_sent_line:
        return
    rewind = rewind_line(program, journal.acknowledged, report.stopped_at_mm, profile, report.last_sent_line)
    refused = {error["line_no"] for error in report.errors}
    for line_no in range(first_missing(journal.acknowledged), rewind):
        if line_no not in journal.acknowledged and line_no not in refused:
            journal.acknowledge(line_no)
    journal.rewind(rewind)


def _record_stop_if_possible(
    report: StreamReport, program: Sequence[str], profile: MachineProfile, journal: Journal | None
) -> None:
    """_record_stop while a stream is failing: a journal that cannot be written (its ``write_error``) is left."""
    try:
        _record_stop(report, program, profile, journal)
    except OSError:
        pass  # the journal keeps the error; the failure that ended the stream is what the caller reports


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
