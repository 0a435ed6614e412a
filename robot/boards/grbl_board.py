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
  ``$SLP``, ``$RST=$|#|*``, each with GRBL's text, errors and state rules (see :class:`GrblSimulator`).
  Settings live in a :class:`GrblEeprom` that survives soft resets and, if handed on, power cycles.
* States: Idle, Run, Hold, Jog, Home, Check, Alarm, Sleep. With homing (``$22``) on the board powers up
  in Alarm (``[MSG:'$H'|'$X' to unlock]``) and takes no G-code (``error:9``) until ``$H`` or ``$X``.
  A move outside the work area with soft limits (``$20``) on raises ALARM:2, after which GRBL ignores
  everything, status requests included, until ctrl-x; the line that hit the limit is then answered ``ok``.
  A reset in motion raises ALARM:3 (ALARM:6 while homing); a line in progress at a reset is answered.
  ``$H`` travels to the machine origin; on a machine without limit switches (``limit_switches=False``)
  it seeks up Z for 1.5 x ``$132`` and fails with ALARM:9, as GRBL does.
* Status reports as with ``$10=1``: ``<State|MPos:x,y,z|FS:feed,rpm>``, plus ``WCO`` and ``Ov`` (with
  ``A:S``/``A:C`` while the spindle turns) on GRBL's refresh schedule; positions are whole motor steps.

Deliberate differences: the machine frame is the plotter's, [0, $130] x [0, $131] with the origin where
``$H`` ends (GRBL puts its machine space in negative coordinates); soft limits check X and Y only; a feed
hold stops dead, so a hold is ``Hold:0`` at once; override commands change nothing; coordinate systems,
G10, G28.1/G30.1, probing and coolant are what :mod:`gcode.reader` refuses, so G54-G59, G28, G30 and PRB
stay zero in ``$#``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from calibration import MachineProfile, Motion
from gcode.reader import Event, GcodeError, GcodeInterpreter, ModalState, Move, Pause, ProgramEnd, parse_words
from robot.boards.board import SYNC, BoardSimulator, ExecutedLine, SimSettings, Step
from robot.boards.faults import Faults
from robot.boards.planner import Segment

GRBL_VERSION = "1.1h"
GRBL_BUILD = "20190825"
BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
HELP = b"[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\n"
BUILD_OPTIONS = "V"  # report.c's [OPT:] letters for config.h as shipped: VARIABLE_SPINDLE, nothing else
STARTUP_LINES = 2  # N_STARTUP_LINE
OK = b"ok\r\n"

STATUS_QUERY = 0x3F  # ?
FEED_HOLD = 0x21  # !
CYCLE_START = 0x7E  # ~
SOFT_RESET = 0x18  # ctrl-x
JOG_CANCEL = 0x85
REALTIME_BYTES = frozenset({STATUS_QUERY, FEED_HOLD, CYCLE_START, SOFT_RESET})

# GRBL 1.1 status and alarm numbers that the simulator produces (robot.firmware.grbl_codes says what they mean).
ERROR_BAD_NUMBER_FORMAT = 2
ERROR_INVALID_STATEMENT = 3  # unsupported '$' command
ERROR_NEGATIVE_VALUE = 4
ERROR_SETTING_DISABLED = 5  # $H with homing off
ERROR_STEP_PULSE_MIN = 6
ERROR_SETTING_READ_FAIL = 7  # a blank EEPROM at power-up
ERROR_IDLE_ERROR = 8  # a '$' command that needs Idle (or Alarm)
ERROR_SYSTEM_GC_LOCK = 9  # G-code locked out during alarm or jog
ERROR_SOFT_LIMIT_ERROR = 10  # $20=1 with homing off
ERROR_OVERFLOW = 11  # STATUS_OVERFLOW: line longer than the line buffer (14 is the EEPROM line limit)
ERROR_UNDEFINED_FEED_RATE = 22
ERROR_WORD_REPEATED = 25
ERROR_TRAVEL_EXCEEDED = 15  # a jog beyond the soft limits
ERROR_INVALID_JOG_COMMAND = 16
ERROR_UNUSED_WORDS = 36
ERROR_MAX_VALUE_EXCEEDED = 38  # T above 255
ALARM_HARD_LIMIT = 1  # a limit switch tripped
ALARM_SOFT_LIMIT = 2
ALARM_ABORT_CYCLE = 3  # reset while in motion
ALARM_HOMING_FAIL_RESET = 6  # reset while homing
ALARM_HOMING_FAIL_APPROACH = 9  # no switch found (a machine without limit switches)
HOMING_SEARCH_SCALE = 1.5  # HOMING_AXIS_SEARCH_SCALAR: how far past the travel a homing cycle seeks

