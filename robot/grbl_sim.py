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
* Motion goes through a planner of ``planner_blocks`` blocks (:mod:`robot.planner`). A motion line is
  answered ``ok`` as soon as its last block is queued; while the planner is full the main loop waits, so
  the next line stays in the receive buffer and its ``ok`` comes when a block has finished. Pen (spindle)
  changes, dwells and program pauses and ends first wait for the planner to empty, as GRBL's
  ``protocol_buffer_synchronize`` makes them, and are answered after that (a dwell after its time).
  Blocks take their time scaled by ``time_scale`` on the injected ``clock``; with 0 (the default) every
  block is done the moment it is queued and the machine is back in Idle before the answer leaves.
* The seams for a device are :meth:`GrblSimulator.receive` (bytes arrive), :meth:`GrblSimulator.poll`
  (time passes; returns what the board says on its own), :meth:`GrblSimulator.due_in_s` (when the board
  next has something to do by itself) and :meth:`GrblSimulator.busy` (the board takes no line now).
* :class:`robot.faults.Faults` injects line noise, errors, slow answers and a hang-up.

What the pen drew is kept in machine millimetres in :attr:`GrblSimulator.strokes`, and which section of
the program (between program pauses, i.e. which pen of a multi-pen drawing) drew each stroke in
:attr:`GrblSimulator.stroke_sections`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.reader import (
    Dwell,
    Event,
    GcodeError,
    GcodeInterpreter,
    ModalState,
    Move,
    Pause,
    PenChange,
    ProgramEnd,
)
from robot.faults import Faults, LineNoise
from robot.planner import Planner, Segment

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
_SYNC = "wait until the planner is empty"  # a step of a line: what follows needs the machine to stand still


@dataclass(frozen=True)
class SimSettings:
    """Settings of the virtual board.

    ``soft_limits`` is GRBL's ``$20``: a move whose target leaves [0, width] x [0, height] raises ALARM:2.
    ``rx_buffer_bytes`` is the serial receive buffer (127 usable bytes on an Arduino Uno).
    ``line_buffer_bytes`` is GRBL's LINE_BUFFER_SIZE (80): at most 79 characters survive per line.
    ``planner_blocks`` is how many blocks the planner queues (BLOCK_BUFFER_SIZE 16, one always kept free).
    ``time_scale`` is clock seconds per machine second: 0 instant, 1.0 real time, 0.01 a hundred times faster.
    """

    soft_limits: bool = True
    rx_buffer_bytes: int = 127
    line_buffer_bytes: int = 80
    planner_blocks: int = 15
    time_scale: float = 0.0


@dataclass(frozen=True)
class ExecutedLine:
    """One executed G-code line: its number among the lines received (counted as in Faults), as the host
    sent it, and the clock time it was executed (for a motion line: when its last block was queued)."""

    number: int
    text: str
    clock_s: float


@dataclass
class _Job:
    """The line GRBL's main loop is busy with: the steps still to do, then its answer."""

    number: int
    text: str
    answer: bytes
    steps: deque[Segment | Event | str]


