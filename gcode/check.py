"""Check a whole program against its machine before any of it is sent: work area, line length, commands.

:func:`check_program` reads the program with :mod:`gcode.reader` as the profile's firmware would, from the
power-on state, and raises for the first line that must not reach the board; the plan checks its own
output with it, and ``send``, ``draw`` and ``send --resume`` check what they are about to stream. Every
move is checked against the work area ``0..width x 0..height``: straight moves at their ends, arcs at every
point of the reader's chords (within ``ARC_TOLERANCE_MM`` of the true arc), as GRBL's soft limits check
the segments of an arc.

Commands beyond the reader's motion, pen and flow, decided one by one (the reader models ``G92``,
``G92.1`` and ``G28``, see :mod:`gcode.reader`):

* sent with a warning, since they cannot move the pen: GRBL's ``$`` (help), ``$$``, ``$#``, ``$G``,
  ``$I``, ``$N`` (reports), ``$C`` (check mode), ``$X`` (unlock: the position is kept); the ``T`` word
  on GRBL (read and ignored);
* refused with the reason: GRBL's ``$H`` (the profile has no homing, so where homing leaves the machine
  is unknown), ``$J=`` (jogging), ``$N0=``/``$N1=`` (startup lines, run unchecked at every reset),
  ``$100=80`` and every other ``$x=value`` (a setting: steps/mm, limits), ``$RST=``, ``$SLP``; ``$``
  lines on Marlin; ``G10`` (work offsets), ``G53`` (machine coordinates), ``G54``-``G59`` (other work
  coordinate systems), ``G28.1``/``G30`` (stored positions), ``G28`` with axis words, ``M6`` and Marlin's
  ``T`` (a tool change that may move the machine).

:func:`check_moves` checks a program that the emitter built (``gcode.moves.Program``) the same way, line by
line with the same errors, without parsing the emitter's own moves back from text: it reads them as the
values they are, and returns what the program does (a ``gcode.moves.Timeline``) for the statistics.

The check assumes the board's work coordinates equal its machine coordinates when the program starts (no
``G54`` offset or ``G92`` left from earlier), as the simulator and the resume preamble do.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.moves import DWELL, END, PAUSE, PEN_DOWN, PEN_UP, Motion, Program, Timeline, TimelineBuilder
from gcode.reader import (
    UNSUPPORTED_COMMAND,
    Dwell,
    Event,
    GcodeError,
    GcodeInterpreter,
    ModalState,
    Move,
    Pause,
    PenChange,
    ProgramEnd,
    arc_points,
    parse_words,
    strip_comment,
)

BOUNDS_SLACK_MM = 1e-6  # absorbs the rounding of inch -> mm conversions at the very edge

# GRBL system lines that report or toggle something and never move the machine.
_HARMLESS_SYSTEM = {
    "$": "prints GRBL's help",
    "$$": "prints GRBL's settings",
    "$#": "prints GRBL's coordinate offsets",
    "$G": "prints GRBL's modal state",
    "$I": "prints GRBL's build info",
    "$N": "prints GRBL's startup lines",
    "$C": "toggles GRBL's check mode (no motion while it is on)",
    "$X": "unlocks GRBL after an alarm without homing; the position is kept",
}
_SETTING = re.compile(r"\$\d+=")
_MOTION_CODE = re.compile("G[0-3]X")  # how the emitter's move lines start, as code
_STATE_BUT_POSITION = tuple(f.name for f in dataclasses.fields(ModalState) if f.name not in ("x_mm", "y_mm"))
# Why the commands that the reader does not model are refused.
_REFUSED = {
    "G10": "sets work coordinate offsets, which a check on the host cannot follow",
    "G53": "moves in machine coordinates, which a check on the host cannot follow; write the move without G53",
    "G28.1": "stores a home position that later G28 moves would go to; strokebot's G28 is the origin",
    "G30": "moves to a position stored in the board, unknown to strokebot",
    "G30.1": "stores a position in the board, unknown to strokebot",
    "M6": "is a tool change, which GRBL 1.1 does not support; change pens with M0",
    **dict.fromkeys(
        ("G54", "G55", "G56", "G57", "G58", "G59"),
        "selects a work coordinate system whose offsets a check on the host cannot know",
    ),
}


class OutOfBoundsError(ValueError):
    """A vertex of the drawing, or a move of the program, lies outside the machine's work area."""