MSG_RESET_TO_CONTINUE = b"[MSG:Reset to continue]\r\n"
MSG_LOCKED = b"[MSG:'$H'|'$X' to unlock]\r\n"
MSG_UNLOCKED = b"[MSG:Caution: Unlocked]\r\n"
MSG_ENABLED = b"[MSG:Enabled]\r\n"
MSG_DISABLED = b"[MSG:Disabled]\r\n"
MSG_PROGRAM_END = b"[MSG:Pgm End]\r\n"
MSG_RESTORING = b"[MSG:Restoring defaults]\r\n"
MSG_SLEEPING = b"[MSG:Sleeping]\r\n"

# defaults.h (DEFAULTS_GENERIC): what $RST=$ restores on a stock GRBL, before a profile says otherwise.
GRBL_DEFAULTS: dict[int, float] = {
    0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 1, 11: 0.010, 12: 0.002, 13: 0,
    20: 0, 21: 0, 22: 0, 23: 0, 24: 25.0, 25: 500.0, 26: 250, 27: 1.0, 30: 1000.0, 31: 0.0, 32: 0,
    100: 250.0, 101: 250.0, 102: 250.0, 110: 500.0, 111: 500.0, 112: 500.0,
    120: 10.0, 121: 10.0, 122: 10.0, 130: 200.0, 131: 200.0, 132: 200.0,
}  # fmt: skip
BYTE_SETTINGS = frozenset({0, 1, 2, 3, 10, 23, 26})  # stored as uint8
FLAG_SETTINGS = frozenset({4, 5, 6, 13, 20, 21, 22, 32})  # stored as a bit: any non-zero value is 1
RPM_SETTINGS = frozenset({30, 31})  # printed without decimals
MM_PER_INCH = 25.4
BUSY_STATES = frozenset({"Run", "Hold", "Jog", "Home"})  # report.c refreshes WCO and Ov less often in these
_JOG_COMMANDS = frozenset({20.0, 21.0, 53.0, 90.0, 91.0})  # the G words a jog may carry
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")  # what GRBL's read_float reads
_SOFT_LIMIT_SLACK_MM = 1e-6  # absorbs the rounding of inch -> mm conversions at the very edge

__all__ = ["BANNER", "ExecutedLine", "GrblEeprom", "GrblSimulator", "SimSettings", "grbl_number"]


@dataclass
class GrblEeprom:
    """What a GRBL board keeps across soft resets and power cycles: ``$`` settings, startup lines, build info.

    GRBL keeps G54-G59, G28 and G30 there too; nothing this model reads can change them, so they are zero.
    Empty ``settings`` is a blank chip (:meth:`blank`): GRBL then says ``error:7``, restores its defaults and
    prints them before its banner.
    """

    settings: dict[int, float]
    startup_lines: list[str] = field(default_factory=lambda: [""] * STARTUP_LINES)
    build_info: str = ""

    @classmethod
    def factory(cls, profile: MachineProfile, sim: SimSettings) -> GrblEeprom:
        """A new board's: GRBL's defaults with the profile's travel, acceleration, work area and pen-down S."""
        motion, area = profile.motion, profile.work_area
        ours = {
            20: float(sim.soft_limits), 22: float(sim.homing),
            30: float(profile.pen_lift.down_s or GRBL_DEFAULTS[30]),
            110: motion.travel_feed_mm_min, 111: motion.travel_feed_mm_min,
            120: motion.acceleration_mm_s2, 121: motion.acceleration_mm_s2,
            130: area.width_mm, 131: area.height_mm,
        }  # fmt: skip
        return cls({n: _float32(v) for n, v in {**GRBL_DEFAULTS, **ours}.items()})

    @classmethod
    def blank(cls) -> GrblEeprom:
        """A chip GRBL has never written to."""
        return cls({})

    def copy(self) -> GrblEeprom:
        return GrblEeprom(dict(self.settings), list(self.startup_lines), self.build_info)