class GrblSimulator:
    """A virtual GRBL 1.1 pen plotter: bytes in, bytes out; executes lines through gcode.reader.

    ``strokes``: what the pen drew, one polyline per pen-down run in machine mm (a run without motion is a
    single point: a dot); a move adds its end point when it has run. ``stroke_sections``: parallel to
    ``strokes``, how many program pauses (M0/M1) had been executed before each stroke started, so section k
    is the k-th layer's pen. ``executed_lines``: every G-code line that GRBL executed and answered ``ok``, as
    the host sent it (without its line ending); rejected lines and ``$`` commands are not in it.
    ``execution_log``: the same lines with their numbers and times. ``state``: "Idle" | "Run" | "Hold" |
    "Alarm" as of the last call (the status report says "Hold:0", as GRBL does). ``rx_overflow_bytes`` and
    ``rx_peak_bytes`` measure the receive buffer from the device's side. ``lines_received`` counts lines as
    :class:`~robot.faults.Faults` does; ``noise`` counts the bytes it dropped and corrupted; ``hung_up``
    turns true when ``faults.disconnect_after_lines`` has been reached (the board then says nothing more).
    ``clock`` is where time comes from; tests inject their own and set it by hand.
    """

    def __init__(
        self,
        profile: MachineProfile,
        settings: SimSettings = SimSettings(),
        faults: Faults = Faults(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.rx_buffer_bytes < 1 or settings.line_buffer_bytes < 2 or settings.planner_blocks < 1:
            raise ValueError("rx_buffer_bytes and planner_blocks must be >= 1 and line_buffer_bytes >= 2")
        if settings.time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.profile = profile
        self.settings = settings
        self.faults = faults
        self.clock = clock
        self.strokes: list[list[tuple[float, float]]] = []
        self.stroke_sections: list[int] = []
        self.executed_lines: list[str] = []
        self.execution_log: list[ExecutedLine] = []
        self.lines_received = 0
        self.rx_overflow_bytes = 0  # bytes lost because the receive buffer was full
        self.rx_peak_bytes = 0  # the most bytes the receive buffer ever held
        self.noise = LineNoise(faults)
        self.hung_up = False
        self._interpreter = GcodeInterpreter(flavour=flavour_for(profile))
        self._planner = Planner(settings.planner_blocks, settings.time_scale, (0.0, 0.0, 0.0))
        self._t = clock()  # the clock time the model has been brought up to
        self._rx: deque[int] = deque()
        self._line = bytearray()  # the line being assembled, already stripped the way GRBL strips it
        self._raw = bytearray()  # the same line as the host sent it, for executed_lines
        self._comment: str | None = None  # None outside a comment, "(" or ";" inside one
        self._overflow = False
        self._job: _Job | None = None
        self._held = False  # feed hold or program pause: nothing moves, no line is taken
        self._alarm = False
        self._critical = False  # after a soft-limit alarm GRBL ignores everything but reset
        self._pen_down = False
        self._pauses = 0  # program pauses executed so far: the section the next stroke belongs to
        self._out = bytearray()  # what the board has said and not yet handed over
        self._late: deque[tuple[float, bytes, bool]] = deque()  # delayed answers: (due clock time, bytes, hang up)

    # ----------------------------------------------------------------------------------------- protocol

    def banner(self) -> bytes:
        """What GRBL prints at power-up and after every soft reset."""
        return BANNER

    def receive(self, data: bytes) -> bytes:
        """Feed raw bytes from the host; return the bytes GRBL sends back in answer."""
        if self.hung_up:
            return b""
        now = self.clock()
        self._run(now)
        for byte in self.noise.apply(data):
            if self.hung_up:
                break
            if byte in REALTIME_BYTES:
                self._realtime(byte, now)
            elif byte >= 0x80:
                continue  # GRBL 1.1's extended realtime commands (overrides, jog cancel): not modelled
            elif len(self._rx) < self.settings.rx_buffer_bytes:
                self._rx.append(byte)
                self.rx_peak_bytes = max(self.rx_peak_bytes, len(self._rx))
                if byte == 0x0A or byte == 0x0D:
                    self._run(now)
            else:
                self.rx_overflow_bytes += 1
        return self._hand_over(now)

    def poll(self) -> bytes:
        """Let time pass: blocks run, the main loop works through the receive buffer; returns what GRBL sends."""
        if self.hung_up:
            return b""
        now = self.clock()
        self._run(now)
        return self._hand_over(now)

    def due_in_s(self) -> float | None:
        """Clock seconds until the board next acts by itself (a block ends, a late answer is due), or None."""
        due = []
        if len(self._planner) and not self._held:
            due.append(self._t + self._planner.front_left_s())
        if self._late:
            due.append(self._late[0][0])
        return max(0.0, min(due) - self.clock()) if due and not self.hung_up else None

    def busy(self) -> bool:
        """True while the board takes no line from its receive buffer (a line in progress, hold, pause, alarm)."""
        return self._critical or self._held or self._job is not None

    @property
    def state(self) -> str:
        """"Idle" | "Run" | "Hold" | "Alarm" as of the last call; a dwell is Idle, as in GRBL."""
        if self._alarm:
            return "Alarm"
        if self._held:
            return "Hold"
        return "Run" if self._planner.moving else "Idle"

    @property
    def position(self) -> tuple[float, float, float]:
        """Machine position (x, y, z) in mm as of the last call: along the running move, or at rest."""
        return self._planner.position

    @property
    def pen_down(self) -> bool:
        return self._pen_down

    # ------------------------------------------------------------------------------------------ time

    def _run(self, now: float) -> None:
        """Bring the board up to clock time ``now``: the main loop works whenever it can, blocks end in order."""
        planner = self._planner
        while True:
            while len(planner) and not self._held and planner.front_left_s() <= 0.0:
                self._finished(planner.pop())
            if self._step():
                continue
            if self._held or not len(planner):
                break
            end = self._t + planner.front_left_s()
            if end > now:
                break
            self._t = end
            self._finished(planner.pop())
        if not self._held:
            planner.run_front(now - self._t)
        self._t = max(self._t, now)

    def _step(self) -> bool:
        """One action of GRBL's main loop at the model's time; False when it has to wait."""
        if self._job is not None:
            return not (self._critical or self._held) and self._job_step(self._job)
        if not self._rx or self.busy():
            return False
        byte = self._rx.popleft()
        if byte == 0x0A or byte == 0x0D:
            self._end_of_line()
        else:
            self._take(byte)
        return True

    def _job_step(self, job: _Job) -> bool:
        """Do the next step of the line in progress if the planner lets it; answer the line after its last."""
        step = job.steps[0]
        if isinstance(step, Segment):
            if self._planner.full:
                return False
            self._planner.add(step)
        elif len(self._planner):
            return False  # everything else waits for the machine to stand still
        elif isinstance(step, Dwell):
            self._planner.add(Segment.pause(self._planner.position, step.seconds))
        elif isinstance(step, PenChange):
            self._pen_down = step.down
            if step.down:
                self._start_stroke(self._planner.position[:2])  # a pen-down run starts with a dot where it lands
        elif isinstance(step, Pause):
            self._held = True  # M0: GRBL waits for cycle start and takes no further line until then
            self._pauses += 1
        job.steps.popleft()
        if not job.steps:
            self._finish(job)
        return True

    def _finish(self, job: _Job) -> None:
        self._job = None
        self.executed_lines.append(job.text)
        self.execution_log.append(ExecutedLine(job.number, job.text, self._t))
        self._answer(job.answer, job.number)

    def _finished(self, block: Segment) -> None:
        """A block has run: a pen-down move extends the stroke being drawn."""
        if block.dwell or not block.pen_down:
            return
        start, end = block.start[:2], block.end[:2]
        if not self._pen_down or self.strokes[-1][-1] != start:
            self._pen_down = True
            self._start_stroke(start)
        self.strokes[-1].append(end)

    def _stop_motion(self) -> None:
        """Stop dead where the tool is (GRBL would decelerate); queued blocks and the line in progress are lost."""
        block = self._planner.front()
        here = self._planner.stop()
        if block is not None and here != block.start:
            self._finished(dataclasses.replace(block, end=here))
        self._job = None

    # ---------------------------------------------------------------------------------------- output

    def _answer(self, data: bytes, number: int) -> None:
        """Send the answer to line ``number`` (0: a line that is not counted), late if the faults say so."""
        hang_up = number > 0 and number == self.faults.disconnect_after_lines
        if self.faults.ack_delay_s > 0:
            self._late.append((self._t + self.faults.ack_delay_s, data, hang_up))
        else:
            self._emit(data, hang_up)

    def _emit(self, data: bytes, hang_up: bool = False) -> None:
        if not self.hung_up:
            self._out += data
            self.hung_up = hang_up

    def _hand_over(self, now: float) -> bytes:
        """Everything said so far, with the late answers that are due by ``now``."""
        while self._late and self._late[0][0] <= now:
            _, data, hang_up = self._late.popleft()
            self._emit(data, hang_up)
        out = bytes(self._out)
        self._out.clear()
        return out

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
        self._interpreter = GcodeInterpreter(ModalState(x_mm=x, y_mm=y, z_mm=z), flavour_for(self.profile))
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
        number = 0
        if line or overflow:
            self.lines_received += 1
            number = self.lines_received
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
        job = _Job(number, raw.strip(), answer, deque(self._steps(events, before)))
        if job.steps:
            self._job = job
        else:
            self._finish(job)

    def _steps(self, events: list[Event], before: ModalState) -> list[Segment | Event | str]:
        """The planner blocks and synchronised actions of one line, in GRBL's order of execution."""
        motion = self.profile.motion
        moves = sum(1 for e in events if isinstance(e, Move))
        z0, z1 = before.z_mm, self._interpreter.state.z_mm
        steps: list[Segment | Event | str] = []
        done = 0  # moves of this line so far: an arc's segments share its Z travel
        for event in events:
            if isinstance(event, Move):
                start = (*event.start, z0 + (z1 - z0) * done / moves)
                done += 1
                end = (*event.end, z0 + (z1 - z0) * done / moves)
                feed = motion.travel_feed_mm_min if event.rapid else event.feed_mm_min
                steps.append(Segment.move(start, end, feed / 60.0, motion.acceleration_mm_s2, event.pen_down))
            else:
                steps.append(event)
                if isinstance(event, Dwell):
                    steps.append(_SYNC)  # the line is answered when the dwell is over
        return steps

    def _start_stroke(self, point: tuple[float, float]) -> None:
        """Begin a new polyline at ``point``, labelled with the program section (pen) it belongs to."""
        self.strokes.append([point])
        self.stroke_sections.append(self._pauses)

    def _inside(self, point: tuple[float, float]) -> bool:
        wa, e = self.profile.work_area, _SOFT_LIMIT_SLACK_MM
        return -e <= point[0] <= wa.width_mm + e and -e <= point[1] <= wa.height_mm + e


def _error(code: int) -> bytes:
    return b"error:%d\r\n" % code
