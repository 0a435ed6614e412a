"""Measure a G-code program by running it through the reader: lengths, pen lifts, duration."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from calibration import MachineProfile
from gcode.reader import Dwell, Move, PenChange, read_program


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
    draw_mm = travel_mm = seconds = 0.0
    pen_lifts = 0
    for event in read_program(lines):
        if isinstance(event, Move):
            length = math.dist(event.start, event.end)
            if event.pen_down:
                draw_mm += length
            else:
                travel_mm += length
            feed = profile.motion.travel_feed_mm_min if event.rapid else event.feed_mm_min
            seconds += move_seconds(length, feed / 60.0, profile.motion.acceleration_mm_s2)
        elif isinstance(event, Dwell):
            seconds += event.seconds
        elif isinstance(event, PenChange) and not event.down:
            pen_lifts += 1
    return PlanStats(
        draw_mm=draw_mm,
        travel_mm=travel_mm,
        pen_lifts=pen_lifts,
        est_seconds=seconds,
        lines=sum(1 for line in lines if line.strip()),
    )


def move_seconds(length_mm: float, speed_mm_s: float, accel_mm_s2: float) -> float:
    """Time for a move from rest to rest: trapezoidal speed, triangular when too short for full speed."""
    if length_mm * accel_mm_s2 >= speed_mm_s**2:  # room to reach full speed and brake again
        return length_mm / speed_mm_s + speed_mm_s / accel_mm_s2
    return 2.0 * math.sqrt(length_mm / accel_mm_s2)
