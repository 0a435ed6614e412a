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

The check assumes the board's work coordinates equal its machine coordinates when the program starts (no
``G54`` offset or ``G92`` left from earlier), as the simulator and the resume preamble do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.reader import UNSUPPORTED_COMMAND, GcodeError, GcodeInterpreter, Move, parse_words, strip_comment

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
        code = _firmware_code(line, profile.firmware)
        if len(code) > profile.max_line_chars:
            raise LineTooLongError(
                f"{where} is {len(code)} characters long without comments; {profile.firmware.upper()} reads at "
                f"most {profile.max_line_chars} (split it into shorter lines)"
            )
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
            _check_inside(move, where, profile)
    return warnings


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


def _check_inside(move: Move, where: str, profile: MachineProfile) -> None:
    """Raise OutOfBoundsError if the move ends outside the work area (its start is the last move's end)."""
    width, height = profile.work_area.width_mm, profile.work_area.height_mm
    x, y = move.end
    slack = BOUNDS_SLACK_MM
    if not (-slack <= x <= width + slack and -slack <= y <= height + slack):
        raise OutOfBoundsError(
            f"{where} moves to ({x:g}, {y:g}) mm, outside the work area 0..{width:g} x 0..{height:g} mm"
        )