class LineTooLongError(ValueError):
    """A line longer than the firmware reads: GRBL answers error:11, Marlin drops the rest."""


class RefusedCommandError(ValueError):
    """A command whose effect on the machine cannot be checked before sending (a setting, homing, offsets)."""


def check_program(
    program: Sequence[str], profile: MachineProfile, line_numbers: Sequence[int | None] | None = None
) -> list[str]:
    """Raise for the first line that must not be sent; return warnings for lines sent as they are.

    ``line_numbers`` gives each line's number in the user's program (None for a line strokebot added, such
    as a resume preamble); without it, lines are numbered from 1. Errors name that number and the text.
    """
    numbers = list(line_numbers) if line_numbers is not None else list(range(1, len(program) + 1))
    interpreter = GcodeInterpreter(flavour=flavour_for(profile))
    warnings: list[str] = []
    for index, (number, line) in enumerate(zip(numbers, program), start=1):
        where = _where(number, index, line)
        code = _check_text(line, where, profile)
        if code.startswith("$"):
            warnings += _system_line(code, where, profile)
            continue
        try:
            events = interpreter.execute(line, number or 0)
        except GcodeError as exc:
            raise _refusal(exc, code, where, profile.firmware) from None
        if profile.firmware == "grbl" and "T" in code and _has_word(code, "T"):
            warnings.append(f"{where}: the tool number is sent as it is; GRBL reads it and does nothing")
        for move in (e for e in events if isinstance(e, Move)):
            _check_inside(move.end, where, profile)
    return warnings


def check_moves(program: Program, profile: MachineProfile) -> Timeline:
    """Raise for the first line of ``program`` that must not be sent, as :func:`check_program` would for its
    text; return what the program does.

    The emitter's moves are read as values; the other lines (few distinct texts, repeated at every pen
    lift) are checked once each and interpreted once per modal state, the position aside, where they do not
    depend on it. A move in a mode the emitter does not write (inches, relative, a G92 offset from a custom
    template) is read from its text. The length of a G0/G1 line is not checked: its numbers are bounded by the
    work area and the feed's range, well within any firmware's line. Warnings (``$`` reports, a GRBL ``T``
    word) are not collected.
    """
    walk = _Walk(profile)
    for number, row in enumerate(program.rows, start=1):
        if isinstance(row, str):
            walk.text(row, number)
        else:
            walk.motion(row, number)
    return walk.timeline.build()


