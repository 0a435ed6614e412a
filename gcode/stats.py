"""Measure a G-code program by running it through the reader: lengths, pen lifts, duration.

The duration follows a motion planner like GRBL's and Marlin's: each move accelerates and brakes at the
profile's acceleration (trapezoidal speed), consecutive moves flow into each other at the junction speed
that the junction deviation allows, and the machine stops wherever the program does something other than
move (a pen change, a dwell, a pause): both firmwares finish their queued motion before those.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from calibration import MachineProfile
from gcode.dialects import flavour_for
from gcode.reader import Dwell, Event, Move, PenChange, read_program

JUNCTION_DEVIATION_MM = 0.01  # GRBL's default $11 (Marlin's default is 0.013)


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


def compute_stats(gcode_lines: Iterable[str], profile: MachineProfile) -> PlanStats:
    """Statistics of a program as the reader interprets it; rapid moves run at the travel feed."""
    lines = list(gcode_lines)
    events = read_program(lines, flavour_for(profile))
    moves = [e for e in events if isinstance(e, Move)]
    return PlanStats(
        draw_mm=sum(math.dist(m.start, m.end) for m in moves if m.pen_down),
        travel_mm=sum(math.dist(m.start, m.end) for m in moves if not m.pen_down),
        pen_lifts=sum(1 for e in events if isinstance(e, PenChange) and not e.down),
        est_seconds=sum(_event_seconds(events, profile)),
        lines=sum(1 for line in lines if line.strip()),
    )


def elapsed_seconds(gcode_lines: Sequence[str], profile: MachineProfile) -> list[float]:
    """Estimated time from the start of the program to the end of each line: what a progress ETA needs."""
    events = read_program(gcode_lines, flavour_for(profile))
    per_line = [0.0] * (len(gcode_lines) + 1)
    for event, seconds in zip(events, _event_seconds(events, profile)):
        per_line[event.line_no] += seconds
    return list(itertools.accumulate(per_line[1:]))


def drawn_mm(gcode_lines: Sequence[str], line_numbers: Iterable[int], profile: MachineProfile) -> float:
    """Pen-down millimetres of the program's lines ``line_numbers`` (1-based): what they draw once run."""
    wanted = set(line_numbers)
    events = read_program(gcode_lines, flavour_for(profile))
    return sum(math.dist(e.start, e.end) for e in events if isinstance(e, Move) and e.pen_down and e.line_no in wanted)


def _event_seconds(events: list[Event], profile: MachineProfile) -> list[float]:
    """The time each event takes: moves as the planner blends them between stops, dwells as written."""
    times = [0.0] * len(events)
    run: list[int] = []  # indices of moves the planner blends, up to the next stop
    for index, event in enumerate(events + [None]):
        if isinstance(event, Move):
            run.append(index)
            continue
        for i, seconds in zip(run, move_times([events[i] for i in run], profile)):
            times[i] = seconds
        run = []
        if isinstance(event, Dwell):
            times[index] = event.seconds
    return times


def move_times(moves: list[Move], profile: MachineProfile) -> list[float]:
    """Time of each of ``moves`` executed back to back from rest to rest, with planned junction speeds."""
    accel = profile.motion.acceleration_mm_s2
    blocks = []  # (length, unit vector, top speed) of each move that goes somewhere
    for move in moves:
        dx, dy, dz = move.end[0] - move.start[0], move.end[1] - move.start[1], move.dz_mm
        length = math.sqrt(dx * dx + dy * dy + dz * dz)
        if length > 0:
            feed = profile.motion.travel_feed_mm_min if move.rapid else move.feed_mm_min
            blocks.append((length, (dx / length, dy / length, dz / length), feed / 60.0))
    if not blocks:
        return [0.0] * len(moves)
    # the fastest each junction may be crossed: both moves' top speeds and the junction deviation's limit
    entry = [0.0] + [
        min(prev[2], cur[2], junction_speed(prev[1], cur[1], accel)) for prev, cur in zip(blocks, blocks[1:])
    ] + [0.0]
    for i in range(len(blocks) - 1, -1, -1):  # backward: every move must be able to brake to its exit speed
        entry[i] = min(entry[i], math.sqrt(entry[i + 1] ** 2 + 2 * accel * blocks[i][0]))
    for i, block in enumerate(blocks):  # forward: and to accelerate to it
        entry[i + 1] = min(entry[i + 1], math.sqrt(entry[i] ** 2 + 2 * accel * block[0]))
    block_times = iter(block_seconds(b[0], entry[i], entry[i + 1], b[2], accel) for i, b in enumerate(blocks))
    return [next(block_times) if move.start != move.end or move.dz_mm else 0.0 for move in moves]


def junction_speed(unit_in: tuple[float, float, float], unit_out: tuple[float, float, float], accel: float) -> float:
    """GRBL's junction deviation limit: the speed at which the corner's centripetal acceleration is ``accel``."""
    cos_theta = -sum(a * b for a, b in zip(unit_in, unit_out))  # 1 for a full reversal, -1 for straight on
    if cos_theta > 0.999999:
        return 0.0
    if cos_theta < -0.999999:
        return math.inf
    sin_half = math.sqrt(0.5 * (1.0 - cos_theta))
    return math.sqrt(accel * JUNCTION_DEVIATION_MM * sin_half / (1.0 - sin_half))


def block_seconds(length_mm: float, v_in: float, v_out: float, v_max: float, accel: float) -> float:
    """Time for one move entered at ``v_in`` and left at ``v_out`` (reachable), cruising at most ``v_max``."""
    accel_mm = (v_max**2 - v_in**2) / (2 * accel)
    brake_mm = (v_max**2 - v_out**2) / (2 * accel)
    if accel_mm + brake_mm <= length_mm:
        return (v_max - v_in) / accel + (v_max - v_out) / accel + (length_mm - accel_mm - brake_mm) / v_max
    peak = math.sqrt(max((2 * accel * length_mm + v_in**2 + v_out**2) / 2, v_in**2, v_out**2))
    return (peak - v_in) / accel + (peak - v_out) / accel


def move_seconds(length_mm: float, speed_mm_s: float, accel_mm_s2: float) -> float:
    """Time for a move from rest to rest: trapezoidal speed, triangular when too short for full speed."""
    return block_seconds(length_mm, 0.0, 0.0, speed_mm_s, accel_mm_s2) if length_mm > 0 else 0.0