class GrblSimulator(BoardSimulator):
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
        self._boot = restored + BANNER + (MSG_LOCKED if self._alarm else b"")
        if not self._alarm:
            self._queue_startup_lines()

    def _read_eeprom(self) -> bytes:
        """settings_init: a blank EEPROM is answered error:7, written with the defaults, and they are printed."""
        if self.eeprom.settings:
            return b""
        self.eeprom.settings = dict(self._factory.settings)
        self.eeprom.startup_lines, self.eeprom.build_info = [""] * STARTUP_LINES, ""
        return _error(ERROR_SETTING_READ_FAIL) + self._settings_report()

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

    def status_report(self) -> bytes:
        """GRBL 1.1h's answer to ``?``: state, position, feed and spindle, and WCO and Ov when they are due."""
        mask, state = int(self._setting(10)), self.state
        machine = self._machine_position()
        wco = self._interpreter.state.offset_mm
        fields = ["Hold:0" if state == "Hold" else state]
        if mask & 1:
            fields.append("MPos:" + self._coords(machine))
        else:
            fields.append("WPos:" + self._coords(tuple(m - w for m, w in zip(machine, wco))))
        if mask & 2:
            blocks = self.settings.planner_blocks - len(self._planner)
            fields.append(f"Bf:{blocks},{self.settings.rx_buffer_bytes + 1 - len(self._rx)}")
        fields.append(f"FS:{self._rate(self._feed_mm_min(state))},{grbl_number(self._spindle_rpm, 0)}")
        fields += self._refreshed_fields(state, wco)
        return ("<" + "|".join(fields) + ">\r\n").encode("ascii")

    def _refreshed_fields(self, state: str, wco: tuple[float, float, float]) -> list[str]:
        """WCO and Ov (with A) on report.c's counters: one report in 10 when idle, 30 / 20 when busy."""
        busy, fields = state in BUSY_STATES, []
        if self._wco_counter > 0:
            self._wco_counter -= 1
        else:
            self._wco_counter = (30 if busy else 10) - 1
            self._ovr_counter = max(self._ovr_counter, 1)  # the overrides follow in the next report
            fields.append("WCO:" + self._coords(wco))
        if self._ovr_counter > 0:
            self._ovr_counter -= 1
        else:
            self._ovr_counter = (20 if busy else 10) - 1
            fields.append("Ov:100,100,100")
            if self._spindle_letter:
                fields.append("A:" + self._spindle_letter)
        return fields

    def _feed_mm_min(self, state: str) -> float:
        return self._planner.speed_mm_s * 60.0 if state in ("Run", "Jog", "Home") else 0.0

    def _machine_position(self) -> tuple[float, float, float]:
        """Where the machine is, in whole motor steps ($100-$102) as GRBL counts it."""
        x, y, z = (_whole_steps(v, self._setting(100 + axis)) for axis, v in enumerate(self.position))
        return x, y, z

    def _coords(self, values: tuple[float, ...]) -> str:
        """Coordinates as printFloat_CoordValue writes them: mm with 3 decimals, inches ($13) with 4."""
        if self._setting(13):
            return ",".join(grbl_number(v / MM_PER_INCH, 4) for v in values)
        return ",".join(grbl_number(v, 3) for v in values)

    def _rate(self, mm_min: float) -> str:
        """A feed as printFloat_RateValue writes it: mm/min without decimals, in/min ($13) with one."""
        return grbl_number(mm_min / MM_PER_INCH, 1) if self._setting(13) else grbl_number(mm_min, 0)

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
        self._emit(interrupted + BANNER)
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
            self._answer(_error(self.faults.error_code), number)
        elif overflow:
            self._answer(_error(ERROR_OVERFLOW), number)
        elif not line:
            self._answer(OK, number)
        elif line.startswith("$"):
            self._system_command(line, number)
        elif self._alarm or self.state == "Jog":
            self._answer(_error(ERROR_SYSTEM_GC_LOCK), number)
        else:
            self._execute(line, raw, number)

    def _execute(self, line: str, raw: str, number: int, logged: bool = True) -> bool:
        """gc_execute_line: parse a G-code line now; what it makes the machine do becomes a job. True if ok."""
        try:
            parsed = self._parse(line, number)
        except GcodeError as exc:
            self._answer(_error(exc.grbl_code), number)
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

    # ------------------------------------------------------------------------------------ $ commands

    def _system_command(self, line: str, number: int) -> None:
        """system_execute_line: a ``$`` line, answered as GRBL 1.1h answers it."""
        kind = line[1:2]
        if kind == "":
            self._answer(HELP + OK, number)
        elif kind == "J":
            self._jog(line, number)
        elif kind in ("$", "G", "C", "X") and len(line) > 2:
            self._answer(_error(ERROR_INVALID_STATEMENT), number)
        elif kind == "$":
            busy = self.state in ("Run", "Hold")  # printing the settings takes too long during a cycle
            self._answer(_error(ERROR_IDLE_ERROR) if busy else self._settings_report() + OK, number)
        elif kind == "G":
            self._answer(self._parser_state() + OK, number)
        elif kind == "C":
            self._toggle_check_mode(number)
        elif kind == "X":
            unlock = self._alarm
            self._alarm = False
            self._answer(MSG_UNLOCKED + OK if unlock else OK, number)
        elif self.state not in ("Idle", "Alarm"):
            self._answer(_error(ERROR_IDLE_ERROR), number)
        elif kind == "#":
            self._answer(_error(ERROR_INVALID_STATEMENT) if len(line) > 2 else self._parameters() + OK, number)
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
            self._answer(_status(self._store_setting(line)), number)

    def _settings_report(self) -> bytes:
        """``$$``: every setting, in GRBL's order and number formats."""
        return "".join(f"${n}={_setting_text(n, v)}\r\n" for n, v in sorted(self.eeprom.settings.items())).encode()

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
            self._answer(_error(ERROR_IDLE_ERROR), number)
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
            self._answer(_error(ERROR_SETTING_DISABLED), number)
            return
        if len(line) > 2:  # no HOMING_SINGLE_AXIS_COMMANDS; GRBL has already entered the homing state
            self._alarm, self._homing, self._held = False, True, True  # stuck: lines queue, nothing moves
            self._answer(_error(ERROR_INVALID_STATEMENT), number)
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
            self._answer(_error(ERROR_INVALID_STATEMENT), number)
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
            self._answer(_error(ERROR_INVALID_STATEMENT), number)

    def _restore(self, line: str, number: int) -> None:
        """``$RST=$`` (settings), ``$RST=#`` (coordinates), ``$RST=*`` (everything): restored, then a reset."""
        if len(line) != 6 or not line.startswith("$RST=") or line[5] not in "$#*":
            self._answer(_error(ERROR_INVALID_STATEMENT), number)
            return
        if line[5] in "$*":
            self.eeprom.settings = dict(self._factory.settings)
        if line[5] == "*":
            self.eeprom.startup_lines, self.eeprom.build_info = [""] * STARTUP_LINES, ""
        self._emit(MSG_RESTORING + OK)
        self._soft_reset()

    def _store_startup_line(self, line: str, number: int) -> None:
        """``$Nx=line``: the line is executed (it must be valid G-code), then stored as startup line x."""
        read = _read_number(line, 2)
        if self.state != "Idle":
            self._answer(_error(ERROR_IDLE_ERROR), number)
        elif read is None:
            self._answer(_error(ERROR_BAD_NUMBER_FORMAT), number)
        elif line[read[1] : read[1] + 1] != "=":
            self._answer(_error(ERROR_INVALID_STATEMENT), number)
        else:
            index, text = int(read[0]), line[read[1] + 1 :]
            if self._execute(text, line, number, logged=False) and 0 <= index < STARTUP_LINES:
                self.eeprom.startup_lines[index] = text

    def _store_setting(self, line: str) -> int:
        """``$n=value`` as system_execute_line reads it; returns GRBL's status code (0 for ok)."""
        parameter = _read_number(line, 1)
        if parameter is None:
            return ERROR_BAD_NUMBER_FORMAT
        number, i = parameter
        if line[i : i + 1] != "=":
            return ERROR_INVALID_STATEMENT
        value = _read_number(line, i + 1)
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
            settings[number] = float(whole) if number in BYTE_SETTINGS else _float32(value)
        if number == 22 and not whole:
            settings[20] = 0.0  # homing off forces soft limits off
        if number == 13:
            self._wco_counter = 0
        return 0

    def _jog(self, line: str, number: int) -> None:
        """``$J=``: a G1 move in the jog's own units and distance mode (G53: machine coordinates), queued at once."""
        if self.state not in ("Idle", "Jog"):
            self._answer(_error(ERROR_IDLE_ERROR), number)
        elif line[2:3] != "=":
            self._answer(_error(ERROR_INVALID_STATEMENT), number)
        else:
            try:
                target, feed_mm_min = self._jog_target(parse_words(line[3:]))
            except GcodeError as exc:
                self._answer(_error(exc.grbl_code), number)
                return
            if self._setting(20) and not self._inside(target):
                self._answer(_error(ERROR_TRAVEL_EXCEEDED), number)
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


