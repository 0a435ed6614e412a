"""A virtual GRBL 1.1h pen plotter: bytes in, bytes out, no threads and no I/O.

The model answers as GRBL 1.1h (build 20190825, config.h as shipped) answers, wherever a host can tell, on
the board model of :mod:`robot.boards.board` (receive buffer, main loop, planner in time, faults):

* Bytes from the host land in a receive buffer of ``rx_buffer_bytes`` (127 on an Arduino); what does not
  fit is lost. Realtime commands (``?``, ``!``, ``~``, ctrl-x) never enter the buffer: they act at once,
  wherever they appear, even in the middle of a line. Other bytes above 0x7F (overrides, jog cancel) are
  taken off the stream too; of them only jog cancel (0x85) is modelled.
* The main loop filters lines exactly as ``protocol_main_loop`` does: whitespace, control characters,
  ``/`` and comments are thrown away, letters upper-cased; more than ``line_buffer_bytes - 1`` characters
  left is ``error:11``. Each line is answered ``ok`` or ``error:N``. A motion line is answered once its last
  block is queued; spindle (pen) changes, G92, dwells, program pauses and ends first wait for the planner
  to empty. ``M0`` holds (``Hold:0``) and is answered only after cycle start; ``M1`` is ignored, as in GRBL.
* ``$`` commands: ``$`` (help), ``$$``, ``$x=value``, ``$#``, ``$G``, ``$I`` and ``$I=``, ``$N``,
  ``$Nx=line`` (startup lines, run after every reset as ``>line:ok``), ``$C``, ``$X``, ``$H``, ``$J=``,
  ``$SLP``, ``$RST=$|#|*``, each with GRBL's text, errors and state rules (:mod:`robot.boards.grbl_system_commands`).
  Settings live in a :class:`~robot.boards.grbl_eeprom.GrblEeprom` that survives soft resets and, if handed
  on, power cycles.
* States: Idle, Run, Hold, Jog, Home, Check, Alarm, Sleep. With homing (``$22``) on the board powers up
  in Alarm (``[MSG:'$H'|'$X' to unlock]``) and takes no G-code (``error:9``) until ``$H`` or ``$X``.
  A move outside the work area with soft limits (``$20``) on raises ALARM:2, after which GRBL ignores
  everything, status requests included, until ctrl-x; the line that hit the limit is then answered ``ok``.
  A reset in motion raises ALARM:3 (ALARM:6 while homing); a line in progress at a reset is answered.
  ``$H`` travels to the machine origin; on a machine without limit switches (``limit_switches=False``)
  it seeks up Z for 1.5 x ``$132`` and fails with ALARM:9, as GRBL does.
* Status reports as with ``$10=1``: ``<State|MPos:x,y,z|FS:feed,rpm>``, plus ``WCO`` and ``Ov`` (with
  ``A:S``/``A:C`` while the spindle turns) on GRBL's refresh schedule; positions are whole motor steps.
  (:mod:`robot.boards.grbl_status_report`; what the board prints is in :mod:`robot.boards.grbl_replies`.)

Deliberate differences: the machine frame is the plotter's, [0, $130] x [0, $131] with the origin where
``$H`` ends (GRBL puts its machine space in negative coordinates); soft limits check X and Y only; a feed
hold stops dead, so a hold is ``Hold:0`` at once; override commands change nothing; coordinate systems,
G10, G28.1/G30.1, probing and coolant are what :mod:`gcode.reader` refuses, so G54-G59, G28, G30 and PRB
stay zero in ``$#``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

from calibration import MachineProfile, Motion
from gcode.reader import Event, GcodeError, GcodeInterpreter, ModalState, Move, Pause, ProgramEnd, parse_words
from robot.boards.board import SYNC, BoardSimulator, SimSettings, Step
from robot.boards.faults import Faults
from robot.boards.grbl_eeprom import STARTUP_LINES, GrblEeprom
from robot.boards.grbl_replies import GRBL_BANNER, MSG_LOCKED, MSG_PROGRAM_END, MSG_RESET_TO_CONTINUE, OK, error_reply
from robot.boards.grbl_status_report import GrblStatusReport
from robot.boards.grbl_system_commands import GrblSystemCommands
from robot.firmware.grbl_codes import (
    ALARM_ABORT_CYCLE,
    ALARM_HARD_LIMIT,
    ALARM_HOMING_FAIL_RESET,
    ALARM_SOFT_LIMIT,
    ERROR_MAX_VALUE_EXCEEDED,
    ERROR_NEGATIVE_VALUE,
    ERROR_OVERFLOW,
    ERROR_SETTING_READ_FAIL,
    ERROR_SYSTEM_GC_LOCK,
    ERROR_WORD_REPEATED,
)

STATUS_QUERY = 0x3F  # ?
FEED_HOLD = 0x21  # !
CYCLE_START = 0x7E  # ~
SOFT_RESET = 0x18  # ctrl-x
JOG_CANCEL = 0x85
REALTIME_BYTES = frozenset({STATUS_QUERY, FEED_HOLD, CYCLE_START, SOFT_RESET})
_SOFT_LIMIT_SLACK_MM = 1e-6  # absorbs the rounding of inch -> mm conversions at the very edge


class GrblSimulator(GrblSystemCommands, GrblStatusReport, BoardSimulator):
    """A virtual GRBL 1.1h pen plotter: bytes in, bytes out; executes lines through gcode.reader.

    What it drew, executed and received is kept as :class:`~robot.boards.board.BoardSimulator` says;
    ``executed_lines`` holds no ``$`` commands and nothing of check mode. ``checked_lines``: the G-code lines
    that check mode (``$C``) parsed and answered ``ok``, as sent; in check mode nothing moves, the pen stays
    where it is, nothing is drawn, dwells and ``M0`` do not wait, but soft limits still raise ALARM:2.
    ``state``: "Idle" | "Run" | "Hold" | "Jog" | "Home" | "Check" | "Alarm" | "Sleep" as of the last call
    (the status report says "Hold:0"). ``eeprom`` is the board's :class:`GrblEeprom`: a new one from the
    profile and settings, or the one passed in (a power cycle that keeps the EEPROM).

    The ``$`` commands that need the machine at rest (``$#``, ``$H``, ``$I``, ``$N``, ``$SLP``, ``$RST``,
    ``$x=value``) answer ``error:8`` unless the state is Idle or Alarm; ``$Nx=`` needs Idle, ``$$`` anything
    but Run and Hold, ``$C`` Idle (or Check, to leave it: GRBL then resets), ``$J=`` Idle or Jog.
    ``$x=value`` stores every GRBL setting; ``$20``, ``$22``, ``$10``, ``$13``, ``$25``, ``$30``, ``$31``,
    ``$100``-``$102``, ``$110``/``$111``, ``$120``/``$121`` and ``$130``/``$131`` act on the model
    (soft limits, homing, reports, homing speed, spindle range, steps, travel feed, acceleration, work area).
    """

    def __init__(
        self,
        profile: MachineProfile,
        settings: SimSettings = SimSettings(),
        faults: Faults = Faults(),
        clock: Callable[[], float] = time.monotonic,
        eeprom: GrblEeprom | None = None,
    ) -> None:
        self._factory = GrblEeprom.factory(profile, settings)
        self.eeprom = eeprom if eeprom is not None else self._factory.copy()
        super().__init__(profile, settings, faults, clock)

    def _power_up(self) -> None:
        restored = self._read_eeprom()
        self.checked_lines: list[str] = []
        self._line = bytearray()  # the line being assembled, already stripped the way GRBL strips it
        self._raw = bytearray()  # the same line as the host sent it, for executed_lines
        self._comment: str | None = None  # None outside a comment, "(" or ";" inside one
        self._overflow = False
        self._alarm = bool(self._setting(22))  # HOMING_INIT_LOCK: with homing on the position is unknown
        self._critical = False  # after a soft-limit alarm GRBL ignores everything but reset
        self._soft_limit_line = 0  # the line that hit the soft limit: GRBL answers it when reset
        self._check = False
        self._homing = False
        self._jogging = False
        self._sleeping = False
        self._reset_parser()
        self._boot = restored + GRBL_BANNER + (MSG_LOCKED if self._alarm else b"")
        if not self._alarm:
            self._queue_startup_lines()

    def _read_eeprom(self) -> bytes:
        """settings_init: a blank EEPROM is answered error:7, written with the defaults, and they are printed."""
        if self.eeprom.settings:
            return b""
        self.eeprom.settings = dict(self._factory.settings)
        self.eeprom.startup_lines, self.eeprom.build_info = [""] * STARTUP_LINES, ""
        return error_reply(ERROR_SETTING_READ_FAIL) + self._settings_report()

    def banner(self) -> bytes:
        """What GRBL printed at power-up: its welcome line, and the unlock hint when it starts in Alarm."""
        return self._boot

    @property
    def state(self) -> str:
        """"Idle" | "Run" | "Hold" | "Jog" | "Home" | "Check" | "Alarm" | "Sleep" as of the last call."""
        if self._sleeping:
            return "Sleep"
        if self._alarm:
            return "Alarm"
        if self._homing:
            return "Home"
        if self._check:
            return "Check"
        if self._jogging and self._planner.moving and not self._held:
            return "Jog"
        return super().state

    def _stalled(self) -> bool:
        """The main loop waits: a soft-limit lock, sleep, a hold (not the frozen planner of a stuck homing)."""
        return self._critical or self._sleeping or (self._held and not self._homing)

    def _setting(self, number: int) -> float:
        return self.eeprom.settings[number]

    def _motion(self) -> Motion:
        """The travel feed and acceleration of $110/$111 and $120/$121 (the slower axis), where positive."""
        s, motion = self.eeprom.settings, self.profile.motion
        travel, accel = min(s[110], s[111]), min(s[120], s[121])
        return dataclasses.replace(
            motion,
            travel_feed_mm_min=travel if travel > 0 else motion.travel_feed_mm_min,
            acceleration_mm_s2=accel if accel > 0 else motion.acceleration_mm_s2,
        )

    def _receive_byte(self, byte: int, now: float) -> None:
        if byte in REALTIME_BYTES:
            self._realtime(byte, now)
        elif byte == JOG_CANCEL:
            self._cancel_jog()
        elif byte < 0x80:  # GRBL 1.1's other extended realtime commands (overrides) change nothing here
            self._buffer_byte(byte, now)

    # -------------------------------------------------------------------------------------- realtime

    def _realtime(self, byte: int, now: float) -> None:
        if byte == STATUS_QUERY:
            if not self._critical:  # the soft-limit lock loop of protocol_exec_rt_system reports nothing
                self._emit(self.status_report())
        elif byte == FEED_HOLD:
            if self.state == "Jog":
                self._cancel_jog()
            elif self.state in ("Idle", "Run"):
                self._held = True  # motion stops dead (GRBL decelerates first) and resumes where it stopped
        elif byte == CYCLE_START:
            if self.state == "Hold":
                self._held = False
                self._run(now)
        else:
            self._soft_reset()

    def _cancel_jog(self) -> None:
        """Jog cancel: the jog stops where it is and what is queued of it is dropped; the parser follows."""
        if self.state == "Jog":
            self._stop_motion()
            self._sync_parser()

    def _soft_reset(self) -> None:
        """ctrl-x as mc_reset and main() do it: stop, spindle off, forget input, the parser and check mode.

        In motion (or homing) the position may be lost: ALARM:3 (ALARM:6). The line in progress (or the one
        that hit a soft limit) is answered as its gc_execute_line returns; then the banner, the unlock hint
        in Alarm, or else the startup lines. The position and the EEPROM are kept.
        """
        alarm = ALARM_HOMING_FAIL_RESET if self._homing else ALARM_ABORT_CYCLE if self.state in ("Run", "Jog") else 0
        interrupted = self._job.answer if self._job is not None else OK if self._soft_limit_line else b""
        self._alarm = self._alarm or self._sleeping or bool(alarm)
        self._stop_motion()
        self._pen_down = False
        self._rx.clear()
        self._start_line()
        self._late.clear()
        self._critical = self._held = self._check = self._homing = self._jogging = self._sleeping = False
        self._soft_limit_line = 0
        self._reset_parser()
        if alarm:
            self._emit(b"ALARM:%d\r\n" % alarm)
        self._emit(interrupted + GRBL_BANNER)
        if self._alarm:
            self._emit(MSG_LOCKED)
        else:
            self._queue_startup_lines()

    def _reset_parser(self) -> None:
        """gc_init and the rest of main()'s re-initialisation: parser modes, spindle and report counters."""
        self._sync_parser(GcodeInterpreter(flavour=self.flavour))
        self._tool = 0
        self._ccw = False  # M4 rather than M3
        self._spindle_rpm, self._spindle_letter = 0.0, ""  # sys.spindle_speed and the A: letter
        self._wco_counter = self._ovr_counter = 0

    def _sync_parser(self, interpreter: GcodeInterpreter | None = None) -> None:
        """gc_sync_position: the parser's position becomes the machine's."""
        self._interpreter = interpreter or self._interpreter
        x, y, z = self.position
        self._interpreter.state = dataclasses.replace(self._interpreter.state, x_mm=x, y_mm=y, z_mm=z)

    # ---------------------------------------------------------------------------------------- lines

    def _start_line(self) -> None:
        self._line.clear()
        self._raw.clear()
        self._comment = None
        self._overflow = False

    def _take(self, byte: int) -> None:
        """protocol_main_loop's character filter: comments, whitespace and '/' never reach the line buffer."""
        self._raw.append(byte)
        if self._comment is not None or self._overflow:
            if self._comment == "(" and byte == 0x29:  # ')'
                self._comment = None
            return
        if byte <= 0x20 or byte == 0x2F:  # whitespace, control characters, block delete
            return
        if byte == 0x28:  # '('
            self._comment = "("
        elif byte == 0x3B:  # ';'
            self._comment = ";"
        elif len(self._line) >= self.settings.line_buffer_bytes - 1:
            self._overflow = True
        else:
            self._line.append(byte - 0x20 if 0x61 <= byte <= 0x7A else byte)

    def _end_of_line(self) -> None:
        line = self._line.decode("ascii", "replace")
        raw = self._raw.decode("ascii", "replace")
        overflow = self._overflow
        self._start_line()
        number = self._count_line() if line or overflow else 0
        if number and number == self.faults.alarm_on_line:
            self._hard_limit_alarm()
        elif number and number == self.faults.error_on_line:
            self._answer(error_reply(self.faults.error_code), number)
        elif overflow:
            self._answer(error_reply(ERROR_OVERFLOW), number)
        elif not line:
            self._answer(OK, number)
        elif line.startswith("$"):
            self._system_command(line, number)
        elif self._alarm or self.state == "Jog":
            self._answer(error_reply(ERROR_SYSTEM_GC_LOCK), number)
        else:
            self._execute(line, raw, number)

    def _execute(self, line: str, raw: str, number: int, logged: bool = True) -> bool:
        """gc_execute_line: parse a G-code line now; what it makes the machine do becomes a job. True if ok."""
        try:
            parsed = self._parse(line, number)
        except GcodeError as exc:
            self._answer(error_reply(exc.grbl_code), number)
            return False
        if parsed is None:
            return False
        steps, answer = parsed
        if self._check:
            self.checked_lines.append(raw.strip())
            self._answer(answer, number)
        else:
            self._start_steps(number, raw, answer, steps, logged)
        return True

    def _parse(self, line: str, number: int) -> tuple[list[Step], bytes] | None:
        """The steps and the answer of one G-code line, the parser state updated; None after a soft-limit alarm.

        Raises GcodeError with the parser state unchanged.
        """
        words = parse_words(line)
        _check_tool_words(words)
        before = dataclasses.replace(self._interpreter.state)
        events = self._interpreter.execute(line)
        if self._beyond_soft_limits(events):
            self._soft_limit_alarm(before, number)
            return None
        was = (before.spindle_on, self._ccw, before.spindle_s)
        self._take_modes(words)
        state, end = self._interpreter.state, any(isinstance(e, ProgramEnd) for e in events)
        answer = MSG_PROGRAM_END + OK if end else OK
        new_offset = any(letter == "G" and value in (92.0, 92.1) for letter, value in words)
        if self._check:  # spindle_sync, mc_line, mc_dwell and the pause return at once; G92 still flags WCO
            self._wco_counter = 0 if new_offset else self._wco_counter
            return [], answer
        steps: list[Step] = []
        now = (state.spindle_on, self._ccw, state.spindle_s)
        if not end and (now[:2] != was[:2] or (was[0] and now[2] != was[2])):
            steps.append(functools.partial(self._set_spindle, *now))  # spindle_sync waits for the planner
        if new_offset:
            steps.append(self._offset_changed)  # FORCE_BUFFER_SYNC_DURING_WCO_CHANGE
        optional_stop = ("M", 1.0) in words  # GRBL ignores M1
        steps += self._steps([e for e in events if not (optional_stop and isinstance(e, Pause))], before)
        if not optional_stop and any(isinstance(e, Pause) for e in events):
            steps.append(SYNC)  # the pause is answered when the operator lets the program go on
        if end:
            steps.append(self._program_ended)
        return steps, answer

    def _take_modes(self, words: list[tuple[str, float]]) -> None:
        """What GRBL's parser keeps and gcode.reader does not: M3 versus M4, and the tool of this very line
        (gc_execute_line takes T from each block, 0 without a T word)."""
        self._tool = next((int(value) for letter, value in words if letter == "T"), 0)
        for letter, value in words:
            if letter == "M" and value in (3.0, 4.0):
                self._ccw = value == 4.0

    def _set_spindle(self, on: bool, ccw: bool, s: float) -> None:
        """spindle_set_state: the speed GRBL reports ($31 <= S <= $30; S0 off) and a report of Ov and A next."""
        top, bottom = self._setting(30), self._setting(31)
        if not on:
            rpm, turning = 0.0, False
        elif bottom >= top or s >= top:
            rpm, turning = top, True
        elif s <= bottom:
            rpm, turning = (0.0, False) if s == 0 else (bottom, True)
        else:
            rpm, turning = s, True
        self._spindle_rpm = rpm
        self._spindle_letter = ("C" if ccw else "S") if turning else ""
        self._ovr_counter = 0

    def _offset_changed(self) -> None:
        self._wco_counter = 0  # system_flag_wco_change: the next report shows the new offset

    def _program_ended(self) -> None:
        """M2/M30 after the planner has emptied: spindle off and a fresh WCO in the next report."""
        self._set_spindle(False, False, 0.0)
        self._wco_counter = 0

    def _beyond_soft_limits(self, events: list[Event]) -> bool:
        """True when soft limits are on and a move of ``events`` ends outside [0, $130] x [0, $131]."""
        if not self._setting(20):
            return False
        return any(isinstance(e, Move) and not self._inside(e.end) for e in events)

    def _inside(self, point: tuple[float, ...]) -> bool:
        e = _SOFT_LIMIT_SLACK_MM
        return -e <= point[0] <= self._setting(130) + e and -e <= point[1] <= self._setting(131) + e

    def _soft_limit_alarm(self, before: ModalState, number: int) -> None:
        """limits_soft_check: stop, reset, ALARM:2; nothing of the line moves and what was queued is lost."""
        self._stop_motion()
        x, y, z = self.position
        self._interpreter.state = dataclasses.replace(before, x_mm=x, y_mm=y, z_mm=z)
        self._pen_down = False  # mc_reset stops the spindle
        self._spindle_rpm, self._spindle_letter = 0.0, ""
        self._alarm = self._critical = True
        self._held = False
        self._soft_limit_line = number or -1
        self._answer(b"ALARM:%d\r\n" % ALARM_SOFT_LIMIT + MSG_RESET_TO_CONTINUE, number)

    def _hard_limit_alarm(self) -> None:
        """A limit switch trips (limits.c's pin interrupt): mc_reset, ALARM:1, and only a reset is heard."""
        self._stop_motion()
        self._sync_parser()
        self._pen_down = False  # mc_reset stops the spindle
        self._spindle_rpm, self._spindle_letter = 0.0, ""
        self._alarm = self._critical = True
        self._held = False
        self._emit(b"ALARM:%d\r\n" % ALARM_HARD_LIMIT + MSG_RESET_TO_CONTINUE)

    def _queue_startup_lines(self) -> None:
        """After a reset that leaves GRBL idle, its startup lines run before it reads the next line."""
        if any(self.eeprom.startup_lines):
            self._start_steps(0, "", b"", [self._run_startup_lines], logged=False)

    def _run_startup_lines(self) -> None:
        """system_execute_startup: each stored line is executed and reported as ``>line:ok`` or ``>line:error:N``."""
        for text in self.eeprom.startup_lines:
            if not text:
                continue
            try:
                parsed = self._parse(text, 0)
            except GcodeError as exc:
                self._emit(f">{text}:error:{exc.grbl_code}\r\n".encode("ascii"))
                continue
            if parsed is None:
                return
            self._emit(f">{text}:ok\r\n".encode("ascii"))
            if self._job is not None:
                self._job.steps.extend(parsed[0])


def _check_tool_words(words: list[tuple[str, float]]) -> None:
    """GRBL's checks of the T word, which gcode.reader ignores: once, 0 to 255."""
    tools = [value for letter, value in words if letter == "T"]
    if len(tools) > 1:
        raise GcodeError("word T repeated", ERROR_WORD_REPEATED)
    if tools and tools[0] > 255:
        raise GcodeError("tool number above 255", ERROR_MAX_VALUE_EXCEEDED)
    if tools and tools[0] < 0:
        raise GcodeError("T must not be negative", ERROR_NEGATIVE_VALUE)
