"""Measure a G-code program by running it through the reader: lengths, pen lifts, duration.

The duration follows the firmware's motion planner (GRBL 1.1h's ``planner.c``, Marlin's ``planner.cpp``):
each move accelerates and brakes at the profile's acceleration (trapezoidal speed), consecutive moves flow
into each other at the junction speed that the junction deviation allows (and that neither move's feed
exceeds), and the machine stops wherever the program does something other than move (a pen change, a
dwell, a pause): both firmwares finish their queued motion before those. For GRBL the acceleration is a
limit on each axis ($120, $121; ``limit_value_by_axis_maximum``): a diagonal move accelerates faster, and a
corner's limit is taken along the direction in which the velocity changes. Marlin's is along the path.
Rapid moves run at the travel feed along the path (GRBL would run each axis of a diagonal G0 at $110/$111).

The look-ahead is the firmware's: its planner holds PLANNER_BLOCKS moves (GRBL's and Marlin's
BLOCK_BUFFER_SIZE is 16, and both keep one slot free) and plans the last of them to stop. With the host
keeping the planner full, the move being executed shares the planner with the next PLANNER_BLOCKS - 1
moves, so it may leave no faster than they let the machine brake to a stop at the end of the last of
them: short moves at a high feed hold at most v^2 = 2 a 14 L (0.3 mm moves at 500 mm/s^2: 65 mm/s).
GRBL's stepper cuts each planned block into step segments of 10 ms (ACCELERATION_TICKS_PER_SECOND) that
integrate the same trapezoid, the last one cut short at the end of the block: they add no time.
Against GRBL 1.1h itself (grbl-sim, ``benchmarks/bench_firmware_timing.py``) the estimate is within 1 %
on short zigzags, corners, dense circles and long lines, and on short moves held back by the look-ahead.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.moves import DWELL, MOVE, PEN_UP, Timeline, timeline_of_events
from gcode.reader import Move, read_program

JUNCTION_DEVIATION_MM = 0.01  # GRBL's default $11 (Marlin's default is 0.013)
PLANNER_BLOCKS = 15  # moves the planner holds: BLOCK_BUFFER_SIZE 16 less the free slot, GRBL's and Marlin's
MINIMUM_FEED_MM_MIN = 1.0  # GRBL's MINIMUM_FEED_RATE: no block is planned slower


@dataclass(frozen=True)
class PlanStats:
    """What a program does: pen-down and pen-up mm, pen lifts, estimated seconds, non-blank lines."""

    draw_mm: float
    travel_mm: float
    pen_lifts: int
    est_seconds: float
    lines: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def compute_stats(
    gcode_lines: Iterable[str], profile: MachineProfile, planner_blocks: int = PLANNER_BLOCKS
) -> PlanStats:
    """Statistics of a program as the reader interprets it; rapid moves run at the travel feed.

    ``planner_blocks`` is the firmware's look-ahead (a board with a longer planner buffer runs faster).
    """
    lines = list(gcode_lines)
    timeline = timeline_of_events(read_program(lines, flavour_for(profile)))
    return timeline_stats(timeline, sum(1 for line in lines if line.strip()), profile, planner_blocks)


def timeline_stats(
    timeline: Timeline, line_count: int, profile: MachineProfile, planner_blocks: int = PLANNER_BLOCKS
) -> PlanStats:
    """Statistics of what a program does (``line_count``: its non-blank lines); see :func:`compute_stats`."""
    delta = timeline.end_mm - timeline.start_mm
    lengths = list(map(math.hypot, delta[:, 0].tolist(), delta[:, 1].tolist()))  # math.dist of each move
    return PlanStats(
        draw_mm=sum(itertools.compress(lengths, timeline.pen_down.tolist())),
        travel_mm=sum(itertools.compress(lengths, (~timeline.pen_down).tolist())),
        pen_lifts=int(np.count_nonzero(timeline.kinds == PEN_UP)),
        est_seconds=sum(_event_seconds(timeline, profile, planner_blocks).tolist()),
        lines=line_count,
    )


def elapsed_seconds(
    gcode_lines: Sequence[str], profile: MachineProfile, planner_blocks: int = PLANNER_BLOCKS
) -> list[float]:
    """Estimated time from the start of the program to the end of each line: what a progress ETA needs."""
    timeline = timeline_of_events(read_program(gcode_lines, flavour_for(profile)))
    per_line = [0.0] * (len(gcode_lines) + 1)
    for line_no, seconds in zip(timeline.line_no.tolist(), _event_seconds(timeline, profile, planner_blocks).tolist()):
        per_line[line_no] += seconds
    return list(itertools.accumulate(per_line[1:]))


def drawn_mm(gcode_lines: Sequence[str], line_numbers: Iterable[int], profile: MachineProfile) -> float:
    """Pen-down millimetres of the program's lines ``line_numbers`` (1-based): what they draw once run."""
    wanted = set(line_numbers)
    events = read_program(gcode_lines, flavour_for(profile))
    return sum(math.dist(e.start, e.end) for e in events if isinstance(e, Move) and e.pen_down and e.line_no in wanted)