class _Walk:
    """check_moves' reading of one program: the interpreter's state, what was learnt of each text, the timeline."""

    def __init__(self, profile: MachineProfile) -> None:
        self.profile = profile
        self.interpreter = GcodeInterpreter(flavour=flavour_for(profile))
        self.timeline = TimelineBuilder()
        self.checked: set[str] = set()  # texts whose length and system-command checks passed
        self.position_free: dict[str, bool] = {}  # texts whose effect does not depend on the position
        self.known: dict[tuple, tuple[list[tuple], tuple]] = {}  # (text, state less position) -> effect
        flavour = self.interpreter.flavour
        # a custom pen line that reads like a move would change the pen's state on a move line: read those as text
        self.motions_as_text = any(_MOTION_CODE.match(code) for code in flavour.down_codes | flavour.up_codes)

    def text(self, line: str, number: int) -> None:
        if line not in self.checked:
            code = _check_text(line, _where(number, number, line), self.profile)
            if code.startswith("$"):
                _system_line(code, _where(number, number, line), self.profile)
            self.checked.add(line)
        if self._position_free(line):
            self._known_text(line, number)
        else:
            self._execute(line, number)

    def motion(self, motion: Motion, number: int) -> None:
        state = self.interpreter.state
        feed = motion.feed_mm_min if motion.feed_mm_min is not None else state.feed_mm_min
        if (self.motions_as_text or not state.absolute or state.mm_per_unit != 1.0 or state.offset_mm != (0.0, 0.0, 0.0)
                or (motion.code != "G0" and not feed)):
            text = motion.text()
            _check_text(text, _where(number, number, text), self.profile)
            self._execute(text, number)
            return
        start = (state.x_mm, state.y_mm)
        end = (motion.x_mm, motion.y_mm)
        rapid = motion.code == "G0"
        if motion.code in ("G0", "G1"):
            points = [start, end]
        else:  # only an arc's line can outgrow the firmware's buffer (its I and J have no bound): check it
            _check_text(motion.text(), _where(number, number, motion.text()), self.profile)
            arc_state = dataclasses.replace(state, motion=motion.code)
            values = {"X": motion.x_mm, "Y": motion.y_mm, "I": motion.i_mm, "J": motion.j_mm}
            try:
                points = arc_points(arc_state, values, end, number)
            except GcodeError:
                self._execute(motion.text(), number)  # raises the check's own error for the line
                return
        for a, b in zip(points, points[1:]):
            self._inside(b, number, motion)
            self.timeline.move(number, a, b, 0.0, state.pen_down, rapid, None if rapid else feed)
        state.x_mm, state.y_mm = end
        state.motion = motion.code
        state.feed_mm_min = feed

    def _position_free(self, line: str) -> bool:
        """Whether the line's effect is the same wherever the pen is: no X/Y/I/J words, no G28 or G92."""
        free = self.position_free.get(line)
        if free is None:
            try:
                words = parse_words(strip_comment(line)[0])
            except GcodeError:
                words = [("X", 0.0)]  # not G-code as the reader parses it (a Marlin message): read it each time
            free = not any(letter in "XYIJ" or (letter == "G" and value in (28, 92, 92.1)) for letter, value in words)
            self.position_free[line] = free
        return free

    def _known_text(self, line: str, number: int) -> None:
        """Apply a position-free line's effect, interpreting it at the origin the first time in each state."""
        state = self.interpreter.state
        key = (line, _state_key(state))
        effect = self.known.get(key)
        if effect is None:
            position = state.x_mm, state.y_mm
            self.interpreter.state = dataclasses.replace(state, x_mm=0.0, y_mm=0.0)
            events = self._interpret(line, number)
            new = self.interpreter.state
            assert (new.x_mm, new.y_mm) == (0.0, 0.0), line
            new.x_mm, new.y_mm = position
            effect = self.known[key] = ([_effect(e) for e in events], _state_key(new))
        else:
            _set_state(state, effect[1])
        x, y = self.interpreter.state.x_mm, self.interpreter.state.y_mm
        for kind, *values in effect[0]:
            if kind is Move:
                dz_mm, pen_down, rapid, feed = values
                self._inside((x, y), number, line)
                self.timeline.move(number, (x, y), (x, y), dz_mm, pen_down, rapid, feed)
            else:
                self.timeline.event(number, *values)

    def _execute(self, line: str, number: int) -> None:
        """Interpret the line as the text it is, from the actual state."""
        for event in self._interpret(line, number):
            if isinstance(event, Move):
                self._inside(event.end, number, line)
                self.timeline.move(number, event.start, event.end, event.dz_mm, event.pen_down, event.rapid,
                                   event.feed_mm_min)
            else:
                self.timeline.event(number, *_effect(event)[1:])

    def _interpret(self, line: str, number: int) -> list[Event]:
        try:
            return self.interpreter.execute(line, number)
        except GcodeError as exc:
            code = _firmware_code(line, self.profile.firmware)
            raise _refusal(exc, code, _where(number, number, line), self.profile.firmware) from None

    def _inside(self, point: tuple[float, float], number: int, line: Motion | str) -> None:
        x, y = point
        area = self.profile.work_area
        if not (-BOUNDS_SLACK_MM <= x <= area.width_mm + BOUNDS_SLACK_MM
                and -BOUNDS_SLACK_MM <= y <= area.height_mm + BOUNDS_SLACK_MM):
            text = line if isinstance(line, str) else line.text()
            _check_inside(point, _where(number, number, text), self.profile)


def _state_key(state: ModalState) -> tuple:
    """The modal state less the position: what a position-free line's effect can depend on."""
    return tuple(getattr(state, name) for name in _STATE_BUT_POSITION)


