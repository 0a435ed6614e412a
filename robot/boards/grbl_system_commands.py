"""GRBL 1.1h's ``$`` commands on the simulated board, each with GRBL's text, errors and state rules:
``$`` (help), ``$$``, ``$x=value``, ``$#``, ``$G``, ``$I`` and ``$I=``, ``$N``, ``$Nx=line``, ``$C``, ``$X``,
``$H``, ``$J=``, ``$SLP``, ``$RST=$|#|*``."""

from __future__ import annotations

import re

from gcode.reader import GcodeError, parse_words
from robot.boards.board import Step
from robot.boards.grbl_eeprom import BYTE_SETTINGS, FLAG_SETTINGS, STARTUP_LINES, setting_text
from robot.boards.grbl_replies import (
    BUILD_OPTIONS,
    GRBL_BUILD,
    GRBL_VERSION,
    HELP,
    MSG_DISABLED,
    MSG_ENABLED,
    MSG_RESTORING,
    MSG_SLEEPING,
    MSG_UNLOCKED,
    OK,
    error_reply,
    float32,
    grbl_number,
    status_reply,
)
from robot.boards.planner import Segment
from robot.firmware.grbl_codes import (
    ALARM_HOMING_FAIL_APPROACH,
    ERROR_BAD_NUMBER_FORMAT,
    ERROR_IDLE_ERROR,
    ERROR_INVALID_JOG_COMMAND,
    ERROR_INVALID_STATEMENT,
    ERROR_NEGATIVE_VALUE,
    ERROR_SETTING_DISABLED,
    ERROR_SOFT_LIMIT_ERROR,
    ERROR_STEP_PULSE_MIN,
    ERROR_TRAVEL_EXCEEDED,
    ERROR_UNDEFINED_FEED_RATE,
    ERROR_UNUSED_WORDS,
    ERROR_WORD_REPEATED,
)

HOMING_SEARCH_SCALE = 1.5  # HOMING_AXIS_SEARCH_SCALAR: how far past the travel a homing cycle seeks
_JOG_COMMANDS = frozenset({20.0, 21.0, 53.0, 90.0, 91.0})  # the G words a jog may carry
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")  # what GRBL's read_float reads


