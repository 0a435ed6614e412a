"""A virtual GRBL 1.1 pen plotter: bytes in, bytes out, no threads and no I/O.

The model follows GRBL 1.1h's serial protocol as a host sees it:

* Bytes from the host land in a receive buffer of ``rx_buffer_bytes`` (127 on an Arduino); what does not
  fit is lost, as on a real board. Realtime commands (``?``, ``!``, ``~``, ctrl-x) never enter the buffer:
  they act at once, wherever they appear, even in the middle of a line.
* The main loop takes bytes from that buffer into a line buffer exactly as ``protocol_main_loop`` does:
  whitespace, control characters, ``/`` and comments are thrown away, letters are upper-cased, and a line
  with more than ``line_buffer_bytes - 1`` characters left is answered ``error:11`` (GRBL's
  STATUS_OVERFLOW).
* Each complete line is answered ``ok`` or ``error:N``. G-code goes through :mod:`gcode.reader`, so the
  simulator and the statistics agree on what a line does.
* Motion is instantaneous: a line is executed as soon as it is complete and the machine is back in Idle
  before the answer leaves. The seams for timing are :meth:`GrblSimulator.busy` (the board cannot take a
  line now) and :meth:`GrblSimulator.poll` (time passes; returns what the board says on its own).

What the pen drew is kept in machine millimetres in :attr:`GrblSimulator.strokes`, and which section of
the program (between program pauses, i.e. which pen of a multi-pen drawing) drew each stroke in
:attr:`GrblSimulator.stroke_sections`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.reader import GcodeError, GcodeInterpreter, ModalState, Move, Pause, PenChange, ProgramEnd

BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
HELP = b"[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]\r\n"

STATUS_QUERY = 0x3F  # ?
FEED_HOLD = 0x21  # !
CYCLE_START = 0x7E  # ~
SOFT_RESET = 0x18  # ctrl-x
REALTIME_BYTES = frozenset({STATUS_QUERY, FEED_HOLD, CYCLE_START, SOFT_RESET})

# GRBL 1.1 status and alarm numbers that the simulator produces.
ERROR_INVALID_STATEMENT = 3  # unsupported '$' command
ERROR_SYSTEM_GC_LOCK = 9  # G-code locked out during alarm
ERROR_OVERFLOW = 11  # STATUS_OVERFLOW: line longer than the line buffer (14 is the EEPROM line limit)
ALARM_SOFT_LIMIT = 2

_SOFT_LIMIT_SLACK_MM = 1e-6  # absorbs the rounding of inch -> mm conversions at the very edge


@dataclass(frozen=True)
class SimSettings:
    """Settings of the virtual board.

    ``soft_limits`` is GRBL's ``$20``: a move whose target leaves [0, width] x [0, height] raises ALARM:2.
    ``rx_buffer_bytes`` is the serial receive buffer (127 usable bytes on an Arduino Uno).
    ``line_buffer_bytes`` is GRBL's LINE_BUFFER_SIZE (80): at most 79 characters survive per line.
    """

    soft_limits: bool = True
    rx_buffer_bytes: int = 127
    line_buffer_bytes: int = 80


class GrblSimulator:
    """A virtual GRBL 1.1 pen plotter: bytes in, bytes out; executes lines through gcode.reader.

    ``strokes``: what the pen drew, one polyline per pen-down run in machine mm (a run without motion is a
    single point: a dot). ``stroke_sections``: parallel to ``strokes``, how many program pauses (M0/M1) had
    been executed before each stroke started, so section k is the k-th layer's pen. ``executed_lines``: every
    G-code line that GRBL executed and answered ``ok``, as the host sent it (without its line ending);
    rejected lines and ``$`` commands are not in it. ``state``: "Idle" | "Run" | "Hold" | "Alarm" (the status
    report says "Hold:0", as GRBL does). ``rx_overflow_bytes`` and ``rx_peak_bytes`` measure the receive
    buffer from the device's side.
    """

    def __init__(self, profile: MachineProfile, settings: SimSettings = SimSettings()) -> None:
        if settings.rx_buffer_bytes < 1 or settings.line_buffer_bytes < 2:
            raise ValueError("rx_buffer_bytes must be >= 1 and line_buffer_bytes >= 2")
        self.profile = profile
        self.settings = settings
        self.strokes: list[list[tuple[float, float]]] = []
        self.stroke_sections: list[int] = []
        self.executed_lines: list[str] = []
        self.state = "Idle"
        self.rx_overflow_bytes = 0  # bytes lost because the receive buffer was full
        self.rx_peak_bytes = 0  # the most bytes the receive buffer ever held
        self._interpreter = GcodeInterpreter(flavour=flavour_for(profile))
        self._rx: deque[int] = deque()
        self._line = bytearray()  # the line being assembled, already stripped the way GRBL strips it
        self._raw = bytearray()  # the same line as the host sent it, for executed_lines
        self._comment: str | None = None  # None outside a comment, "(" or ";" inside one
        self._overflow = False
        self._critical = False  # after a soft-limit alarm GRBL ignores everything but reset
        self._pen_down = False
        self._pauses = 0  # program pauses executed so far: the section the next stroke belongs to

    # ----------------------------------------------------------------------------------------- protocol

    def banner(self) -> bytes:
        """What GRBL prints at power-up and after every soft reset."""
        return BANNER

    def receive(self, data: bytes) -> bytes:
        """Feed raw bytes from the host; return the bytes GRBL sends back in answer."""
        out = bytearray()
        for byte in data:
            if byte in REALTIME_BYTES:
                out += self._realtime(byte)
            elif byte >= 0x80:
                continue  # GRBL 1.1's extended realtime commands (overrides, jog cancel): not modelled
            elif len(self._rx) < self.settings.rx_buffer_bytes:
                self._rx.append(byte)
                self.rx_peak_bytes = max(self.rx_peak_bytes, len(self._rx))
                if byte == 0x0A or byte == 0x0D:
                    out += self._consume()
            else:
                self.rx_overflow_bytes += 1
        return bytes(out)

    def poll(self) -> bytes:
        """Let time pass: the board works through its receive buffer; returns what it sends meanwhile."""
        return self._consume()

    def busy(self) -> bool:
        """True while the board takes no line from its receive buffer (feed hold, pause, critical alarm)."""
        return self._critical or self.state == "Hold"

    @property
    def position(self) -> tuple[float, float, float]:
        """Machine position (x, y, z) in mm."""
        s = self._interpreter.state
        return s.x_mm, s.y_mm, s.z_mm

    @property
    def pen_down(self) -> bool:
        return self._pen_down

    # -------------------------------------------------------------------------------------- realtime

    def _realtime(self, byte: int) -> bytes:
        if byte == STATUS_QUERY:
            return self.status_report()
        if byte == FEED_HOLD:
            if self.state in ("Idle", "Run"):
                self.state = "Hold"
            return b""
        if byte == CYCLE_START:
            if self.state == "Hold":
                self.state = "Idle"
                return self._consume()
            return b""
        return self._soft_reset()

    def status_report(self) -> bytes:
        """GRBL 1.1's answer to ``?``; motion is instantaneous, so the realtime feed rate is always 0."""
        x, y, z = self.position
        name = "Hold:0" if self.state == "Hold" else self.state
        spindle = self._interpreter.state.spindle_s if self._interpreter.state.spindle_on else 0.0
        return f"<{name}|MPos:{x:.3f},{y:.3f},{z:.3f}|FS:0,{spindle:.0f}>\r\n".encode("ascii")

    def _soft_reset(self) -> bytes:
        """ctrl-x: stop the spindle (pen up), forget buffered input and the parser's modes, keep the position."""
        self._pen_up()
        self._rx.clear()
        self._start_line()
        self._critical = False
        x, y, z = self.position
        self._interpreter = GcodeInterpreter(ModalState(x_mm=x, y_mm=y, z_mm=z), flavour_for(self.profile))
        out = bytearray(BANNER)
        if self.state == "Alarm":
            out += b"[MSG:'$H'|'$X' to unlock]\r\n"
        else:
            self.state = "Idle"
        return bytes(out)

    # ---------------------------------------------------------------------------------------- lines

    def _start_line(self) -> None:
        self._line.clear()
        self._raw.clear()
        self._comment = None
        self._overflow = False

    def _consume(self) -> bytes:
        """GRBL's main loop: move bytes from the receive buffer into the line buffer, run complete lines."""
        out = bytearray()
        while self._rx and not self.busy():
            byte = self._rx.popleft()
            if byte == 0x0A or byte == 0x0D:
                out += self._end_of_line()
            else:
                self._take(byte)
        return bytes(out)

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

    def _end_of_line(self) -> bytes:
        line = self._line.decode("ascii", "replace")
        raw = self._raw.decode("ascii", "replace")
        overflow = self._overflow
        self._start_line()
        if overflow:
            return _error(ERROR_OVERFLOW)
        if not line:
            return b"ok\r\n"
        if line.startswith("$"):
            return self._system_command(line)
        if self.state == "Alarm":
            return _error(ERROR_SYSTEM_GC_LOCK)
        return self._execute(line, raw)

    def _system_command(self, line: str) -> bytes:
        if line == "$":
            return HELP + b"ok\r\n"
        if line == "$$":
            return self._settings_report() + b"ok\r\n"
        if line == "$X":
            if self.state == "Alarm":
                self.state = "Idle"
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

    def _execute(self, line: str, raw: str) -> bytes:
        before = dataclasses.replace(self._interpreter.state)
        try:
            events = self._interpreter.execute(line)
        except GcodeError as exc:
            return _error(exc.grbl_code)
        if self.settings.soft_limits and any(isinstance(e, Move) and not self._inside(e.end) for e in events):
            self._interpreter.state = before  # GRBL checks the target before planning: nothing moves
            self._pen_up()  # mc_reset stops the spindle
            self.state = "Alarm"
            self._critical = True
            return b"ALARM:%d\r\n[MSG:Reset to continue]\r\n" % ALARM_SOFT_LIMIT
        self.executed_lines.append(raw.strip())
        position = (before.x_mm, before.y_mm)
        for event in events:
            position = self._apply(event, position)
        if not self._interpreter.state.pen_down:
            self._pen_up()
        if any(isinstance(e, ProgramEnd) for e in events):
            return b"[MSG:Pgm End]\r\nok\r\n"
        return b"ok\r\n"

    def _apply(self, event: object, position: tuple[float, float]) -> tuple[float, float]:
        """Record what one event does to the paper; returns the pen position after it."""
        if isinstance(event, PenChange):
            if event.down:
                self._pen_down = True
                self._start_stroke(position)  # a pen-down run starts with a dot where the pen lands
            else:
                self._pen_up()
        elif isinstance(event, Move):
            if event.pen_down:
                if not self._pen_down or self.strokes[-1][-1] != event.start:
                    self._pen_down = True
                    self._start_stroke(event.start)
                self.strokes[-1].append(event.end)
            return event.end
        elif isinstance(event, Pause):
            self.state = "Hold"  # M0: GRBL waits for cycle start and takes no further line until then
            self._pauses += 1
        return position

    def _start_stroke(self, point: tuple[float, float]) -> None:
        """Begin a new polyline at ``point``, labelled with the program section (pen) it belongs to."""
        self.strokes.append([point])
        self.stroke_sections.append(self._pauses)

    def _pen_up(self) -> None:
        self._pen_down = False

    def _inside(self, point: tuple[float, float]) -> bool:
        wa, e = self.profile.work_area, _SOFT_LIMIT_SLACK_MM
        return -e <= point[0] <= wa.width_mm + e and -e <= point[1] <= wa.height_mm + e


def _error(code: int) -> bytes:
    return b"error:%d\r\n" % code