def _set_state(state: ModalState, key: tuple) -> None:
    for name, value in zip(_STATE_BUT_POSITION, key):
        setattr(state, name, value)


def _effect(event: Event) -> tuple:
    """An event as a timeline entry: (Move, dz, pen down, rapid, feed) for a move in place, else (None, kind, s)."""
    if isinstance(event, Move):
        assert event.start == event.end, event
        return (Move, event.dz_mm, event.pen_down, event.rapid, event.feed_mm_min)
    if isinstance(event, Dwell):
        return (None, DWELL, event.seconds)
    if isinstance(event, PenChange):
        return (None, PEN_DOWN if event.down else PEN_UP)
    return (None, PAUSE if isinstance(event, Pause) else END)


def _check_text(line: str, where: str, profile: MachineProfile) -> str:
    """The line's code as the firmware keeps it, after raising LineTooLongError if it is too long."""
    code = _firmware_code(line, profile.firmware)
    if len(code) > profile.max_line_chars:
        raise LineTooLongError(
            f"{where} is {len(code)} characters long without comments; {profile.firmware.upper()} reads at "
            f"most {profile.max_line_chars} (split it into shorter lines)"
        )
    return code


def _where(number: int | None, index: int, line: str) -> str:
    """How an error names a line: the program's own number, or the place of a line strokebot added."""
    if number is None:
        return f"resume preamble line {index} ({line.strip()})"
    return f"line {number} ({line.strip()})"


def _firmware_code(line: str, firmware: str) -> str:
    """What of a line the firmware keeps in its line buffer: GRBL drops comments and spaces, Marlin ``;`` on."""
    if firmware == "marlin":
        return line.split(";", 1)[0].strip()
    return strip_comment(line)[0]


def _system_line(code: str, where: str, profile: MachineProfile) -> list[str]:
    """A ``$`` line: a warning when it cannot move the pen, else RefusedCommandError with the reason."""
    if profile.firmware != "grbl":
        raise RefusedCommandError(f"{where} is a GRBL system command; Marlin does not read it")
    if code in _HARMLESS_SYSTEM:
        return [f"{where} {_HARMLESS_SYSTEM[code]}: sent as it is"]
    if code == "$H":
        why = "homes the machine, and the profile has no homing: where it would stop is unknown (home by hand first)"
    elif code.startswith("$J="):
        why = "is a jog, which the check does not read; write it as G0/G1"
    elif code.startswith("$N"):
        why = "stores a startup line that GRBL would run unchecked at every reset"
    elif _SETTING.match(code):
        why = "changes a GRBL setting (steps/mm, limits, speeds), after which no host-side check holds; set it by hand"
    else:
        why = "is a GRBL system command that may reset, sleep or reconfigure the board"
    raise RefusedCommandError(f"{where} {why}")


def _refusal(exc: GcodeError, code: str, where: str, firmware: str) -> ValueError:
    """The error for a line the reader refused, with why strokebot does not send it."""
    if exc.grbl_code == UNSUPPORTED_COMMAND:
        try:
            words = [f"{letter}{value:g}" for letter, value in parse_words(code)]
        except GcodeError:
            words = []
        if firmware == "marlin" and any(word.startswith("T") for word in words):
            return RefusedCommandError(f"{where} selects a tool, which may move a Marlin machine; change pens with M0")
        for word in words:
            if word in _REFUSED:
                return RefusedCommandError(f"{where} {_REFUSED[word]}")
    return GcodeError(f"{where} is not G-code strokebot can check: {exc.message}", exc.grbl_code)


def _has_word(code: str, letter: str) -> bool:
    """Whether the (valid) line holds a word of ``letter``."""
    return any(word == letter for word, _ in parse_words(code))


def _check_inside(end: tuple[float, float], where: str, profile: MachineProfile) -> None:
    """Raise OutOfBoundsError if a move ends outside the work area (its start is the last move's end)."""
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    x, y = end
    slack = BOUNDS_SLACK_MM
    if not (-slack <= x <= width + slack and -slack <= y <= height + slack):
        raise OutOfBoundsError(
            f"{where} moves to ({x:g}, {y:g}) mm, outside the work area 0..{width:g} x 0..{height:g} mm"
        )
