"""Read the G-code subset that GRBL 1.1 and Marlin pen plotters understand, one line at a time.

The interpreter turns each line into events (moves in absolute machine millimetres, dwells, pen
changes, pauses) while keeping the firmware's modal state. The simulator and the statistics both use it,
so what is measured is what the machine would do. Errors carry GRBL 1.1's error numbers.
A :class:`Flavour` says which firmware's words apply (Marlin adds ``M280`` servos, ``M400``, ``M117`` and
millisecond ``G4 P``) and how to tell that the pen is down: spindle on, Z below a height, a servo angle,
or a custom dialect's own pen lines.

Beyond motion, pen and program flow, the reader models what a host-side bounds check needs and what is
simple to model exactly: ``G92`` (the current position is given new coordinates: an offset between the
program's coordinates and the machine's, kept in ``ModalState.offset_mm``; ``Move`` events stay in machine
mm), ``G92.1`` (clears that offset), ``G28`` alone on its line (a rapid to the machine origin, (0, 0):
GRBL's G28 position unless ``G28.1`` moved it, and where a plotter's origin is set), and GRBL's ``T`` word
(read and ignored, as GRBL 1.1 does). GRBL ``$`` system lines (``$$``, ``$X``, ``$100=80``) never reach
GRBL's G-code parser: the reader passes over them, and :mod:`gcode.check` decides which may be sent.
Anything else (``G10``, ``G53``, ``G54``-``G59``, ``G28`` with axis words, ``G30``, ``M6``) is refused
with GRBL's error 20, unsupported command.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

ARC_TOLERANCE_MM = 0.01
_ARC_ANGLE_EPSILON = 5e-7  # GRBL's ARC_ANGULAR_TRAVEL_EPSILON: start == end means a full circle

# GRBL 1.1 error numbers used here.
EXPECTED_COMMAND_LETTER = 1
BAD_NUMBER_FORMAT = 2
NEGATIVE_VALUE = 4
UNSUPPORTED_COMMAND = 20
MODAL_GROUP_VIOLATION = 21
UNDEFINED_FEED_RATE = 22
AXIS_COMMAND_CONFLICT = 24
WORD_REPEATED = 25
VALUE_WORD_MISSING = 28
NO_AXIS_WORDS = 26
NO_AXIS_WORDS_IN_PLANE = 32
INVALID_TARGET = 33
NO_OFFSETS_IN_PLANE = 35
UNUSED_WORDS = 36

_VALUE_LETTERS = frozenset("FSXYZIJPN")  # N (line number) is accepted and ignored
_GRBL_IGNORED_LETTERS = frozenset("T")  # GRBL 1.1 reads a tool number and does nothing with it
_MARLIN_ONLY = frozenset({"M280", "M400", "M84", "M18"})
_MARLIN_TEXT_COMMAND = re.compile(r"\s*M(0|1|117|118)(?![0-9.])(.*)$", re.IGNORECASE)  # message to the end
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_MODAL_GROUPS = {
    **dict.fromkeys(("G0", "G1", "G2", "G3"), "motion"),
    "G4": "dwell",
    **dict.fromkeys(("G28", "G92", "G92.1"), "non-modal"),
    "G17": "plane",
    **dict.fromkeys(("G20", "G21"), "units"),
    **dict.fromkeys(("G90", "G91"), "distance"),
    "G94": "feed mode",
    **dict.fromkeys(("M0", "M1", "M2", "M30"), "stop"),
    **dict.fromkeys(("M3", "M4", "M5"), "spindle"),
    "M280": "servo",
    **dict.fromkeys(("M400", "M84", "M18"), "wait"),
}


class GcodeError(ValueError):
    """A G-code line that cannot be parsed or executed.

    ``grbl_code`` is GRBL 1.1's error number, ``line_no`` the 1-based line (0 when unknown).
    """

    def __init__(self, message: str, grbl_code: int, line_no: int = 0):
        super().__init__(f"line {line_no}: {message}" if line_no else message)
        self.message = message
        self.grbl_code = grbl_code
        self.line_no = line_no


@dataclass(frozen=True)
class Move:
    """One straight segment in absolute machine mm; arcs arrive as several of these.

    ``dz_mm`` is the Z travel of the move (pen lifts of the Z dialects), 0 for moves in the plane.
    """

    start: tuple[float, float]
    end: tuple[float, float]
    pen_down: bool
    rapid: bool
    feed_mm_min: float | None  # None for rapid (G0) moves, which run at the machine's rapid rate
    line_no: int
    dz_mm: float = 0.0


@dataclass(frozen=True)
class Dwell:
    """A pause of ``seconds`` (G4) during which the machine stands still."""

    seconds: float
    line_no: int


@dataclass(frozen=True)
class PenChange:
    """The pen went down or up; emitted only when the pen state actually changes."""

    down: bool
    line_no: int


@dataclass(frozen=True)
class Pause:
    """A program stop (M0/M1) waiting for the operator; ``message`` is that line's comment."""

    message: str
    line_no: int


