"""GRBL's planner buffer and steppers as a timeline: queued blocks run one after another in scaled time.

Consecutive moves flow into each other as in GRBL 1.1h (and as :mod:`gcode.stats` estimates): when a block
starts to run, its exit speed is planned from the blocks queued behind it (``planner_recalculate``'s
backward pass, braking to a stop after the last of them, with the junction-deviation speed at every
corner and neither block's feed exceeded) and from its entry speed, which is the exit speed of the block
before it. Accelerations are limits per axis, as GRBL's ``limit_value_by_axis_maximum`` takes them
(``per_axis``; Marlin's are along the path). A board of 15 blocks (BLOCK_BUFFER_SIZE 16, one slot kept
free) whose host keeps it full runs every block with the next 14 behind it: a run then lasts exactly what
``gcode.stats.compute_stats`` estimates; a planner that runs short of blocks is slower, never faster.
A move that goes nowhere takes no block, as in GRBL.

A block added while the first one runs may still raise that block's exit speed, as GRBL's
``st_update_plan_block_parameters`` makes the stepper re-plan the rest of its block from the speed it has
reached; but not the part already cut into step segments (the running one and those prepared after it:
SEGMENTS_AHEAD segments of DT_SEGMENT_S in ``st_prep_buffer``'s segment buffer), which runs as first
planned. So a host that falls behind costs stops, as on the board. A dwell, and an empty queue, is a stop.

Time is counted in clock seconds: a block of ``seconds`` machine seconds takes ``seconds * time_scale``
on the clock, so ``time_scale`` 1.0 is real time, 0.01 a hundred times faster and 0 instant.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from gcode.stats import MINIMUM_FEED_MM_MIN, axis_limited, block_seconds, junction_speed

Point = tuple[float, float, float]

DT_SEGMENT_S = 0.01  # GRBL's step segments: 1 / ACCELERATION_TICKS_PER_SECOND
SEGMENTS_AHEAD = 5  # SEGMENT_BUFFER_SIZE 6 less the free slot: the running segment and those prepared after it


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
    def nominal_mm_s(self) -> float:
        """The speed the planner aims for: the feed, but never below GRBL's MINIMUM_FEED_RATE."""
        return max(self.speed_mm_s, MINIMUM_FEED_MM_MIN / 60.0)

    def accel_along(self, per_axis: bool) -> float:
        """The move's acceleration along its path: ``accel_mm_s2`` itself, or as a limit on each axis (GRBL)."""
        return float(axis_limited(self.accel_mm_s2, np.array(self.unit))) if per_axis else self.accel_mm_s2

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


@dataclass(frozen=True)
class Piece:
    """Part of a block's run: ``profile`` from ``start_s`` machine seconds and ``start_mm`` into the block."""

    start_s: float
    start_mm: float
    profile: Trapezoid


@dataclass(frozen=True)
class BlockRun:
    """How the first block runs: its pieces one after another, each until the next one starts.

    A block runs as one trapezoid unless blocks queued while it ran let it leave faster: then it runs as
    first planned up to the point where the stepper took the new plan, and as re-planned from there.
    """

    pieces: tuple[Piece, ...]

    @classmethod
    def of(cls, profile: Trapezoid) -> BlockRun:
        return cls((Piece(0.0, 0.0, profile),))

    @property
    def seconds(self) -> float:
        return self.pieces[-1].start_s + self.pieces[-1].profile.seconds

    @property
    def v_out(self) -> float:
        return self.pieces[-1].profile.v_out

    def _piece_at(self, t_s: float) -> Piece:
        return next((p for p in reversed(self.pieces) if p.start_s <= t_s), self.pieces[0])

    def speed_at(self, t_s: float) -> float:
        """Speed in mm/s ``t_s`` machine seconds into the block."""
        piece = self._piece_at(t_s)
        return piece.profile.speed_at(t_s - piece.start_s)

    def distance_at(self, t_s: float) -> float:
        """Millimetres done ``t_s`` machine seconds into the block."""
        piece = self._piece_at(t_s)
        return piece.start_mm + piece.profile.distance_at(t_s - piece.start_s)

    def replanned(self, from_s: float, v_out: float, v_max: float) -> BlockRun:
        """The same run up to ``from_s``, then the fastest way from there to an exit at ``v_out`` (reachable)."""
        start_mm, first = self.distance_at(from_s), self.pieces[0].profile  # each piece has the block's acceleration
        rest = Trapezoid.plan(first.length_mm - start_mm, self.speed_at(from_s), v_out, v_max, first.accel_mm_s2)
        kept = tuple(p for p in self.pieces if p.start_s < from_s)
        return BlockRun((*kept, Piece(from_s, start_mm, rest)))


