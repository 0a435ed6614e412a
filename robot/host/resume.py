"""Resuming a job: where to go on, and the lines that put the machine back into the program's state there.

The program's lines before the first unacknowledged one are read through :mod:`gcode.reader` in the
profile's flavour, which gives the modal state at that point: units, distance mode, feed, motion mode,
position and pen. The preamble restores it on a machine that may have been reset or switched off since
(a fresh board stands at 0, 0 with the pen up): millimetres and absolute mode, the pen up in the
machine's own dialect, a rapid to the position, the program's G92 offset (cleared with G92.1 first), the
pen down again if it was down, feed and motion mode, then inches or incremental mode if the program was
in them. The rest of the program follows.

A stop that drops what the board has queued (Ctrl-C, an alarm) loses lines that were acknowledged but had
not run: :func:`rewind_line` finds the first of them from where the machine stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from calibration import MachineProfile
from gcode.dialects import dialect_for, flavour_for
from gcode.emit import format_number
from gcode.reader import Dwell, GcodeInterpreter, ModalState, Move, Pause, PenChange, ProgramEnd
from robot.host.journal import first_missing

PLANNER_LINES = 16  # at most this many acknowledged lines can still be queued (GRBL and Marlin: 16 blocks)
STOPPED_ON_LINE_MM = 0.02  # how near a move the reported stop position must be (reports have 2-3 decimals)


@dataclass(frozen=True)
class ResumePlan:
    """What to stream to go on with a program: a preamble, then the program from ``start_line`` (1-based).

    ``program_lines`` gives, for each of ``lines``, its number in the program (None for the preamble).
    """

    start_line: int
    lines: list[str]
    program_lines: list[int | None]


def whole_program(lines: Sequence[str]) -> ResumePlan:
    """A job from its start: every line, no preamble."""
    return ResumePlan(1, list(lines), list(range(1, len(lines) + 1)))


def plan_resume(lines: Sequence[str], start_line: int, profile: MachineProfile) -> ResumePlan:
    """The preamble that restores the machine's state before ``start_line``, then the program from there."""
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))
    for line_no, line in enumerate(lines[: start_line - 1], start=1):
        interpreter.execute(line, line_no)
    preamble = restore_state(interpreter.state, profile)
    rest = list(lines[start_line - 1 :])
    numbers = [None] * len(preamble) + list(range(start_line, len(lines) + 1))
    return ResumePlan(start_line, preamble + rest, numbers)


def plan_resume_missing(lines: Sequence[str], acknowledged: set[int] | frozenset[int], profile: MachineProfile) -> ResumePlan:
    """The lines not acknowledged, each run of them after a preamble that restores the state before it.

    Lines acknowledged after one that was not (GRBL runs what it has buffered after refusing a line) ran
    and are not run again. When a program pause or end was acknowledged after the first missing line (a pen
    change: the pen in the holder is no longer the one of the lines before it), the job goes on from the
    first missing line instead, as :func:`plan_resume` does.
    """
    start = first_missing(acknowledged)
    runs = _missing_runs(len(lines), acknowledged, start)
    if runs == [(start, len(lines))] or _pauses_between(lines, start, max(acknowledged), profile):
        return plan_resume(lines, start, profile)
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))
    out: list[str] = []
    numbers: list[int | None] = []
    done = 0  # program lines read into the interpreter so far
    for first, last in runs:
        for line_no in range(done + 1, first):
            interpreter.execute(lines[line_no - 1], line_no)
        preamble = restore_state(interpreter.state, profile)
        out += preamble + list(lines[first - 1 : last])
        numbers += [None] * len(preamble) + list(range(first, last + 1))
        done = first - 1
    return ResumePlan(start, out, numbers)


def _missing_runs(count: int, acknowledged: set[int] | frozenset[int], start: int) -> list[tuple[int, int]]:
    """The runs (first, last) of line numbers from ``start`` to ``count`` not in ``acknowledged``."""
    runs: list[tuple[int, int]] = []
    for line_no in range(start, count + 1):
        if line_no in acknowledged:
            continue
        if runs and runs[-1][1] == line_no - 1:
            runs[-1] = (runs[-1][0], line_no)
        else:
            runs.append((line_no, line_no))
    return runs


def _pauses_between(lines: Sequence[str], first: int, last: int, profile: MachineProfile) -> bool:
    """Whether a program pause or end is among lines ``first`` to ``last``."""
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))
    for line_no, line in enumerate(lines[:last], start=1):
        events = interpreter.execute(line, line_no)
        if line_no >= first and any(isinstance(e, (Pause, ProgramEnd)) for e in events):
            return True
    return False