def _event_seconds(timeline: Timeline, profile: MachineProfile, planner_blocks: int) -> np.ndarray:
    """The time each event takes: moves as the planner blends them between stops, dwells as written."""
    kinds = timeline.kinds
    is_move = kinds == MOVE
    after_stop = ~np.concatenate(([False], is_move[:-1]))[is_move]  # the move starts from rest
    times = np.zeros(len(kinds))
    times[kinds == DWELL] = timeline.dwell_s
    times[is_move] = _planned_seconds(timeline, after_stop, profile, planner_blocks)
    return times


def move_times(moves: list[Move], profile: MachineProfile, planner_blocks: int = PLANNER_BLOCKS) -> list[float]:
    """Time of each of ``moves`` executed back to back from rest to rest, planned ``planner_blocks`` at a time."""
    timeline = timeline_of_events(moves)
    after_stop = np.zeros(len(moves), dtype=bool)
    after_stop[:1] = True
    return _planned_seconds(timeline, after_stop, profile, planner_blocks).tolist()


def _planned_seconds(
    timeline: Timeline, after_stop: np.ndarray, profile: MachineProfile, planner_blocks: int
) -> np.ndarray:
    """Time of each move as the planner runs them, stopping before each move marked in ``after_stop``."""
    times = np.zeros(len(after_stop))
    start, end, dz = timeline.start_mm, timeline.end_mm, timeline.dz_mm
    blocks = (start[:, 0] != end[:, 0]) | (start[:, 1] != end[:, 1]) | (dz != 0)  # GRBL drops empty blocks
    if not blocks.any():
        return times
    motion = profile.motion
    delta = np.stack((end[blocks, 0] - start[blocks, 0], end[blocks, 1] - start[blocks, 1], dz[blocks]), axis=1)
    length = np.sqrt((delta**2).sum(axis=1))
    unit = delta / length[:, None]
    feed = np.where(timeline.rapid[blocks], motion.travel_feed_mm_min, timeline.feed_mm_min[blocks])
    nominal = np.maximum(feed, MINIMUM_FEED_MM_MIN) / 60.0
    accel, junction_accel = _accelerations(unit, motion.acceleration_mm_s2, per_axis=profile.firmware == "grbl")
    # the fastest each block may be entered (squared): a stop after a non-move, else the junction's limit
    max_entry_sqr = np.zeros(len(unit))
    corner = junction_speed_sqr(-(unit[1:] * unit[:-1]).sum(axis=1), junction_accel)
    max_entry_sqr[1:] = np.minimum(np.minimum(nominal[1:], nominal[:-1]) ** 2, corner)
    max_entry_sqr[after_stop[blocks]] = 0.0
    exit_sqr = _planned_exit_sqr(max_entry_sqr, 2 * accel * length, planner_blocks)
    v_in, v_out = np.sqrt(np.concatenate(([0.0], exit_sqr[:-1]))), np.sqrt(exit_sqr)
    times[blocks] = _block_seconds(length, v_in, v_out, nominal, accel)
    return times


def _accelerations(unit: np.ndarray, accel: float, per_axis: bool) -> tuple[np.ndarray, np.ndarray]:
    """The acceleration of each block along its direction ``unit`` and of each junction between two.

    GRBL's ``$120``.. are limits per axis (``limit_value_by_axis_maximum``): a diagonal block may accelerate
    faster than one along an axis, and a corner's centripetal limit is taken along the direction in which
    the velocity changes. Marlin's M204 acceleration is along the path.
    """
    if not per_axis:
        return np.full(len(unit), accel), np.full(len(unit) - 1, accel)
    change = unit[1:] - unit[:-1]
    with np.errstate(invalid="ignore"):  # straight on: no change, and no limit from the junction anyway
        change /= np.sqrt((change**2).sum(axis=1))[:, None]
        return axis_limited(accel, unit), np.nan_to_num(axis_limited(accel, change), nan=accel)


