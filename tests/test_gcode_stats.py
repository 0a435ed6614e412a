"""Statistics of a program: lengths, pen lifts, line count, and a trapezoidal duration estimate."""

from __future__ import annotations

import math

import pytest
import vpype

from calibration import default_profile
from gcode import compute_stats, emit_gcode
from gcode.stats import move_seconds

# The default profile: travel 6000 mm/min = 100 mm/s, acceleration 500 mm/s^2.
PROGRAM = """\
(hand-made)
G21 G90

G0 X30 Y40
M3 S1000
G4 P0.5
G1 X30 Y41 F600
G1 X30 Y41.1
M5
M3 S1000
G1 X60 Y41.1
M5
G0 X60 Y0
M2
""".splitlines()


def test_lengths_lifts_and_lines_of_a_hand_made_program():
    stats = compute_stats(PROGRAM, default_profile())
    assert stats.travel_mm == pytest.approx(50 + 41.1)  # 3-4-5 triangle to (30, 40), then straight down
    assert stats.draw_mm == pytest.approx(1 + 0.1 + 30)
    assert stats.pen_lifts == 2
    assert stats.lines == 13  # the blank line does not count, the comment does


def test_duration_is_trapezoidal_per_move_plus_dwells():
    # 50 mm at 100 mm/s: accelerating to full speed takes 0.2 s and 10 mm, braking the same,
    # so 30 mm cruise (0.3 s) + 0.4 s = 0.7 s.
    travel_to_start = 0.7
    # 1 mm at 10 mm/s: ramps of 0.02 s and 0.1 mm each, 0.8 mm cruise (0.08 s) -> 0.12 s.
    first_stroke = 0.12
    # 0.1 mm never reaches 10 mm/s (that needs 0.2 mm): accelerate 0.05 mm and brake 0.05 mm,
    # each taking sqrt(2 * 0.05 / 500) s.
    short_stroke = 2 * math.sqrt(2 * 0.05 / 500)
    # 30 mm at 10 mm/s: 0.2 mm of ramps (0.04 s) + 29.8 mm cruise (2.98 s).
    long_stroke = 3.02
    # 41.1 mm at 100 mm/s: 20 mm of ramps (0.4 s) + 21.1 mm cruise (0.211 s).
    travel_home = 0.611
    expected = travel_to_start + 0.5 + first_stroke + short_stroke + long_stroke + travel_home
    assert compute_stats(PROGRAM, default_profile()).est_seconds == pytest.approx(expected)


def test_move_seconds_is_continuous_where_the_triangle_becomes_a_trapezoid():
    # at 10 mm/s and 500 mm/s^2 the profile first touches full speed at 0.2 mm
    assert move_seconds(0.2, 10, 500) == pytest.approx(0.04)
    assert move_seconds(0.2 - 1e-9, 10, 500) == pytest.approx(move_seconds(0.2 + 1e-9, 10, 500))
    assert move_seconds(0.0, 10, 500) == 0.0


def test_stats_of_emitted_gcode_match_the_drawing():
    doc = vpype.Document()
    doc.add(vpype.LineCollection([[10 + 10j, 40 + 10j, 40 + 50j], [100 + 100j, 100 + 120j]]), 1)
    program = emit_gcode(doc, default_profile())
    stats = compute_stats(program, default_profile())
    assert stats.draw_mm == pytest.approx(30 + 40 + 20)
    # origin -> (10, 10), (40, 50) -> (100, 100), (100, 120) -> origin
    assert stats.travel_mm == pytest.approx(math.hypot(10, 10) + math.hypot(60, 50) + math.hypot(100, 120))
    assert stats.pen_lifts == 2
    assert stats.lines == len(program)
    assert set(stats.to_dict()) == {"draw_mm", "travel_mm", "pen_lifts", "est_seconds", "lines"}
