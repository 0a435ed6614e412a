"""Statistics of a program: lengths, pen lifts, line count, and a trapezoidal duration estimate."""

from __future__ import annotations

import math

import pytest
import vpype

from calibration import default_profile
from gcode import compute_stats, emit_gcode
from gcode.stats import elapsed_seconds, move_seconds

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


def test_duration_is_trapezoidal_with_stops_at_pen_changes_and_dwells():
    # 50 mm at 100 mm/s: accelerating to full speed takes 0.2 s and 10 mm, braking the same,
    # so 30 mm cruise (0.3 s) + 0.4 s = 0.7 s.
    travel_to_start = 0.7
    # 1 mm then 0.1 mm straight on at 10 mm/s flow into one 1.1 mm move: ramps of 0.02 s and 0.1 mm each,
    # 0.9 mm cruise (0.09 s) -> 0.13 s.
    first_stroke = 0.13
    # 30 mm at 10 mm/s after a pen change (a stop): 0.2 mm of ramps (0.04 s) + 29.8 mm cruise (2.98 s).
    long_stroke = 3.02
    # 41.1 mm at 100 mm/s: 20 mm of ramps (0.4 s) + 21.1 mm cruise (0.211 s).
    travel_home = 0.611
    expected = travel_to_start + 0.5 + first_stroke + long_stroke + travel_home
    assert compute_stats(PROGRAM, default_profile()).est_seconds == pytest.approx(expected)


def seconds(moves: list[str]) -> float:
    return compute_stats(["G1 F600", "M3 S1000", *moves, "M5"], default_profile()).est_seconds


def test_straight_segments_flow_at_full_speed_and_a_reversal_stops_the_pen():
    one_move = seconds(["G1 X100"])
    assert seconds([f"G1 X{x}" for x in range(1, 101)]) == pytest.approx(one_move)  # 100 collinear pieces
    there_and_back = seconds(["G1 X50", "G1 X0"])
    assert there_and_back == pytest.approx(2 * seconds(["G1 X50"]))  # comes to rest at the reversal


def test_corners_slow_the_pen_according_to_the_junction_deviation():
    # a right angle at 10 mm/s: v^2 = a * 0.01 * sin(45) / (1 - sin(45)) = 12.07 -> 3.47 mm/s at the corner
    corner = seconds(["G1 X50", "G1 X50 Y50"])
    straight = seconds(["G1 X100"])
    stopped = 2 * seconds(["G1 X50"])
    assert straight < corner < stopped
    v = math.sqrt(500 * 0.01 * math.sin(math.pi / 4) / (1 - math.sin(math.pi / 4)))
    lost = 2 * (10 - v) / 500 - 2 * ((10**2 - v**2) / 1000) / 10  # ramping 10 -> v -> 10 instead of cruising
    assert corner == pytest.approx(straight + lost)


def test_a_dense_circle_takes_about_its_length_over_the_feed():
    points = [(30 + 20 * math.cos(t / 500 * 2 * math.pi), 30 + 20 * math.sin(t / 500 * 2 * math.pi)) for t in range(501)]
    moves = [f"G1 X{x:.4f} Y{y:.4f}" for x, y in points]
    approach = move_seconds(math.hypot(50, 30), 100, 500)
    assert seconds(["G0 X50 Y30", *moves]) == pytest.approx(approach + 2 * math.pi * 20 / 10, rel=0.01)


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


def test_elapsed_time_per_line_rises_to_the_total_and_charges_each_line_its_own_work():
    elapsed = elapsed_seconds(PROGRAM, default_profile())
    assert len(elapsed) == len(PROGRAM)
    assert elapsed[-1] == pytest.approx(compute_stats(PROGRAM, default_profile()).est_seconds)
    assert all(a <= b for a, b in zip(elapsed, elapsed[1:]))
    assert elapsed[3] == pytest.approx(0.7)  # "G0 X30 Y40" ends the travel to the start
    assert elapsed[5] - elapsed[4] == pytest.approx(0.5)  # "G4 P0.5"
