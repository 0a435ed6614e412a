"""A virtual GRBL 1.1 pen plotter: bytes in, bytes out, no threads and no I/O.

The model follows GRBL 1.1h's serial protocol as a host sees it, on the board model of
:mod:`robot.board_sim` (receive buffer, main loop, planner in time, faults):

* Bytes from the host land in a receive buffer of ``rx_buffer_bytes`` (127 on an Arduino); what does not
  fit is lost, as on a real board. Realtime commands (``?``, ``!``, ``~``, ctrl-x) never enter the buffer:
  they act at once, wherever they appear, even in the middle of a line.
* The main loop takes bytes from that buffer into a line buffer exactly as ``protocol_main_loop`` does:
  whitespace, control characters, ``/`` and comments are thrown away, letters are upper-cased, and a line
  with more than ``line_buffer_bytes - 1`` characters left is answered ``error:11`` (GRBL's
  STATUS_OVERFLOW).
* Each complete line is answered ``ok`` or ``error:N``; a move outside the work area raises ALARM:2
  (soft limits), after which GRBL ignores everything but a reset. A motion line is answered as soon as its
  last block is queued; pen (spindle) changes, dwells and program pauses and ends wait for the planner to
  empty, as GRBL's ``protocol_buffer_synchronize`` makes them. Consecutive moves blend through their
  junctions as GRBL plans them (:mod:`robot.planner`).
"""

from __future__ import annotations

import dataclasses

from gcode.reader import GcodeError, GcodeInterpreter, ModalState, Move, ProgramEnd
from robot.board_sim import BoardSimulator, ExecutedLine, SimSettings

BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
HELP = b"[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\n"

STATUS_QUERY = 0x3F  # ?
FEED_HOLD = 0x21  # !
CYCLE_START = 0x7E  # ~
SOFT_RESET = 0x18  # ctrl-x
REALTIME_BYTES = frozenset({STATUS_QUERY, FEED_HOLD, CYCLE_START, SOFT_RESET})

# GRBL 1.1 status and alarm numbers that the simulator produces.
ERROR_INVALID_STATEMENT = 3  # unsupported '$' command
ERROR_IDLE_ERROR = 8  # '$$' while the machine runs
ERROR_SYSTEM_GC_LOCK = 9  # G-code locked out during alarm
ERROR_OVERFLOW = 11  # STATUS_OVERFLOW: line longer than the line buffer (14 is the EEPROM line limit)
ALARM_SOFT_LIMIT = 2
ALARM_ABORT_CYCLE = 3  # reset while in motion

_SOFT_LIMIT_SLACK_MM = 1e-6  # absorbs the rounding of inch -> mm conversions at the very edge

__all__ = ["BANNER", "ExecutedLine", "GrblSimulator", "SimSettings"]