@dataclass(frozen=True)
class ProgramEnd:
    """The end of the program (M2/M30)."""

    line_no: int


Event = Move | Dwell | PenChange | Pause | ProgramEnd


@dataclass
class ModalState:
    """GRBL's modal state as far as a pen plotter needs it, with positions and feed in mm."""

    x_mm: float = 0.0
    y_mm: float = 0.0
    z_mm: float = 0.0
    motion: str = "G0"  # current modal motion mode: "G0" | "G1" | "G2" | "G3"
    absolute: bool = True  # G90 / G91
    mm_per_unit: float = 1.0  # G21 -> 1.0, G20 -> 25.4
    feed_mm_min: float | None = None
    spindle_s: float = 0.0
    spindle_on: bool = False
    servo_angle: float | None = None  # Marlin M280, for the flavour's servo
    pen_line_down: bool = False  # the last custom pen line seen was a pen-down line
    pen_down: bool = False  # as the flavour senses it, updated after each block
    offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # G92: machine position - program coordinates


@dataclass(frozen=True)
class Flavour:
    """What a program is written for: the firmware ("grbl" or "marlin") and how the pen goes down.

    ``pen_sense``: "spindle" (M3 with S > 0 is down, M5 or S0 up), "z" (down while Z < ``z_down_below_mm``),
    "servo" (M280 on ``servo_index``, down at angles nearer ``servo_down_angle`` than ``servo_up_angle``),
    or "lines" (a line whose code is in ``down_codes`` puts the pen down, one in ``up_codes`` lifts it).
    """

    firmware: str = "grbl"
    pen_sense: str = "spindle"
    z_down_below_mm: float = 0.0
    servo_index: int = 0
    servo_up_angle: float = 0.0
    servo_down_angle: float = 0.0
    down_codes: frozenset[str] = frozenset()
    up_codes: frozenset[str] = frozenset()

    def pen_down(self, state: ModalState) -> bool:
        """Whether the pen touches the paper in ``state``."""
        if self.pen_sense == "spindle":
            return state.spindle_on and state.spindle_s > 0
        if self.pen_sense == "z":
            return state.z_mm < self.z_down_below_mm
        if self.pen_sense == "servo":
            angle = state.servo_angle
            return angle is not None and abs(angle - self.servo_down_angle) < abs(angle - self.servo_up_angle)
        return state.pen_line_down


GRBL_SERVO = Flavour()


def strip_comment(line: str) -> tuple[str, str]:
    """Split a line into its code (upper case, whitespace removed as GRBL does) and its comment text."""
    code: list[str] = []
    comments: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "(":
            end = line.find(")", i + 1)
            end = n if end < 0 else end
            comments.append(line[i + 1 : end].strip())
            i = end + 1
        elif c == ";":
            comments.append(line[i + 1 :].strip())
            break
        else:
            if not c.isspace():
                code.append(c)
            i += 1
    return "".join(code).upper(), " ".join(c for c in comments if c)