def axis_limited(value: float, unit: np.ndarray) -> np.ndarray:
    """The most along each direction in ``unit`` (one a row) that keeps every axis within ``value``."""
    return value / np.abs(unit).max(axis=-1)


def _planned_exit_sqr(max_entry_sqr: np.ndarray, brake_sqr: np.ndarray, planner_blocks: int) -> np.ndarray:
    """Each block's exit speed squared as executed: what the planner allowed when the block ran.

    ``max_entry_sqr[k]`` caps block k's entry (0 where it starts from rest), ``brake_sqr[k]`` is 2 a L_k,
    by which block k changes the squared speed. Block i shares the planner with blocks i+1 .. i+B-1
    (B = ``planner_blocks``), the last of them planned to stop: its exit is the entry of block i+1 as the
    backward pass over that window allows, and no more than it can reach from its own entry.
    """
    n = len(max_entry_sqr)
    window = min(planner_blocks - 1, n)  # a longer planner than the program sees all of it
    padding = np.zeros(window)
    cap = np.concatenate((max_entry_sqr[1:], padding))  # cap[i + d]: the limit at the start of block i+1+d
    gain = np.concatenate((brake_sqr[1:], padding))
    limit = np.zeros(n)  # backward over the window, from a stop after block i + window
    for d in range(window - 1, -1, -1):
        limit = np.minimum(cap[d : d + n], limit + gain[d : d + n])
    exit_sqr, speed_sqr = [], 0.0  # forward: each block starts at the exit of the one before
    for block_limit, block_gain in zip(limit.tolist(), brake_sqr.tolist()):
        speed_sqr = min(block_limit, speed_sqr + block_gain)
        exit_sqr.append(speed_sqr)
    return np.array(exit_sqr)


def junction_speed_sqr(cos_theta: np.ndarray, accel: float | np.ndarray) -> np.ndarray:
    """GRBL's junction deviation limit squared, from ``cos_theta`` = -(u_in . u_out) of each junction."""
    sin_half = np.sqrt(0.5 * (1.0 - np.clip(cos_theta, -1.0, 1.0)))
    with np.errstate(divide="ignore"):
        limit = accel * JUNCTION_DEVIATION_MM * sin_half / (1.0 - sin_half)
    return np.where(cos_theta > 0.999999, 0.0, np.where(cos_theta < -0.999999, np.inf, limit))


def junction_speed(
    unit_in: tuple[float, float, float], unit_out: tuple[float, float, float], accel: float, per_axis: bool = True
) -> float:
    """GRBL's junction deviation limit: the speed at which the corner's centripetal acceleration is ``accel``.

    With ``per_axis`` (GRBL) ``accel`` is each axis' limit, taken along the direction the velocity changes in.
    """
    units = np.array([unit_in, unit_out], dtype=float)
    _, junction_accel = _accelerations(units, accel, per_axis)
    cos_theta = -float(units[0] @ units[1])  # 1 for a full reversal, -1 for straight on
    return math.sqrt(float(junction_speed_sqr(np.array([cos_theta]), junction_accel)[0]))


def block_seconds(length_mm: float, v_in: float, v_out: float, v_max: float, accel: float) -> float:
    """Time for one move entered at ``v_in`` and left at ``v_out`` (reachable), cruising at most ``v_max``."""
    arrays = (np.array([value]) for value in (length_mm, v_in, v_out, v_max, accel))
    return float(_block_seconds(*arrays)[0])


def _block_seconds(
    length: np.ndarray, v_in: np.ndarray, v_out: np.ndarray, v_max: np.ndarray, accel: np.ndarray
) -> np.ndarray:
    """``block_seconds`` of many blocks at once: a trapezoid, or a triangle when too short to cruise."""
    accel_mm = (v_max**2 - v_in**2) / (2 * accel)
    brake_mm = (v_max**2 - v_out**2) / (2 * accel)
    cruise = (v_max - v_in) / accel + (v_max - v_out) / accel + (length - accel_mm - brake_mm) / v_max
    peak = np.sqrt(np.maximum(np.maximum((2 * accel * length + v_in**2 + v_out**2) / 2, v_in**2), v_out**2))
    return np.where(accel_mm + brake_mm <= length, cruise, (peak - v_in) / accel + (peak - v_out) / accel)


def move_seconds(length_mm: float, speed_mm_s: float, accel_mm_s2: float) -> float:
    """Time for a move from rest to rest: trapezoidal speed, triangular when too short for full speed."""
    return block_seconds(length_mm, 0.0, 0.0, speed_mm_s, accel_mm_s2) if length_mm > 0 else 0.0