def restore_state(state: ModalState, profile: MachineProfile) -> list[str]:
    """Lines that bring a machine in any state into ``state``: units, modes, position, pen, feed."""
    dialect = dialect_for(profile)
    offset = any(state.offset_mm)
    lines = ["G21", "G90", *(["G92.1"] if offset else []), *dialect.pen_up,
             f"G0 X{format_number(state.x_mm)} Y{format_number(state.y_mm)}"]
    if offset:  # the program's G92: its coordinates for the position the machine is now at
        x, y, z = (here - o for here, o in zip((state.x_mm, state.y_mm, state.z_mm), state.offset_mm))
        lines.append(f"G92 X{format_number(x)} Y{format_number(y)}" + (f" Z{format_number(z)}" if state.offset_mm[2] else ""))
    if state.pen_down:
        lines += dialect.pen_down
    if state.feed_mm_min:
        lines.append(f"G1 F{format_number(state.feed_mm_min)}")
    if state.motion == "G0" and state.feed_mm_min:
        lines.append("G0")
    if state.mm_per_unit != 1.0:
        lines.append("G20")
    if not state.absolute:
        lines.append("G91")
    return lines


def rewind_line(
    lines: Sequence[str],
    acknowledged: set[int] | frozenset[int],
    stopped_at_mm: Sequence[float] | None,
    profile: MachineProfile,
    sent_through: int = 0,
) -> int:
    """The first line that may not have run when the machine stopped at ``stopped_at_mm`` and dropped its queue.

    Lines up to ``sent_through`` (the last the board was sent) that were not acknowledged may still have
    been waiting, and so may the last acknowledged lines that move: at most PLANNER_LINES of those, none
    before an acknowledged line the firmware waits on the machine for (a dwell, a spindle pen change, a
    pause: once it is answered the queue has run). Of these, the first one not finished at the stop
    position is where the machine was; without one through that position (or without a position) the
    earliest of them is the safe answer: a line drawn twice over itself, never a line left out. Every line
    before the answer has run, but for those the board refused.
    """
    last = max(sent_through, max(acknowledged, default=0))
    flavour = flavour_for(profile)
    interpreter = GcodeInterpreter(flavour=flavour)
    events_of = [interpreter.execute(line, n) for n, line in enumerate(lines[:last], start=1)]
    candidates: list[int] = []
    queued = 0  # acknowledged move lines among the candidates
    for line_no in range(last, 0, -1):
        events = events_of[line_no - 1]
        if line_no in acknowledged and any(_waits_for_the_machine(e, flavour.pen_sense) for e in events):
            break
        if any(isinstance(e, Move) for e in events):
            candidates.insert(0, line_no)
            queued += line_no in acknowledged
            if queued == PLANNER_LINES:
                break
    here = tuple(stopped_at_mm[:2]) if stopped_at_mm is not None else None
    for at, line_no in enumerate(candidates if here is not None else ()):
        moves = [e for e in events_of[line_no - 1] if isinstance(e, Move)]
        if any(_distance_to_segment(here, m.start, m.end) <= STOPPED_ON_LINE_MM for m in moves):
            return _first_unfinished(candidates[at:], events_of, here, last + 1)
    return candidates[0] if candidates else last + 1


def _first_unfinished(candidates: list[int], events_of: list[list], here: tuple[float, ...], first: int) -> int:
    """Of the move lines from the first one through ``here``: the first not finished when the machine stopped.

    A line that goes somewhere and ends where the machine stands has run to its end (the path is continuous,
    so the machine cannot have been there before it started); a line that ends where it starts (a full
    circle, no move) tells nothing and is run again.
    """
    for at, line_no in enumerate(candidates):
        moves = [e for e in events_of[line_no - 1] if isinstance(e, Move)]
        start, end = moves[0].start, moves[-1].end
        if math.dist(start, end) <= STOPPED_ON_LINE_MM or math.dist(here, end) > STOPPED_ON_LINE_MM:
            return line_no
        if at + 1 == len(candidates):
            return first  # the last move line acknowledged ran to its end: nothing was dropped
    return first


def _waits_for_the_machine(event: object, pen_sense: str) -> bool:
    """Whether the firmware answers the line of ``event`` only once the machine stands still."""
    if isinstance(event, (Dwell, Pause, ProgramEnd)):
        return True
    return isinstance(event, PenChange) and pen_sense == "spindle"  # GRBL syncs spindle changes; Z, servos: no


def _distance_to_segment(p: tuple[float, ...], a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.dist(p, (a[0] + t * dx, a[1] + t * dy))