def parse_words(code: str, line_no: int = 0) -> list[tuple[str, float]]:
    """Split comment-free code into words: ``G1X10.5`` -> [("G", 1.0), ("X", 10.5)]."""
    words: list[tuple[str, float]] = []
    i, n = 0, len(code)
    while i < n:
        letter = code[i].upper()
        if not ("A" <= letter <= "Z"):
            message = f"expected command letter, got {letter!r}"
            raise GcodeError(message, EXPECTED_COMMAND_LETTER, line_no)
        match = _NUMBER.match(code, i + 1)
        if match is None:
            raise GcodeError(f"bad number format after {letter!r}", BAD_NUMBER_FORMAT, line_no)
        words.append((letter, float(match.group())))
        i = match.end()
    return words


@dataclass
class _Block:
    """The words of one line: one command per modal group (``{"units": "G20"}``) and the value words."""

    commands: dict[str, str] = dataclasses.field(default_factory=dict)
    values: dict[str, float] = dataclasses.field(default_factory=dict)


def _sort_words(words: list[tuple[str, float]], firmware: str, line_no: int) -> _Block:
    """Sort words into commands and values, rejecting unknown, repeated or conflicting ones."""
    block = _Block()
    for letter, value in words:
        if letter in ("G", "M"):
            command = f"{letter}{value:g}"
            group = _MODAL_GROUPS.get(command)
            if group is None or (firmware == "grbl" and command in _MARLIN_ONLY):
                raise GcodeError(f"unsupported command {command}", UNSUPPORTED_COMMAND, line_no)
            if group in block.commands:
                code = AXIS_COMMAND_CONFLICT if group == "motion" else MODAL_GROUP_VIOLATION
                raise GcodeError(f"{block.commands[group]} and {command} in one block", code, line_no)
            block.commands[group] = command
        elif letter in _GRBL_IGNORED_LETTERS and firmware == "grbl":
            continue
        elif letter in _VALUE_LETTERS:
            if letter in block.values:
                raise GcodeError(f"word {letter} repeated", WORD_REPEATED, line_no)
            if letter in "FSP" and value < 0:
                raise GcodeError(f"{letter} must not be negative", NEGATIVE_VALUE, line_no)
            block.values[letter] = value
        else:
            raise GcodeError(f"unsupported word {letter}", UNSUPPORTED_COMMAND, line_no)
    return block


class GcodeInterpreter:
    """Executes G-code one line at a time, keeping modal state.

    The simulator and the statistics share it, so both see the program the same way.
    """

    def __init__(self, state: ModalState | None = None, flavour: Flavour = GRBL_SERVO) -> None:
        self.state = state if state is not None else ModalState()
        self.flavour = flavour

    def execute(self, line: str, line_no: int = 0) -> list[Event]:
        """Run one line and return what it made the machine do; on GcodeError the state is unchanged."""
        if self.flavour.firmware == "marlin":
            text = _MARLIN_TEXT_COMMAND.match(line.split(";", 1)[0])
            if text:  # Marlin's M0/M1/M117/M118 take the rest of the line as their message
                pause = text.group(1) in ("0", "1")
                return [Pause(text.group(2).strip(), line_no)] if pause else []
        code, comment = strip_comment(line)
        if not code or (code.startswith("$") and self.flavour.firmware == "grbl"):
            return []  # GRBL's system lines are not G-code: gcode.check decides whether they may be sent
        block = _sort_words(parse_words(code, line_no), self.flavour.firmware, line_no)
        new = dataclasses.replace(self.state)
        if self.flavour.pen_sense == "lines":
            if code in self.flavour.down_codes:
                new.pen_line_down = True
            elif code in self.flavour.up_codes:
                new.pen_line_down = False
        events = _run_block(block, new, comment, self.flavour, line_no)
        self.state = new
        return events


def read_program(lines: Iterable[str], flavour: Flavour = GRBL_SERVO) -> list[Event]:
    """Interpret a whole program from the power-on state; line numbers are 1-based positions."""
    interpreter = GcodeInterpreter(flavour=flavour)
    events: list[Event] = []
    for line_no, line in enumerate(lines, start=1):
        events.extend(interpreter.execute(line, line_no))
    return events


