"""A job on a plotter: checked, streamed, recorded in its journal, and resumed from it after a stop.

Each step takes and returns plain values; the CLI only parses options, calls these and prints. The job
steps (:func:`resume_job`, :func:`stream_job`, :func:`raise_for_report`) raise :class:`JobError`, one line
with why and how far the job got, or :class:`JobInterrupted`; the stream steps under them
(:func:`send_program`, :func:`check_on_board`) raise what the streamer raises. ``port`` is a serial device,
a pyserial URL (``sim://...``), or ``"sim"``: a simulated board on a pseudo-terminal in this process.
"""

from __future__ import annotations

import os
import termios
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from calibration import MachineProfile
from gcode import check_program
from gcode.dialects import dialect_for
from gcode.program_file import read_program_file
from gcode.stats import drawn_mm, elapsed_seconds
from robot import (
    BoardSimulator,
    ConnectOptions,
    PtyPlotter,
    StreamError,
    StreamInterrupted,
    StreamReport,
    default_protocol,
    open_streamer,
    simulator_for,
)
from robot.firmware.grbl_status import MachineStatus
from robot.host.journal import Journal, default_journal_path, file_sha256, first_missing, program_header, read_journal
from robot.host.marlin_streamer import NO_CHECK_MODE
from robot.host.resume import ResumePlan, plan_resume_missing, rewind_line, whole_program
from robot.host.stopping import signals_deferred

SIM_PORT = "sim"


class JobError(Exception):
    """A job that cannot start, or that the plotter or the link ended: one line, with how far it got."""


class JobInterrupted(StreamInterrupted):
    """Ctrl-C or a signal stopped the job, the pen up; ``summary`` says how far it got and how to go on."""

    def __init__(self, interrupted: StreamInterrupted, summary: str) -> None:
        super().__init__(interrupted.report, interrupted.signum)
        self.summary = summary


@dataclass(frozen=True)
class ResumedJob:
    """A job to go on with: its journal (reopened), its G-code file, and the profile file to use (None: built-in)."""

    journal: Journal
    program: Path
    profile_path: Path | None


def resume_job(resume_path: Path, gcode_file: Path | None, profile_path: Path | None) -> ResumedJob:
    """The journal to go on with, the G-code file it names (unchanged since), and the profile to use.

    ``gcode_file``, when given, must be the journal's; ``profile_path`` overrides the journal's profile.
    """
    state = read_journal(resume_path)
    program = Path(state.header.program)
    if gcode_file is not None and gcode_file.resolve() != program.resolve():
        raise JobError(f"the journal {resume_path} is for {program}, not {gcode_file}")
    try:
        changed = file_sha256(program) != state.header.sha256
    except OSError as exc:
        raise JobError(f"cannot read {program}, the G-code file of the journal {resume_path}: "
                       f"{exc.strerror or exc}") from None
    if changed:
        raise JobError(f"{program} has changed since the journal {resume_path} was written; "
                       "cannot resume (send it again from the start)")
    profile = profile_path if profile_path is not None else state.header.profile
    program_lines = len(read_program_file(program))  # the journal's line numbers are checked against it
    journal = Journal.reopen(resume_path, program_lines)
    return ResumedJob(journal, program, Path(profile) if profile is not None else None)


def new_journal(gcode_file: Path, profile_path: Path | None, journal_path: Path | None = None) -> Journal:
    """A fresh journal for sending ``gcode_file`` (default: GCODE_FILE.journal beside it)."""
    return Journal.create(journal_path or default_journal_path(gcode_file), program_header(gcode_file, profile_path))


def job_summary(lines: Sequence[str], journal: Journal, profile: MachineProfile, port: str) -> str:
    """How far the job got, and how to go on: ``--resume`` only when the journal on disk has acknowledged lines.

    The simulated plotter of ``--port sim`` is gone with the command, so there is nothing to resume on it.
    """
    done = journal.acknowledged
    drawn, total = drawn_mm(lines, done, profile), drawn_mm(lines, range(1, len(lines) + 1), profile)
    summary = f"{len(done)} of {len(lines)} lines acknowledged, {drawn:.0f} of {total:.0f} mm drawn; "
    if port == SIM_PORT:
        summary += "the simulated plotter is gone with this run: nothing to resume on it"
    elif done and journal.path.is_file():
        summary += f"go on with: strokebot send --resume {journal.path} --port {port}"
    else:
        summary += f"nothing to resume: send it again with: strokebot send {journal.header.program} --port {port}"
    if journal.write_error is not None:
        why = journal.write_error.strerror or journal.write_error
        summary += (f" (the journal could not be written: {why}; it may be behind the plotter, so check where "
                    "the drawing stopped before going on)")
    return summary


def stream_job(
    lines: Sequence[str],
    port: str,
    profile: MachineProfile,
    journal: Journal,
    checked: StreamPlan,
    baud: int = 115200,
    progress: bool = True,
    on_pause: Callable[[str], None] | None = None,
    protocol: str | None = None,
    connect: ConnectOptions = ConnectOptions(),
) -> tuple[StreamReport, DrawnStrokes | None]:
    """:func:`send_program` recording in ``journal``, closed at the end; a stop or failure says how far it got.

    Ctrl-C or a signal raises :class:`JobInterrupted`; a failure of the link, or any exception the streamer
    stopped the machine for, :class:`JobError` with the job's summary.
    """
    with journal:
        try:
            return send_program(lines, port, profile, baud=baud, progress=progress, on_pause=on_pause,
                                protocol=protocol, journal=journal, checked=checked, connect=connect)
        except StreamInterrupted as exc:
            raise JobInterrupted(exc, job_summary(lines, journal, profile, port)) from None
        except StreamError as exc:
            raise JobError(f"{_said(exc)}; {job_summary(lines, journal, profile, port)}") from None
        except Exception as exc:  # the streamer stopped the machine for it (its report says what was done)
            if getattr(exc, "report", None) is None:
                raise
            summary = job_summary(lines, journal, profile, port)
            raise JobError(f"{_said(exc)}; stopped: the pen is up; {summary}") from None


def raise_for_report(report: StreamReport, summary: str = "") -> None:
    """JobError naming the first line the plotter rejected, or its alarm, followed by ``summary``; else nothing."""
    if report.errors:
        e = report.errors[0]
        code = f"error:{e['code']} " if isinstance(e["code"], int) else ""  # GRBL's number; Marlin says it in words
        where = f"line {e['line_no']}" if e["line_no"] is not None else "a line of the resume preamble"
        raise JobError(f"plotter rejected {where} ({e['line']}): {code}{e['meaning']}{summary}")
    if report.alarm:
        raise JobError(f"plotter raised {report.alarm}{summary}")


def _said(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


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
