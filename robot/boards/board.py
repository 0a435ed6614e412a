"""What every simulated controller board shares: a receive buffer, a main loop, a planner in time, a pen.

:class:`BoardSimulator` is bytes in, bytes out, with no threads and no I/O. Bytes from the host land in a
receive buffer of ``rx_buffer_bytes``; what does not fit is lost, as on a real board. The main loop takes
them out one by one (:meth:`BoardSimulator._take`) and acts on each complete line
(:meth:`BoardSimulator._end_of_line`); the firmware models (:class:`robot.boards.grbl_board.GrblSimulator`,
:class:`robot.boards.marlin_board.MarlinSimulator`) say what a line means and how it is answered.

G-code goes through :mod:`gcode.reader`, so the simulators and the statistics agree on what a line does.
Motion goes through a planner of ``planner_blocks`` blocks (:mod:`robot.boards.planner`). A motion line is
answered as soon as its last block is queued; while the planner is full the main loop waits, so the next
line stays in the receive buffer. Pen changes, dwells, program pauses and ends first wait for the planner
to empty, and are answered after that (a dwell after its time). Blocks take their time scaled by
``time_scale`` on the injected ``clock``; with 0 (the default) every block is done the moment it is queued.

The seams for a device are :meth:`BoardSimulator.receive` (bytes arrive), :meth:`BoardSimulator.poll` (time
passes; returns what the board says on its own), :meth:`BoardSimulator.due_in_s` (when the board next has
something to do by itself) and :meth:`BoardSimulator.busy` (the board takes no line now).
:class:`robot.boards.faults.Faults` injects line noise, errors, slow answers and a hang-up.

What the pen drew is kept in machine millimetres in :attr:`BoardSimulator.strokes`, and which section of
the program (between program pauses, i.e. which pen of a multi-pen drawing) drew each stroke in
:attr:`BoardSimulator.stroke_sections`. A profile with a ``[sim]`` table plays a miscalibrated machine:
every move, pen up or down, goes through its axes' backlash and affine error
(:class:`calibration.machine.Carriage`), so the strokes are where that machine's pen really went, and a
pen-down run starts ``pen_down_lag_mm`` along its path (the pen touches the paper late).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from calibration import GRBL_MAX_LINE_CHARS, MachineProfile, Motion
from calibration.machine import Carriage
from gcode.dialects import flavour_for
from gcode.reader import Dwell, Event, Flavour, GcodeInterpreter, ModalState, Move, Pause, PenChange
from robot.boards.faults import Faults, LineNoise
from robot.boards.planner import Planner, Segment

SYNC = "wait until the planner is empty"  # a step of a line: what follows needs the machine to stand still
Action = Callable[[], None]  # a step of a line: something the firmware does itself once the machine stands still
Step = Segment | Event | str | Action


@dataclass(frozen=True)
class SimSettings:
    """Settings of the virtual board.

    ``homing`` is GRBL's ``$22`` at power-up: the board then starts in Alarm until ``$H`` or ``$X``.
    ``soft_limits`` is GRBL's ``$20``: a move whose target leaves [0, width] x [0, height] raises ALARM:2.
    Both are off by default, as on a GRBL fresh from the factory; GRBL enables soft limits only with homing.
    ``limit_switches``: the machine has homing switches. Without them GRBL's ``$H`` fails: its first cycle
    (Z) seeks 1.5 x ``$132`` up at the seek rate, finds nothing and raises ALARM:9.
    ``rx_buffer_bytes`` is the serial receive buffer (127 usable bytes on an Arduino Uno).
    ``line_buffer_bytes`` is GRBL's LINE_BUFFER_SIZE (80): at most GRBL_MAX_LINE_CHARS (79) survive per line.
    ``planner_blocks`` is how many blocks the planner queues (BLOCK_BUFFER_SIZE 16, one always kept free).
    ``time_scale`` is clock seconds per machine second: 0 instant, 1.0 real time, 0.01 a hundred times faster.
    ``link_time_scale`` scales the serial line's byte time the same way; None (the default) means
    ``time_scale``. ``time_scale=0, link_time_scale=1`` is a link at its real rate to a board that moves in
    no time: the link is the bottleneck, which is what a throughput benchmark wants.
    """

    homing: bool = False
    soft_limits: bool = False
    limit_switches: bool = True
    rx_buffer_bytes: int = 127
    line_buffer_bytes: int = GRBL_MAX_LINE_CHARS + 1
    planner_blocks: int = 15
    time_scale: float = 0.0
    link_time_scale: float | None = None

    def __post_init__(self) -> None:
        if self.soft_limits and not self.homing:
            raise ValueError("GRBL enables soft limits ($20) only with homing ($22): set homing too")

    @property
    def link_scale(self) -> float:
        """Clock seconds per second on the serial line."""
        return self.time_scale if self.link_time_scale is None else self.link_time_scale


@dataclass(frozen=True)
class ExecutedLine:
    """One executed G-code line: its number among the lines received (counted as in Faults), as the host
    sent it, and the clock time it was executed (for a motion line: when its last block was queued)."""

    number: int
    text: str
    clock_s: float


@dataclass
class _Job:
    """The line the main loop is busy with: the steps still to do, then its answer.

    ``logged``: the line goes to ``executed_lines`` when done (G-code lines do; a firmware's own commands not).
    """

    number: int
    text: str
    answer: bytes
    steps: deque[Step]
    logged: bool = True


class BoardSimulator:
    """A virtual controller board: bytes in, bytes out; executes G-code lines through gcode.reader.

    ``strokes``: what the pen drew, one polyline per pen-down run in machine mm (a run without motion is a
    single point: a dot); a move adds its end point when it has run. ``stroke_sections``: parallel to
    ``strokes``, how many program pauses (M0/M1) had been executed before each stroke started, so section k
    is the k-th layer's pen. ``executed_lines``: every G-code line that the board executed and answered
    ``ok``, as the host sent it (without its line ending); rejected lines and system commands are not in
    it. ``execution_log``: the same lines with their numbers and times. A motion line is logged when its
    last block is queued; ``cut_short``: the numbers of logged lines whose blocks a stop (reset, alarm)
    then dropped from the planner or cut off while running, so they did not run to their end. ``rx_overflow_bytes`` and
    ``rx_peak_bytes`` measure the receive buffer from the device's side. ``lines_received`` counts lines as
    :class:`~robot.boards.faults.Faults` does; ``noise`` counts the bytes it dropped and corrupted; ``hung_up``
    turns true when ``faults.disconnect_after_lines`` has been reached (the board then says nothing more),
    ``frozen`` when ``faults.silent_after_lines`` has (the board then does nothing more, on a line still up).
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
        if settings.time_scale < 0 or settings.link_scale < 0:
            raise ValueError("time_scale and link_time_scale must be >= 0")
        self.profile = profile
        self.settings = settings
        self.faults = faults
        self.clock = clock
        self.flavour = self._flavour(profile)
        self.strokes: list[list[tuple[float, float]]] = []
        self.stroke_sections: list[int] = []
        self.executed_lines: list[str] = []
        self.execution_log: list[ExecutedLine] = []
        self.cut_short: set[int] = set()
        self.lines_received = 0
        self.rx_overflow_bytes = 0  # bytes lost because the receive buffer was full
        self.rx_peak_bytes = 0  # the most bytes the receive buffer ever held
        self.noise = LineNoise(faults)
        self.hung_up = False
        self.frozen = False
        self._interpreter = GcodeInterpreter(flavour=self.flavour)
        per_axis = self.flavour.firmware == "grbl"  # GRBL limits acceleration per axis, Marlin along the path
        self._planner = Planner(settings.planner_blocks, settings.time_scale, (0.0, 0.0, 0.0), per_axis=per_axis)
        self._block_lines: deque[int] = deque()  # the line number of each block in the planner
        self._t = clock()  # the clock time the model has been brought up to
        self._rx: deque[int] = deque()
        self._job: _Job | None = None
        self._held = False  # feed hold or program pause: nothing moves, no line is taken
        self._pen_down = False
        self._pauses = 0  # program pauses executed so far: the section the next stroke belongs to
        sim = profile.sim
        self._carriage = Carriage(sim.machine) if sim is not None and not sim.machine.is_exact else None
        self._lag_mm = sim.pen_down_lag_mm if sim is not None else 0.0
        self._lag_left_mm = 0.0  # how much further the pen travels before it touches the paper
        self._out = bytearray()  # what the board has said and not yet handed over
        self._late: deque[tuple[float, bytes, str | None]] = deque()  # delayed answers: (due clock time, bytes, after)
        self._power_up()

    # ------------------------------------------------------------------------- what a firmware defines

    def _flavour(self, profile: MachineProfile) -> Flavour:
        """How this firmware reads the profile's programs."""
        return flavour_for(profile)

    def _power_up(self) -> None:
        """Set up the firmware's own state."""

    def banner(self) -> bytes:
        """What the board prints at power-up."""
        raise NotImplementedError

    def _receive_byte(self, byte: int, now: float) -> None:
        """One byte arrives from the host (after the line noise); by default it goes to the receive buffer."""
        self._buffer_byte(byte, now)

    def _take(self, byte: int) -> None:
        """The main loop takes one byte of a line out of the receive buffer."""
        raise NotImplementedError

    def _end_of_line(self) -> None:
        """The main loop has taken a line ending: act on the line and answer it."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------- protocol

    def receive(self, data: bytes) -> bytes:
        """Feed raw bytes from the host; return the bytes the board sends back in answer."""
        if self.hung_up or self.frozen:
            return b""
        now = self.clock()
        self._run(now)
        for byte in self.noise.apply(data):
            if self.hung_up or self.frozen:
                break
            self._receive_byte(byte, now)
        return self._hand_over(now)

    def poll(self) -> bytes:
        """Let time pass: blocks run, the main loop works through the receive buffer; returns what is said."""
        if self.hung_up or self.frozen:
            return b""
        now = self.clock()
        self._run(now)
        return self._hand_over(now)

    def due_in_s(self) -> float | None:
        """Clock seconds until the board next acts by itself (a block ends, a late answer is due), or None."""
        due = [t for t in self._due_times() if t is not None]
        return max(0.0, min(due) - self.clock()) if due and not (self.hung_up or self.frozen) else None

    def _due_times(self) -> list[float | None]:
        """Clock times at which the board will act by itself."""
        block_end = self._t + self._planner.front_left_s() if len(self._planner) and not self._held else None
        return [block_end, self._late[0][0] if self._late else None]

    def busy(self) -> bool:
        """True while the board takes no line from its receive buffer (a line in progress, hold, pause)."""
        return self._stalled() or self._job is not None

    def _stalled(self) -> bool:
        """True while something other than the line in progress stops the main loop (a hold)."""
        return self._held

    @property
    def state(self) -> str:
        """"Idle" | "Run" | "Hold" as of the last call; a dwell is Idle, as in GRBL."""
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

    def _buffer_byte(self, byte: int, now: float) -> None:
        """Put a byte in the receive buffer, or lose it when the buffer is full; a line ending wakes the loop."""
        if len(self._rx) < self.settings.rx_buffer_bytes:
            self._rx.append(byte)
            self.rx_peak_bytes = max(self.rx_peak_bytes, len(self._rx))
            if byte == 0x0A or byte == 0x0D:
                self._run(now)
        else:
            self.rx_overflow_bytes += 1

    # ------------------------------------------------------------------------------------------ time

    def _run(self, now: float) -> None:
        """Bring the board up to clock time ``now``: the main loop works whenever it can, blocks end in order."""
        planner = self._planner
        while not self.frozen:
            while len(planner) and not self._held and planner.front_left_s() <= 0.0:
                self._finished(self._pop_block())
            if self._step():
                continue
            if self._held or not len(planner):
                break
            end = self._t + planner.front_left_s()
            if end > now:
                break
            self._t = end
            self._finished(self._pop_block())
        if not self._held:
            planner.run_front(now - self._t)
        self._t = max(self._t, now)

    def _step(self) -> bool:
        """One action of the main loop at the model's time; False when it has to wait."""
        if self._job is not None:
            return not self._stalled() and self._job_step(self._job)
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
            self._block_lines.append(job.number)
        elif len(self._planner):
            return False  # everything else waits for the machine to stand still
        elif isinstance(step, Dwell):
            self._planner.add(Segment.pause(self._planner.position, step.seconds))
            self._block_lines.append(job.number)
        elif isinstance(step, PenChange):
            self._pen_down = step.down
            self._lag_left_mm = self._lag_mm if step.down else 0.0
            if step.down and not self._lag_left_mm:
                self._start_stroke(self._pen_at(self._planner.position[:2]))  # a pen-down run starts with a dot
        elif isinstance(step, Pause):
            self._held = True  # M0: the board waits for the operator and takes no further line until then
            self._pauses += 1
        elif callable(step):
            step()
        job.steps.popleft()
        if not job.steps:
            self._finish(job)
        return True

    def _finish(self, job: _Job) -> None:
        self._job = None
        if job.logged:
            self.executed_lines.append(job.text)
            self.execution_log.append(ExecutedLine(job.number, job.text, self._t))
        self._answer(job.answer, job.number)

    def _pop_block(self) -> Segment:
        """Take the finished first block off the planner."""
        self._block_lines.popleft()
        return self._planner.pop()

    def _finished(self, block: Segment) -> None:
        """A block has run: a pen-down move extends the stroke being drawn (a move along Z only draws nothing)."""
        if block.dwell:
            return
        start, end = block.start[:2], block.end[:2]
        if self._carriage is not None:  # a miscalibrated machine: the pen goes where its axes take it
            start, end = self._carriage.drawn_mm, self._carriage.move(*end)
        if not block.pen_down:
            return
        if self._lag_left_mm > 0:  # the pen has not touched the paper yet
            length = ((end[0] - start[0]) ** 2 + (end[1] - start[1]) ** 2) ** 0.5
            if length <= self._lag_left_mm:
                self._lag_left_mm -= length
                return
            t = self._lag_left_mm / length
            self._lag_left_mm = 0.0
            self._pen_down = True
            self._start_stroke((start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])))
        elif not self._pen_down or self.strokes[-1][-1] != start:
            self._pen_down = True
            self._start_stroke(start)
        if end != start:
            self.strokes[-1].append(end)

    def _stop_motion(self) -> None:
        """Stop dead where the tool is (a real board decelerates); queued blocks and the line in progress are lost."""
        block = self._planner.front()
        here = self._planner.stop()
        self.cut_short.update(self._block_lines)
        self._block_lines.clear()
        if block is not None and here != block.start:
            self._finished(dataclasses.replace(block, end=here))
        self._job = None

    # ---------------------------------------------------------------------------------------- lines

    def _start_job(self, number: int, raw: str, answer: bytes, events: list[Event], before: ModalState) -> None:
        """What a parsed line makes the machine do becomes the steps of a job, answered after its last step."""
        self._start_steps(number, raw, answer, self._steps(events, before))

    def _start_steps(self, number: int, raw: str, answer: bytes, steps: list[Step], logged: bool = True) -> None:
        """Make ``steps`` the job in progress (or answer at once when there are none)."""
        job = _Job(number, raw.strip(), answer, deque(steps), logged)
        if job.steps:
            self._job = job
        else:
            self._finish(job)

    def _motion(self) -> Motion:
        """The travel feed and acceleration the machine moves with: the profile's unless the firmware says."""
        return self.profile.motion

    def _steps(self, events: list[Event], before: ModalState) -> list[Step]:
        """The planner blocks and synchronised actions of one line, in the firmware's order of execution."""
        motion = self._motion()
        moves = sum(1 for e in events if isinstance(e, Move))
        z0, z1 = before.z_mm, self._interpreter.state.z_mm
        steps: list[Step] = []
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
                    steps.append(SYNC)  # the line is answered when the dwell is over
        return steps

    def _pen_at(self, commanded: tuple[float, float]) -> tuple[float, float]:
        """Where the pen is when the machine is at ``commanded``: the same, unless the machine is miscalibrated."""
        return commanded if self._carriage is None else self._carriage.drawn_mm

    def _start_stroke(self, point: tuple[float, float]) -> None:
        """Begin a new polyline at ``point``, labelled with the program section (pen) it belongs to."""
        self.strokes.append([point])
        self.stroke_sections.append(self._pauses)

    def _count_line(self) -> int:
        """Count a line that has something in it, as Faults counts lines; returns its number."""
        self.lines_received += 1
        return self.lines_received

    # ---------------------------------------------------------------------------------------- output

    def _answer(self, data: bytes, number: int) -> None:
        """Send the answer to line ``number`` (0: a line that is not counted), late if the faults say so."""
        faults, after = self.faults, None
        if number > 0 and number == faults.disconnect_after_lines:
            after = "hang up"
        elif number > 0 and number == faults.silent_after_lines:
            after = "freeze"
        if number > 0 and number == faults.garbage_after_lines:
            data += bytes(random.Random(faults.seed + number).randrange(256) for _ in range(24)) + b"\r\n"
        if faults.ack_delay_s > 0:
            self._late.append((self._t + faults.ack_delay_s, data, after))
        else:
            self._emit(data, after)

    def _emit(self, data: bytes, after: str | None = None) -> None:
        """Say ``data``; ``after``: "hang up" or "freeze" once it is said (the faults that end a board)."""
        if not (self.hung_up or self.frozen):
            self._out += data
            self.hung_up = after == "hang up"
            self.frozen = after == "freeze"

    def _hand_over(self, now: float) -> bytes:
        """Everything said so far, with the late answers that are due by ``now``."""
        while self._late and self._late[0][0] <= now:
            _, data, after = self._late.popleft()
            self._emit(data, after)
        out = bytes(self._out)
        self._out.clear()
        return out