class GrblSystemCommands:
    """The ``$`` commands of :class:`~robot.boards.grbl_board.GrblSimulator`, mixed into it: they act on the board."""

    def _system_command(self, line: str, number: int) -> None:
        """system_execute_line: a ``$`` line, answered as GRBL 1.1h answers it."""
        kind = line[1:2]
        if kind == "":
            self._answer(HELP + OK, number)
        elif kind == "J":
            self._jog(line, number)
        elif kind in ("$", "G", "C", "X") and len(line) > 2:
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)
        elif kind == "$":
            busy = self.state in ("Run", "Hold")  # printing the settings takes too long during a cycle
            self._answer(error_reply(ERROR_IDLE_ERROR) if busy else self._settings_report() + OK, number)
        elif kind == "G":
            self._answer(self._parser_state() + OK, number)
        elif kind == "C":
            self._toggle_check_mode(number)
        elif kind == "X":
            unlock = self._alarm
            self._alarm = False
            self._answer(MSG_UNLOCKED + OK if unlock else OK, number)
        elif self.state not in ("Idle", "Alarm"):
            self._answer(error_reply(ERROR_IDLE_ERROR), number)
        elif kind == "#":
            self._answer(error_reply(ERROR_INVALID_STATEMENT) if len(line) > 2 else self._parameters() + OK, number)
        elif kind == "H":
            self._home(line, number)
        elif kind == "S":
            self._sleep(line, number)
        elif kind == "I":
            self._build_info(line, number)
        elif kind == "R":
            self._restore(line, number)
        elif kind == "N" and len(line) > 2:
            self._store_startup_line(line, number)
        elif kind == "N":
            listing = "".join(f"$N{n}={text}\r\n" for n, text in enumerate(self.eeprom.startup_lines))
            self._answer(listing.encode("ascii") + OK, number)
        else:
            self._answer(status_reply(self._store_setting(line)), number)

    def _settings_report(self) -> bytes:
        """``$$``: every setting, in GRBL's order and number formats."""
        return "".join(f"${n}={setting_text(n, v)}\r\n" for n, v in sorted(self.eeprom.settings.items())).encode()

    def _parser_state(self) -> bytes:
        """``$G``: the parser's modes as report_gcode_modes prints them."""
        s = self._interpreter.state
        spindle = ("M4" if self._ccw else "M3") if s.spindle_on else "M5"
        modes = [s.motion, "G54", "G17", "G21" if s.mm_per_unit == 1.0 else "G20", "G90" if s.absolute else "G91"]
        rest = ["G94", spindle, "M9", f"T{self._tool}", f"F{self._rate(s.feed_mm_min or 0.0)}"]
        return f"[GC:{' '.join(modes + rest)} S{grbl_number(s.spindle_s, 0)}]\r\n".encode("ascii")

    def _parameters(self) -> bytes:
        """``$#``: the coordinate systems, G28, G30 (all zero here), the G92 offset, TLO and the last probe."""
        zero = self._coords((0.0, 0.0, 0.0))
        lines = [f"[G{n}:{zero}]" for n in (54, 55, 56, 57, 58, 59, 28, 30)]
        lines += [f"[G92:{self._coords(self._interpreter.state.offset_mm)}]", f"[TLO:{self._coords((0.0,))}]"]
        lines.append(f"[PRB:{zero}:0]")
        return "".join(line + "\r\n" for line in lines).encode("ascii")

    def _toggle_check_mode(self, number: int) -> None:
        """``$C``: check mode on from Idle; off again with a soft reset (so the parser starts afresh)."""
        if self._check:
            self._emit(MSG_DISABLED + OK)
            self._soft_reset()
        elif self.state != "Idle":
            self._answer(error_reply(ERROR_IDLE_ERROR), number)
        else:
            self._check = True
            self._answer(MSG_ENABLED + OK, number)

    def _home(self, line: str, number: int) -> None:
        """``$H``: travel to the machine origin at the homing seek rate ($25), then Idle and the startup lines.

        ``$H`` with more after it is error:3, and leaves the board in Home as GRBL 1.1h does (it sets the
        homing state before it reads the rest): lines are still taken and queued, nothing moves, commands
        that need Idle answer error:8, and only a reset (ALARM:6) ends it.
        """
        if not self._setting(22):
            self._answer(error_reply(ERROR_SETTING_DISABLED), number)
            return
        if len(line) > 2:  # no HOMING_SINGLE_AXIS_COMMANDS; GRBL has already entered the homing state
            self._alarm, self._homing, self._held = False, True, True  # stuck: lines queue, nothing moves
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)
            return
        self._alarm, self._homing = False, True
        if self.settings.limit_switches:
            target, done, answer = (0.0, 0.0, 0.0), self._homed, OK
        else:  # the Z cycle seeks its whole search distance up and gives up
            target, done, answer = (*self.position[:2], HOMING_SEARCH_SCALE * self._setting(132)), self._unhomed, b""
        steps: list[Step] = []
        if self.position != target:
            seek_mm_s, accel = self._setting(25) / 60.0, self._motion().acceleration_mm_s2
            steps.append(Segment.move(self.position, target, seek_mm_s, accel, self._pen_down))
        self._start_steps(number, line, answer, [*steps, done], logged=False)

    def _homed(self) -> None:
        self._homing = False
        self._sync_parser()
        self._run_startup_lines()

    def _unhomed(self) -> None:
        """No switch found: ALARM:9 and mc_reset, the ``$H`` line returns ok, then GRBL starts again in Alarm."""
        self._homing, self._alarm = False, True
        self._emit(b"ALARM:%d\r\n" % ALARM_HOMING_FAIL_APPROACH + OK)
        self._soft_reset()

    def _sleep(self, line: str, number: int) -> None:
        """``$SLP``: answered, then spindle off and asleep (``[MSG:Sleeping]``) until a reset, which alarms."""
        if line != "$SLP":
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)
            return
        self._sleeping, self._pen_down = True, False
        self._set_spindle(False, False, 0.0)
        self._answer(OK + MSG_SLEEPING, number)

    def _build_info(self, line: str, number: int) -> None:
        """``$I`` prints the version, the build info and the build options; ``$I=text`` stores the build info."""
        if line == "$I":
            blocks, rx = self.settings.planner_blocks, self.settings.rx_buffer_bytes + 1
            version = f"[VER:{GRBL_VERSION}.{GRBL_BUILD}:{self.eeprom.build_info}]\r\n"
            self._answer(f"{version}[OPT:{BUILD_OPTIONS},{blocks},{rx}]\r\n".encode("ascii") + OK, number)
        elif line[2] == "=":
            self.eeprom.build_info = line[3:]
            self._answer(OK, number)
        else:
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)

    def _restore(self, line: str, number: int) -> None:
        """``$RST=$`` (settings), ``$RST=#`` (coordinates), ``$RST=*`` (everything): restored, then a reset."""
        if len(line) != 6 or not line.startswith("$RST=") or line[5] not in "$#*":
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)
            return
        if line[5] in "$*":
            self.eeprom.settings = dict(self._factory.settings)
        if line[5] == "*":
            self.eeprom.startup_lines, self.eeprom.build_info = [""] * STARTUP_LINES, ""
        self._emit(MSG_RESTORING + OK)
        self._soft_reset()

    def _store_startup_line(self, line: str, number: int) -> None:
        """``$Nx=line``: the line is executed (it must be valid G-code), then stored as startup line x."""
        read = read_number(line, 2)
        if self.state != "Idle":
            self._answer(error_reply(ERROR_IDLE_ERROR), number)
        elif read is None:
            self._answer(error_reply(ERROR_BAD_NUMBER_FORMAT), number)
        elif line[read[1] : read[1] + 1] != "=":
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)
        else:
            index, text = int(read[0]), line[read[1] + 1 :]
            if self._execute(text, line, number, logged=False) and 0 <= index < STARTUP_LINES:
                self.eeprom.startup_lines[index] = text

    def _store_setting(self, line: str) -> int:
        """``$n=value`` as system_execute_line reads it; returns GRBL's status code (0 for ok)."""
        parameter = read_number(line, 1)
        if parameter is None:
            return ERROR_BAD_NUMBER_FORMAT
        number, i = parameter
        if line[i : i + 1] != "=":
            return ERROR_INVALID_STATEMENT
        value = read_number(line, i + 1)
        if value is None:
            return ERROR_BAD_NUMBER_FORMAT
        if value[1] != len(line) or number > 255:
            return ERROR_INVALID_STATEMENT
        return self._write_setting(int(number), value[0])

    def _write_setting(self, number: int, value: float) -> int:
        """settings_store_global_setting: validate and store one setting; returns GRBL's status code."""
        settings = self.eeprom.settings
        if value < 0:
            return ERROR_NEGATIVE_VALUE
        if number not in settings:
            return ERROR_INVALID_STATEMENT
        whole = int(value) & 0xFF  # GRBL keeps the integer settings in a byte
        if number == 0 and whole < 3:
            return ERROR_STEP_PULSE_MIN
        if number == 20 and whole and not settings[22]:
            return ERROR_SOFT_LIMIT_ERROR
        if number in FLAG_SETTINGS:
            settings[number] = float(bool(whole))
        else:
            settings[number] = float(whole) if number in BYTE_SETTINGS else float32(value)
        if number == 22 and not whole:
            settings[20] = 0.0  # homing off forces soft limits off
        if number == 13:
            self._wco_counter = 0
        return 0

    def _jog(self, line: str, number: int) -> None:
        """``$J=``: a G1 move in the jog's own units and distance mode (G53: machine coordinates), queued at once."""
        if self.state not in ("Idle", "Jog"):
            self._answer(error_reply(ERROR_IDLE_ERROR), number)
        elif line[2:3] != "=":
            self._answer(error_reply(ERROR_INVALID_STATEMENT), number)
        else:
            try:
                target, feed_mm_min = self._jog_target(parse_words(line[3:]))
            except GcodeError as exc:
                self._answer(error_reply(exc.grbl_code), number)
                return
            if self._setting(20) and not self._inside(target):
                self._answer(error_reply(ERROR_TRAVEL_EXCEEDED), number)
                return
            self._jogging = True
            state = self._interpreter.state
            start = (state.x_mm, state.y_mm, state.z_mm)
            state.x_mm, state.y_mm, state.z_mm = target
            accel = self._motion().acceleration_mm_s2
            move = [Segment.move(start, target, feed_mm_min / 60.0, accel, self._pen_down)] if target != start else []
            self._start_steps(number, line, OK, move, logged=False)

    def _jog_target(self, words: list[tuple[str, float]]) -> tuple[tuple[float, float, float], float]:
        """The machine target and feed of a jog's words; raises GcodeError with GRBL's jog errors."""
        state = self._interpreter.state
        commands = [value for letter, value in words if letter in "GM"]
        if any(letter == "M" for letter, _ in words) or not set(commands) <= _JOG_COMMANDS:
            raise GcodeError("a jog takes only G20, G21, G53, G90 and G91", ERROR_INVALID_JOG_COMMAND)
        values = {letter: value for letter, value in words if letter not in "GM"}
        if len(values) != len([w for w in words if w[0] not in "GM"]):
            raise GcodeError("a word repeated", ERROR_WORD_REPEATED)
        if set(values) - set("XYZFN"):
            raise GcodeError("a jog takes only X, Y, Z, F and N words", ERROR_UNUSED_WORDS)
        if "F" not in values:
            raise GcodeError("a jog needs F", ERROR_UNDEFINED_FEED_RATE)
        unit = 25.4 if 20.0 in commands else 1.0 if 21.0 in commands else state.mm_per_unit
        absolute = 90.0 in commands or (91.0 not in commands and state.absolute)
        offset = (0.0, 0.0, 0.0) if 53.0 in commands else state.offset_mm
        here = (state.x_mm, state.y_mm, state.z_mm)
        target = tuple(
            (values[axis] * unit + (off if absolute else at)) if axis in values else at
            for axis, at, off in zip("XYZ", here, offset)
        )
        return target, values["F"] * unit  # type: ignore[return-value]


def read_number(text: str, start: int) -> tuple[float, int] | None:
    """read_float: the number at ``start`` and the index after it, or None when there is no number."""
    found = _NUMBER.match(text, start)
    return None if found is None else (float(found.group()), found.end())