def _run_block(block: _Block, state: ModalState, comment: str, flavour: Flavour, line_no: int) -> list[Event]:
    """Apply one block to ``state`` in GRBL's order of execution and return its events.

    A pen change by spindle, servo or pen line happens before the block's motion; by Z, after it.
    """
    commands, values = block.commands, block.values
    events: list[Event] = []
    was_down = state.pen_down

    if "units" in commands:
        state.mm_per_unit = 25.4 if commands["units"] == "G20" else 1.0
    if "distance" in commands:
        state.absolute = commands["distance"] == "G90"
    if "F" in values:
        state.feed_mm_min = values["F"] * state.mm_per_unit

    if "servo" in commands:
        if "S" not in values:
            raise GcodeError("M280 needs an S word (angle)", VALUE_WORD_MISSING, line_no)
        if int(values.get("P", 0)) == flavour.servo_index:
            state.servo_angle = values["S"]
    else:
        if "S" in values:
            state.spindle_s = values["S"]
        if "spindle" in commands:
            state.spindle_on = commands["spindle"] != "M5"
    if flavour.pen_sense != "z":
        state.pen_down = flavour.pen_down(state)
        if state.pen_down != was_down:
            events.append(PenChange(state.pen_down, line_no))

    if "dwell" in commands:
        events.append(Dwell(_dwell_seconds(values, flavour.firmware, line_no), line_no))
    elif "P" in values and "servo" not in commands:
        raise GcodeError("P word without G4", UNUSED_WORDS, line_no)

    state.motion = commands.get("motion", state.motion)
    has_axes = any(axis in values for axis in "XYZ")
    non_modal = commands.get("non-modal")
    if non_modal is not None and "motion" in commands and has_axes:
        raise GcodeError(f"{non_modal} and {commands['motion']} both take the axis words", AXIS_COMMAND_CONFLICT, line_no)
    if ("I" in values or "J" in values) and not (has_axes and state.motion in ("G2", "G3") and non_modal is None):
        raise GcodeError("I/J offsets without an arc move", UNUSED_WORDS, line_no)
    if non_modal is not None:
        events.extend(_non_modal(non_modal, state, values, line_no))
    elif has_axes:
        events.extend(_motion(state, values, line_no))
    if flavour.pen_sense == "z" and "Z" in values:  # the height is unknown until a Z word sets it
        state.pen_down = flavour.pen_down(state)
        if state.pen_down != was_down:
            events.append(PenChange(state.pen_down, line_no))

    stop = commands.get("stop")
    if stop in ("M0", "M1"):
        events.append(Pause(comment, line_no))
    elif stop in ("M2", "M30"):
        state.motion, state.absolute, state.spindle_on = "G1", True, False  # GRBL's program-end reset
        if flavour.pen_sense == "spindle" and state.pen_down:
            state.pen_down = False
            events.append(PenChange(False, line_no))
        events.append(ProgramEnd(line_no))
    return events


def _dwell_seconds(values: dict[str, float], firmware: str, line_no: int) -> float:
    """G4's pause: ``P`` seconds on GRBL; ``P`` milliseconds or ``S`` seconds on Marlin."""
    if firmware == "marlin" and "S" in values:
        return values["S"]
    if "P" not in values:
        raise GcodeError("G4 needs a P word", VALUE_WORD_MISSING, line_no)
    return values["P"] / 1000.0 if firmware == "marlin" else values["P"]


def _non_modal(command: str, state: ModalState, values: dict[str, float], line_no: int) -> list[Move]:
    """G92 (new coordinates for the current position), G92.1 (clear them) or G28 (rapid to the origin)."""
    position = (state.x_mm, state.y_mm, state.z_mm)
    if command == "G92":
        if not any(axis in values for axis in "XYZ"):
            raise GcodeError("G92 without an axis word", NO_AXIS_WORDS, line_no)
        state.offset_mm = tuple(  # type: ignore[assignment]
            here - values[axis] * state.mm_per_unit if axis in values else offset
            for axis, here, offset in zip("XYZ", position, state.offset_mm)
        )
        return []
    if command == "G92.1":
        state.offset_mm = (0.0, 0.0, 0.0)
        return []
    if any(axis in values for axis in "XYZ"):
        message = "G28 with axis words (an intermediate point) is not supported: move there first, then G28"
        raise GcodeError(message, UNSUPPORTED_COMMAND, line_no)
    start = (state.x_mm, state.y_mm)
    state.x_mm, state.y_mm = 0.0, 0.0
    return [Move(start, (0.0, 0.0), state.pen_down, True, None, line_no)]


