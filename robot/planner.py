"""GRBL's planner buffer and steppers as a timeline: queued blocks run one after another in scaled time.

Consecutive moves flow into each other as in GRBL (and as :mod:`gcode.stats` estimates): when a block
starts to run, its exit speed is planned from the blocks queued behind it (a backward pass that brakes to
a stop after the last of them, with GRBL's junction-deviation speed at every corner) and from its entry
speed, which is the exit speed of the block before it. From then on the block runs as planned, a
trapezoid v_in -> v_peak -> v_out; blocks queued later only help the blocks after it. A dwell, and an empty
queue, is a stop. With the whole program queued before time moves, a run lasts exactly what
``gcode.stats.compute_stats`` estimates; a planner that runs short of blocks is slower, never faster.

Time is counted in clock seconds: a block of ``seconds`` machine seconds takes ``seconds * time_scale``
on the clock, so ``time_scale`` 1.0 is real time, 0.01 a hundred times faster and 0 instant.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

from gcode.stats import block_seconds, junction_speed

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Segment:
    """One planner block: a straight move at up to ``speed_mm_s``, or a dwell of ``dwell_s`` at ``start``."""

    start: Point
    end: Point
    speed_mm_s: float
    accel_mm_s2: float
    pen_down: bool = False
    dwell_s: float | None = None  # None for a move

    @classmethod
    def move(cls, start: Point, end: Point, speed_mm_s: float, accel_mm_s2: float, pen_down: bool) -> Segment:
        return cls(start, end, speed_mm_s, accel_mm_s2, pen_down)

    @classmethod
    def pause(cls, at: Point, seconds: float) -> Segment:
        """A G4 dwell: the machine stands at ``at`` for ``seconds``."""
        return cls(at, at, 0.0, 1.0, dwell_s=seconds)

    @property
    def dwell(self) -> bool:
        return self.dwell_s is not None

    @property
    def length_mm(self) -> float:
        return math.dist(self.start, self.end)

    @property
    def unit(self) -> Point:
        """The direction of a move as a unit vector (only for a move of some length)."""
        length = self.length_mm
        return tuple((e - s) / length for s, e in zip(self.start, self.end))  # type: ignore[return-value]


@dataclass(frozen=True)
class Trapezoid:
    """How one block runs: entered at ``v_in``, up to ``v_peak``, left at ``v_out`` (mm/s), in ``seconds``."""

    length_mm: float
    v_in: float
    v_peak: float
    v_out: float
    accel_mm_s2: float
    seconds: float

    @classmethod
    def plan(cls, length_mm: float, v_in: float, v_out: float, v_max: float, accel_mm_s2: float) -> Trapezoid:
        """The fastest profile between reachable entry and exit speeds, timed like ``gcode.stats``."""
        a = accel_mm_s2
        if (v_max**2 - v_in**2) / (2 * a) + (v_max**2 - v_out**2) / (2 * a) <= length_mm:  # as block_seconds
            peak = v_max
        else:  # too short to cruise: accelerate, then brake at once
            peak = math.sqrt(max((2 * a * length_mm + v_in**2 + v_out**2) / 2, v_in**2, v_out**2))
        return cls(length_mm, v_in, peak, v_out, a, block_seconds(length_mm, v_in, v_out, v_max, a))

    @classmethod
    def standing(cls, seconds: float) -> Trapezoid:
        """A dwell: no way at all, ``seconds`` long."""
        return cls(0.0, 0.0, 0.0, 0.0, 1.0, seconds)

    def _phases(self) -> tuple[float, float]:
        """Seconds spent accelerating and seconds spent braking."""
        a = self.accel_mm_s2
        return (self.v_peak - self.v_in) / a, (self.v_peak - self.v_out) / a

    def speed_at(self, t_s: float) -> float:
        """Speed in mm/s ``t_s`` machine seconds into the block."""
        if self.length_mm == 0.0 or not 0.0 <= t_s <= self.seconds:
            return 0.0
        a = self.accel_mm_s2
        return min(self.v_peak, self.v_in + a * t_s, self.v_out + a * (self.seconds - t_s))

    def distance_at(self, t_s: float) -> float:
        """Millimetres done ``t_s`` machine seconds into the block."""
        if t_s <= 0.0:
            return 0.0
        if t_s >= self.seconds:
            return self.length_mm
        rise, fall = self._phases()
        a = self.accel_mm_s2
        if t_s < rise:
            return self.v_in * t_s + 0.5 * a * t_s**2
        left = self.seconds - t_s
        if left < fall:
            return self.length_mm - (self.v_out * left + 0.5 * a * left**2)
        return self.v_in * rise + 0.5 * a * rise**2 + self.v_peak * (t_s - rise)


class Planner:
    """Queued blocks and how far the first one has run, in clock seconds scaled by ``time_scale``.

    The planner does not read a clock: its owner says how much time passed (:meth:`run_front`) and takes
    finished blocks off (:meth:`pop`), so that it can interleave them with its own work in time order.
    The first block's profile is planned when time first flows into it; blocks added before that (at the
    same clock time) still count.
    """

    def __init__(self, blocks: int, time_scale: float, position: Point) -> None:
        self.blocks = blocks
        self.time_scale = time_scale
        self._queue: deque[Segment] = deque()
        self._progress_s = 0.0  # clock seconds the first block has run
        self._rest: Point = position  # where the machine stands when nothing runs
        self._entry_mm_s = 0.0  # the speed the next block starts at: the exit speed of the last one
        self._plan: Trapezoid | None = None  # the first block's profile, once planned
        self._started = False  # time has flowed into the first block: its plan is fixed

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def full(self) -> bool:
        return len(self._queue) >= self.blocks

    @property
    def moving(self) -> bool:
        """True while a move (not a dwell) is queued: GRBL's Run state."""
        return any(not block.dwell for block in self._queue)

    def add(self, block: Segment) -> None:
        self._queue.append(block)
        if not self._started:
            self._plan = None  # the first block may now leave faster

    def front(self) -> Segment | None:
        return self._queue[0] if self._queue else None

    def front_plan(self) -> Trapezoid:
        """How the first block runs (planned now unless it has started)."""
        if self._plan is None:
            self._plan = self._plan_front()
        return self._plan

    def front_left_s(self) -> float:
        """Clock seconds until the first block is done (0 when nothing is queued)."""
        if not self._queue:
            return 0.0
        return self.front_plan().seconds * self.time_scale - self._progress_s

    def run_front(self, clock_s: float) -> None:
        """Let the first block run for ``clock_s`` more seconds (but not past its end)."""
        if self._queue and clock_s > 0.0:
            self._started = True
            self._progress_s = min(self._progress_s + clock_s, self.front_plan().seconds * self.time_scale)

    def pop(self) -> Segment:
        """Take the first block off as finished: the machine now stands at its end."""
        exit_mm_s = self.front_plan().v_out
        block = self._queue.popleft()
        self._entry_mm_s = exit_mm_s if self._queue else 0.0
        self._progress_s = 0.0
        self._plan = None
        self._started = False
        self._rest = block.end
        return block

    def stop(self) -> Point:
        """Drop every block at once (reset, alarm) and return where the tool stopped."""
        here = self.position
        self._queue.clear()
        self._progress_s = 0.0
        self._rest = here
        self._entry_mm_s = 0.0
        self._plan = None
        self._started = False
        return here

    def _front_t_s(self) -> float:
        """Machine seconds the first block has run."""
        return self._progress_s / self.time_scale if self.time_scale > 0 else 0.0

    @property
    def position(self) -> Point:
        """Where the tool is now: along the first block, or at rest."""
        block = self.front()
        if block is None:
            return self._rest
        length = block.length_mm
        if length == 0.0:
            return block.start
        f = self.front_plan().distance_at(self._front_t_s()) / length
        return tuple(s + (e - s) * f for s, e in zip(block.start, block.end))  # type: ignore[return-value]

    @property
    def speed_mm_s(self) -> float:
        """The tool's speed now (GRBL's realtime feed rate, in mm/s)."""
        return 0.0 if not self._queue else self.front_plan().speed_at(self._front_t_s())

    def _plan_front(self) -> Trapezoid:
        """The first block's profile: entered at the last exit speed, left as fast as the queue behind allows."""
        front = self._queue[0]
        if front.dwell_s is not None:
            return Trapezoid.standing(front.dwell_s)
        v_in, length = self._entry_mm_s, front.length_mm
        if length == 0.0:  # no way to go: the speed passes through unchanged
            return Trapezoid(0.0, v_in, v_in, v_in, front.accel_mm_s2, 0.0)
        exit_limit = _exit_limit(front, self._queue)
        v_out = min(exit_limit, math.sqrt(v_in**2 + 2 * front.accel_mm_s2 * length))
        return Trapezoid.plan(length, v_in, v_out, front.speed_mm_s, front.accel_mm_s2)


def _exit_limit(front: Segment, queue: deque[Segment]) -> float:
    """The fastest ``front`` may leave so that the moves queued behind it can still stop after the last one."""
    chain = [front]
    for block in itertools.islice(queue, 1, None):
        if block.dwell:
            break
        if block.length_mm > 0.0:
            chain.append(block)
    accel = front.accel_mm_s2
    entry = 0.0  # the entry speed limit of the block after the last: a stop
    for prev, block in zip(reversed(chain[:-1]), reversed(chain[1:])):
        corner = min(prev.speed_mm_s, block.speed_mm_s, junction_speed(prev.unit, block.unit, accel))
        entry = min(corner, math.sqrt(entry**2 + 2 * accel * block.length_mm))
    return entry
