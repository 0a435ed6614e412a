"""GRBL's planner buffer and steppers as a timeline: queued blocks run one after another in scaled time.

Each block is a straight move from rest to rest with a trapezoidal speed profile (the profile of
:func:`gcode.stats.move_seconds`, so a simulated run lasts what the statistics estimate), or a dwell. Real
GRBL blends the speed through the junctions between blocks; this model stops at every one of them.

Time is counted in clock seconds: a block of ``seconds`` machine seconds takes ``seconds * time_scale``
on the clock, so ``time_scale`` 1.0 is real time, 0.01 a hundred times faster and 0 instant.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from gcode.stats import move_seconds

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Segment:
    """One planner block: a move from rest to rest at up to ``speed_mm_s``, or a dwell standing at ``start``."""

    start: Point
    end: Point
    speed_mm_s: float
    accel_mm_s2: float
    seconds: float  # machine seconds from start to end
    pen_down: bool = False
    dwell: bool = False

    @classmethod
    def move(cls, start: Point, end: Point, speed_mm_s: float, accel_mm_s2: float, pen_down: bool) -> Segment:
        """A straight move timed like ``gcode.stats.move_seconds``."""
        seconds = move_seconds(math.dist(start, end), speed_mm_s, accel_mm_s2)
        return cls(start, end, speed_mm_s, accel_mm_s2, seconds, pen_down)

    @classmethod
    def pause(cls, at: Point, seconds: float) -> Segment:
        """A G4 dwell: the machine stands at ``at`` for ``seconds``."""
        return cls(at, at, 0.0, 1.0, seconds, dwell=True)

    @property
    def length_mm(self) -> float:
        return math.dist(self.start, self.end)

    def _peak(self) -> tuple[float, float]:
        """(top speed, seconds spent accelerating to it); triangular when the move is too short for full speed."""
        a = self.accel_mm_s2
        top = min(self.speed_mm_s, math.sqrt(self.length_mm * a))
        return top, top / a

    def speed_at(self, t_s: float) -> float:
        """Speed in mm/s ``t_s`` machine seconds after the block started."""
        if self.dwell or not 0.0 < t_s < self.seconds:
            return 0.0
        top, _ = self._peak()
        return min(top, self.accel_mm_s2 * t_s, self.accel_mm_s2 * (self.seconds - t_s))

    def point_at(self, t_s: float) -> Point:
        """Where the tool is ``t_s`` machine seconds after the block started."""
        if self.dwell or t_s <= 0.0 or self.length_mm == 0.0:
            return self.start
        if t_s >= self.seconds:
            return self.end
        top, ramp = self._peak()
        a = self.accel_mm_s2
        if t_s < ramp:
            done = 0.5 * a * t_s**2
        elif t_s <= self.seconds - ramp:
            done = 0.5 * a * ramp**2 + top * (t_s - ramp)
        else:
            done = self.length_mm - 0.5 * a * (self.seconds - t_s) ** 2
        f = done / self.length_mm
        return tuple(s + (e - s) * f for s, e in zip(self.start, self.end))  # type: ignore[return-value]


class Planner:
    """Queued blocks and how far the first one has run, in clock seconds scaled by ``time_scale``.

    The planner does not read a clock: its owner says how much time passed (:meth:`run_front`) and takes
    finished blocks off (:meth:`pop`), so that it can interleave them with its own work in time order.
    """

    def __init__(self, blocks: int, time_scale: float, position: Point) -> None:
        self.blocks = blocks
        self.time_scale = time_scale
        self._queue: deque[Segment] = deque()
        self._progress_s = 0.0  # clock seconds the first block has run
        self._rest: Point = position  # where the machine stands when nothing runs

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

    def front_left_s(self) -> float:
        """Clock seconds until the first block is done (0 when nothing is queued)."""
        if not self._queue:
            return 0.0
        return self._queue[0].seconds * self.time_scale - self._progress_s

    def run_front(self, clock_s: float) -> None:
        """Let the first block run for ``clock_s`` more seconds (but not past its end)."""
        if self._queue:
            self._progress_s = min(self._progress_s + clock_s, self._queue[0].seconds * self.time_scale)

    def pop(self) -> Segment:
        """Take the first block off as finished: the machine now stands at its end."""
        block = self._queue.popleft()
        self._progress_s = 0.0
        self._rest = block.end
        return block

    def front(self) -> Segment | None:
        return self._queue[0] if self._queue else None

    def _front_t_s(self) -> float:
        """Machine seconds the first block has run."""
        return self._progress_s / self.time_scale if self.time_scale > 0 else 0.0

    @property
    def position(self) -> Point:
        """Where the tool is now: along the first block, or at rest."""
        block = self.front()
        return self._rest if block is None else block.point_at(self._front_t_s())

    @property
    def speed_mm_s(self) -> float:
        """The tool's speed now (GRBL's realtime feed rate, in mm/s)."""
        block = self.front()
        return 0.0 if block is None else block.speed_at(self._front_t_s())

    def stop(self) -> Point:
        """Drop every block at once (reset, alarm) and return where the tool stopped."""
        here = self.position
        self._queue.clear()
        self._progress_s = 0.0
        self._rest = here
        return here