class Planner:
    """Queued blocks and how far the first one has run, in clock seconds scaled by ``time_scale``.

    The planner does not read a clock: its owner says how much time passed (:meth:`run_front`) and takes
    finished blocks off (:meth:`pop`), so that it can interleave them with its own work in time order.
    The first block's profile is planned when time first flows into it; blocks added before that (at the
    same clock time) still count, and blocks added later may still speed up the rest of it.
    """

    def __init__(self, blocks: int, time_scale: float, position: Point, per_axis: bool = True) -> None:
        self.blocks = blocks
        self.time_scale = time_scale
        self.per_axis = per_axis  # accelerations are limits per axis (GRBL), not along the path (Marlin)
        self._queue: deque[Segment] = deque()
        self._progress_s = 0.0  # clock seconds the first block has run
        self._rest: Point = position  # where the machine stands when nothing runs
        self._entry_mm_s = 0.0  # the speed the next block starts at: the exit speed of the last one
        self._run: BlockRun | None = None  # the first block's profile, once planned
        self._started = False  # time has flowed into the first block: what ran of it is fixed

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def full(self) -> bool:
        """No room for another block; a move that goes nowhere takes none, as GRBL drops it (PLAN_EMPTY_BLOCK)."""
        return sum(1 for block in self._queue if block.dwell or block.length_mm > 0.0) >= self.blocks

    @property
    def moving(self) -> bool:
        """True while a move (not a dwell) is queued: GRBL's Run state."""
        return any(not block.dwell for block in self._queue)

    def add(self, block: Segment) -> None:
        self._queue.append(block)
        if not self._started:
            self._run = None  # the first block may now leave faster
        elif self._run is not None:
            self._run = self._sped_up(self._run)

    def front(self) -> Segment | None:
        return self._queue[0] if self._queue else None

    def front_plan(self) -> BlockRun:
        """How the first block runs (planned now unless it has started)."""
        if self._run is None:
            self._run = self._plan_front()
        return self._run

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
        self._run = None
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
        self._run = None
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

    def _plan_front(self) -> BlockRun:
        """The first block's profile: entered at the last exit speed, left as fast as the queue behind allows."""
        front = self._queue[0]
        if front.dwell_s is not None:
            return BlockRun.of(Trapezoid.standing(front.dwell_s))
        v_in, length = self._entry_mm_s, front.length_mm
        if length == 0.0:  # no way to go: the speed passes through unchanged
            return BlockRun.of(Trapezoid(0.0, v_in, v_in, v_in, front.accel_mm_s2, 0.0))
        accel = front.accel_along(self.per_axis)
        v_out = min(_exit_limit(self._queue, self.per_axis), math.sqrt(v_in**2 + 2 * accel * length))
        return BlockRun.of(Trapezoid.plan(length, v_in, v_out, front.nominal_mm_s, accel))

    def _sped_up(self, run: BlockRun) -> BlockRun:
        """The running first block re-planned for a longer queue, beyond the segments already prepared."""
        front = self._queue[0]
        if front.dwell or front.length_mm == 0.0:
            return run
        limit = _exit_limit(self._queue, self.per_axis)
        from_s = (math.floor(self._front_t_s() / DT_SEGMENT_S) + SEGMENTS_AHEAD) * DT_SEGMENT_S
        if limit <= run.v_out or from_s >= run.seconds:
            return run  # no faster exit, or the whole rest of the block is in the segment buffer already
        v_from, rest_mm = run.speed_at(from_s), front.length_mm - run.distance_at(from_s)
        v_out = min(limit, math.sqrt(v_from**2 + 2 * front.accel_along(self.per_axis) * rest_mm))
        return run.replanned(from_s, v_out, front.nominal_mm_s)


def _exit_limit(queue: deque[Segment], per_axis: bool) -> float:
    """The fastest the first block may leave so that the moves queued behind it can still stop after the last."""
    chain = [queue[0]]
    for block in itertools.islice(queue, 1, None):
        if block.dwell:
            break
        if block.length_mm > 0.0:
            chain.append(block)
    limit_sqr = 0.0  # the entry speed limit (squared) of the block after the last: a stop
    for prev, block in zip(reversed(chain[:-1]), reversed(chain[1:])):
        turn = junction_speed(prev.unit, block.unit, block.accel_mm_s2, per_axis)
        corner = min(prev.nominal_mm_s, block.nominal_mm_s, turn)
        limit_sqr = min(corner**2, limit_sqr + 2 * block.accel_along(per_axis) * block.length_mm)
    return math.sqrt(limit_sqr)