def grbl_number(value: float, decimals: int) -> str:
    """``value`` as GRBL's printFloat writes it: a 32-bit float rounded half up, '-' before any negative value."""
    value = _float32(value)
    whole, fraction = divmod(int(abs(value) * 10**decimals + 0.5), 10**decimals)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


def _setting_text(number: int, value: float) -> str:
    """A setting as ``$$`` prints it: integers as integers, rpm without decimals, the rest with three."""
    if number in BYTE_SETTINGS or number in FLAG_SETTINGS:
        return str(int(value))
    return grbl_number(value, 0 if number in RPM_SETTINGS else 3)


def _float32(value: float) -> float:
    """``value`` as the AVR's 32-bit float holds it (clamped to the largest finite one)."""
    return struct.unpack("<f", struct.pack("<f", max(-3.4e38, min(3.4e38, value))))[0]


def _whole_steps(mm: float, steps_per_mm: float) -> float:
    """``mm`` rounded to whole motor steps (lround) and back, as GRBL's step counts report it."""
    if steps_per_mm <= 0:
        return mm
    steps = math.floor(abs(mm) * steps_per_mm + 0.5)
    return math.copysign(steps, mm) / steps_per_mm if steps else 0.0


def _read_number(text: str, start: int) -> tuple[float, int] | None:
    """read_float: the number at ``start`` and the index after it, or None when there is no number."""
    found = _NUMBER.match(text, start)
    return None if found is None else (float(found.group()), found.end())


def _check_tool_words(words: list[tuple[str, float]]) -> None:
    """GRBL's checks of the T word, which gcode.reader ignores: once, 0 to 255."""
    tools = [value for letter, value in words if letter == "T"]
    if len(tools) > 1:
        raise GcodeError("word T repeated", ERROR_WORD_REPEATED)
    if tools and tools[0] > 255:
        raise GcodeError("tool number above 255", ERROR_MAX_VALUE_EXCEEDED)
    if tools and tools[0] < 0:
        raise GcodeError("T must not be negative", ERROR_NEGATIVE_VALUE)


def _status(code: int) -> bytes:
    return OK if code == 0 else _error(code)


def _error(code: int) -> bytes:
    return b"error:%d\r\n" % code