def _target(state: ModalState, values: dict[str, float]) -> tuple[float, float, float]:
    """The block's end point in absolute machine mm, honouring G20/G21, G90/G91 and a G92 offset."""
    current = {"X": state.x_mm, "Y": state.y_mm, "Z": state.z_mm}
    for axis, offset in zip("XYZ", state.offset_mm):
        if axis in values:
            delta = values[axis] * state.mm_per_unit
            current[axis] = delta + offset if state.absolute else current[axis] + delta
    return current["X"], current["Y"], current["Z"]


def _motion(state: ModalState, values: dict[str, float], line_no: int) -> list[Move]:
    """Execute the modal motion with this block's axis words, moving ``state`` to the target."""
    rapid = state.motion == "G0"
    if not rapid and not state.feed_mm_min:
        message = f"{state.motion} before any feed rate (F) was set"
        raise GcodeError(message, UNDEFINED_FEED_RATE, line_no)
    start = (state.x_mm, state.y_mm)
    x, y, z = _target(state, values)
    feed = None if rapid else state.feed_mm_min
    if state.motion in ("G0", "G1"):
        points = [start, (x, y)]
    else:
        points = arc_points(state, values, (x, y), line_no)
    dz_mm = z - state.z_mm
    state.x_mm, state.y_mm, state.z_mm = x, y, z
    pen_down = state.pen_down
    moves = [Move(a, b, pen_down, rapid, feed, line_no) for a, b in zip(points, points[1:])]
    if dz_mm:
        moves[-1] = dataclasses.replace(moves[-1], dz_mm=dz_mm)
    return moves


def arc_points(
    state: ModalState, values: dict[str, float], end: tuple[float, float], line_no: int
) -> list[tuple[float, float]]:
    """Points along a G2/G3 arc (I/J centre offsets); no chord strays more than ARC_TOLERANCE_MM."""
    if "X" not in values and "Y" not in values:
        raise GcodeError("arc without an X or Y word", NO_AXIS_WORDS_IN_PLANE, line_no)
    if "I" not in values and "J" not in values:
        raise GcodeError("arc without an I or J centre offset", NO_OFFSETS_IN_PLANE, line_no)
    x0, y0 = state.x_mm, state.y_mm
    cx = x0 + values.get("I", 0.0) * state.mm_per_unit
    cy = y0 + values.get("J", 0.0) * state.mm_per_unit
    radius = math.hypot(x0 - cx, y0 - cy)
    delta_r = abs(math.hypot(end[0] - cx, end[1] - cy) - radius)
    if radius == 0.0 or (delta_r > 0.005 and (delta_r > 0.5 or delta_r > 0.001 * radius)):
        raise GcodeError("arc end point is not on the circle around its centre", INVALID_TARGET, line_no)

    sx, sy = x0 - cx, y0 - cy  # centre -> start
    ex, ey = end[0] - cx, end[1] - cy  # centre -> end
    sweep = math.atan2(sx * ey - sy * ex, sx * ex + sy * ey)
    if state.motion == "G2" and sweep >= -_ARC_ANGLE_EPSILON:
        sweep -= 2 * math.pi
    elif state.motion == "G3" and sweep <= _ARC_ANGLE_EPSILON:
        sweep += 2 * math.pi

    max_step = math.pi if radius <= ARC_TOLERANCE_MM else 2 * math.acos(1 - ARC_TOLERANCE_MM / radius)
    count = max(1, math.ceil(abs(sweep) / max_step))
    a0 = math.atan2(sy, sx)
    points = [(x0, y0)]
    for k in range(1, count):
        angle = a0 + sweep * k / count
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    points.append(end)
    return points