class GrblSimulator(BoardSimulator):
    """A virtual GRBL 1.1 pen plotter: bytes in, bytes out; executes lines through gcode.reader.

    What it drew, executed and received is kept as :class:`~robot.board_sim.BoardSimulator` says.
    ``state``: "Idle" | "Run" | "Hold" | "Alarm" as of the last call (the status report says "Hold:0", as
    GRBL does). ``executed_lines`` holds no ``$`` commands.
    """

    def _power_up(self) -> None:
        self._line = bytearray()  # the line being assembled, already stripped the way GRBL strips it
        self._raw = bytearray()  # the same line as the host sent it, for executed_lines
        self._comment: str | None = None  # None outside a comment, "(" or ";" inside one
        self._overflow = False
        self._alarm = False
        self._critical = False  # after a soft-limit alarm GRBL ignores everything but reset

    def banner(self) -> bytes:
        """What GRBL prints at power-up and after every soft reset."""
        return BANNER

    @property
    def state(self) -> str:
        """"Idle" | "Run" | "Hold" | "Alarm" as of the last call; a dwell is Idle, as in GRBL."""
        return "Alarm" if self._alarm else super().state

    def _stalled(self) -> bool:
        return self._critical or self._held

    def _receive_byte(self, byte: int, now: float) -> None:
        if byte in REALTIME_BYTES:
            self._realtime(byte, now)
        elif byte < 0x80:  # GRBL 1.1's extended realtime commands (overrides, jog cancel): not modelled
            self._buffer_byte(byte, now)

    # -------------------------------------------------------------------------------------- realtime

    def _realtime(self, byte: int, now: float) -> None:
        if byte == STATUS_QUERY:
            self._emit(self.status_report())
        elif byte == FEED_HOLD:
            if not self._alarm:
                self._held = True  # motion stops dead (GRBL decelerates first) and resumes where it stopped
        elif byte == CYCLE_START:
            if self._held:
                self._held = False
                self._run(now)
        else:
            self._soft_reset()

    def status_report(self) -> bytes:
        """GRBL 1.1's answer to ``?`` with the default ``$10=1``: state, machine position, feed and spindle."""
        x, y, z = self.position
        name = "Hold:0" if self.state == "Hold" else self.state
        feed = 0.0 if self._held else self._planner.speed_mm_s * 60.0
        spindle = self._interpreter.state.spindle_s if self._interpreter.state.spindle_on else 0.0
        return f"<{name}|MPos:{x:.3f},{y:.3f},{z:.3f}|FS:{feed:.0f},{spindle:.0f}>\r\n".encode("ascii")

    def _soft_reset(self) -> None:
        """ctrl-x: stop (in motion: ALARM:3), pen up, forget buffered input and parser modes, keep the position."""
        moving = self.state == "Run"
        self._stop_motion()
        self._pen_down = False
        self._rx.clear()
        self._start_line()
        self._critical = False
        self._held = False
        self._late.clear()
        x, y, z = self.position
        self._interpreter = GcodeInterpreter(ModalState(x_mm=x, y_mm=y, z_mm=z), self.flavour)
        if moving:
            self._alarm = True
            self._emit(b"ALARM:%d\r\n" % ALARM_ABORT_CYCLE)
        self._emit(BANNER)
        if self._alarm:
            self._emit(b"[MSG:'$H'|'$X' to unlock]\r\n")

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
        if number and number == self.faults.error_on_line:
            self._answer(_error(self.faults.error_code), number)
        elif overflow:
            self._answer(_error(ERROR_OVERFLOW), number)
        elif not line:
            self._answer(b"ok\r\n", number)
        elif line.startswith("$"):
            self._answer(self._system_command(line), number)
        elif self._alarm:
            self._answer(_error(ERROR_SYSTEM_GC_LOCK), number)
        else:
            self._execute(line, raw, number)

    def _system_command(self, line: str) -> bytes:
        if line == "$":
            return HELP + b"ok\r\n"
        if line == "$$":
            if self.state in ("Run", "Hold"):
                return _error(ERROR_IDLE_ERROR)  # GRBL blocks it during a cycle: printing takes too long
            return self._settings_report() + b"ok\r\n"
        if line == "$X":
            if self._alarm:
                self._alarm = False
                return b"[MSG:Caution: Unlocked]\r\nok\r\n"
            return b"ok\r\n"
        return _error(ERROR_INVALID_STATEMENT)

    def _settings_report(self) -> bytes:
        """``$$``: GRBL 1.1's settings, filled from the machine profile where the profile knows them."""
        wa, mo, s = self.profile.work_area, self.profile.motion, self.settings
        settings = [
            (0, "10"), (1, "25"), (2, "0"), (3, "0"), (4, "0"), (5, "0"), (6, "0"),
            (10, "1"), (11, "0.010"), (12, "0.002"), (13, "0"),
            (20, str(int(s.soft_limits))), (21, "0"), (22, str(int(s.soft_limits))), (23, "0"),
            (24, "25.000"), (25, "500.000"), (26, "250"), (27, "1.000"),
            (30, str(self.profile.pen_lift.down_s or 1000)), (31, "0"), (32, "0"),
            (100, "80.000"), (101, "80.000"), (102, "80.000"),
            (110, f"{mo.travel_feed_mm_min:.3f}"), (111, f"{mo.travel_feed_mm_min:.3f}"), (112, "500.000"),
            (120, f"{mo.acceleration_mm_s2:.3f}"), (121, f"{mo.acceleration_mm_s2:.3f}"), (122, "10.000"),
            (130, f"{wa.width_mm:.3f}"), (131, f"{wa.height_mm:.3f}"), (132, "10.000"),
        ]  # fmt: skip
        return "".join(f"${n}={v}\r\n" for n, v in settings).encode("ascii")

    def _execute(self, line: str, raw: str, number: int) -> None:
        """Parse a G-code line now; what it makes the machine do becomes the steps of a job."""
        before = dataclasses.replace(self._interpreter.state)
        try:
            events = self._interpreter.execute(line)
        except GcodeError as exc:
            self._answer(_error(exc.grbl_code), number)
            return
        if self.settings.soft_limits and any(isinstance(e, Move) and not self._inside(e.end) for e in events):
            # GRBL checks the target before planning it: nothing of this line moves, and what was queued is lost
            self._stop_motion()
            x, y, z = self.position
            self._interpreter.state = dataclasses.replace(before, x_mm=x, y_mm=y, z_mm=z)
            self._pen_down = False  # mc_reset stops the spindle
            self._alarm = self._critical = True
            self._held = False
            self._answer(b"ALARM:%d\r\n[MSG:Reset to continue]\r\n" % ALARM_SOFT_LIMIT, number)
            return
        answer = b"[MSG:Pgm End]\r\nok\r\n" if any(isinstance(e, ProgramEnd) for e in events) else b"ok\r\n"
        self._start_job(number, raw, answer, events, before)

    def _inside(self, point: tuple[float, float]) -> bool:
        wa, e = self.profile.work_area, _SOFT_LIMIT_SLACK_MM
        return -e <= point[0] <= wa.width_mm + e and -e <= point[1] <= wa.height_mm + e


def _error(code: int) -> bytes:
    return b"error:%d\r\n" % code
