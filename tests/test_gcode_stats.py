"""Statistics of a program: lengths, pen lifts, line count, and a duration estimate with GRBL's look-ahead."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import vpype

from calibration import default_profile, load_profile
from gcode import compute_stats, emit_gcode
from gcode.stats import PLANNER_BLOCKS, elapsed_seconds, move_seconds

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
    # 50 mm at 100 mm/s along (0.6, 0.8): GRBL's acceleration is a limit per axis, so with Y at 500 the
    # path accelerates at 500 / 0.8 = 625: 0.16 s and 8 mm to full speed, braking the same, so 34 mm
    # cruise (0.34 s) + 0.32 s = 0.66 s.
    travel_to_start = 0.66
    # 1 mm then 0.1 mm straight on at 10 mm/s flow into one 1.1 mm move: ramps of 0.02 s and 0.1 mm each,
    # 0.9 mm cruise (0.09 s) -> 0.13 s.
    first_stroke = 0.13
    # 30 mm at 10 mm/s after a pen change (a stop): 0.2 mm of ramps (0.04 s) + 29.8 mm cruise (2.98 s).
    long_stroke = 3.02
    # 41.1 mm at 100 mm/s: 20 mm of ramps (0.4 s) + 21.1 mm cruise (0.211 s).
    travel_home = 0.611
    expected = travel_to_start + 0.5 + first_stroke + long_stroke + travel_home
    assert compute_stats(PROGRAM, default_profile()).est_seconds == pytest.approx(expected)


def seconds(moves: list[str], planner_blocks: int = PLANNER_BLOCKS) -> float:
    return compute_stats(["G1 F600", "M3 S1000", *moves, "M5"], default_profile(), planner_blocks).est_seconds


def test_straight_segments_flow_at_full_speed_and_a_reversal_stops_the_pen():
    one_move = seconds(["G1 X100"])
    assert seconds([f"G1 X{x}" for x in range(1, 101)]) == pytest.approx(one_move)  # 100 collinear pieces
    there_and_back = seconds(["G1 X50", "G1 X0"])
    assert there_and_back == pytest.approx(2 * seconds(["G1 X50"]))  # comes to rest at the reversal


def test_corners_slow_the_pen_according_to_the_junction_deviation():
    # a right angle at 10 mm/s: the velocity changes along (-1, 1) / sqrt(2), where GRBL's per-axis limit of
    # 500 allows 500 * sqrt(2) mm/s^2, so v^2 = 707 * 0.01 * sin(45) / (1 - sin(45)) = 17.07 -> 4.13 mm/s
    corner = seconds(["G1 X50", "G1 X50 Y50"])
    straight = seconds(["G1 X100"])
    stopped = 2 * seconds(["G1 X50"])
    assert straight < corner < stopped
    v = math.sqrt(500 * math.sqrt(2) * 0.01 * math.sin(math.pi / 4) / (1 - math.sin(math.pi / 4)))
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
    assert elapsed[3] == pytest.approx(0.66)  # "G0 X30 Y40" ends the travel to the start
    assert elapsed[5] - elapsed[4] == pytest.approx(0.5)  # "G4 P0.5"


def zigzag(moves: int, step_mm: float, turn_deg: float, feed_mm_min: float) -> list[str]:
    """``moves`` pen-down moves of ``step_mm``, turning ``turn_deg`` left and right in turn, along X on average."""
    half = math.radians(turn_deg) / 2
    x = y = 0.0
    lines = [f"G1 F{feed_mm_min}"]
    for k in range(moves):
        heading = half if k % 2 == 0 else -half
        x, y = x + step_mm * math.cos(heading), y + step_mm * math.sin(heading)
        lines.append(f"G1 X{x:.6f} Y{y:.6f}")
    return lines


def test_the_planner_lets_a_move_leave_only_as_fast_as_the_queued_moves_can_brake():
    # 3 blocks: each move shares the planner with the next two, the last of them planned to stop.
    # 6 moves of 1 mm at 100 mm/s: braking over 2 mm allows v^2 = 2 * 500 * 2 = 2000 at a junction, so the
    # junction speeds^2 are 0, 1000, 2000, 2000, 2000, 1000, 0: the first and last two moves only accelerate
    # or brake (0 -> 44.7 mm/s takes 2 mm), the middle two rise inside themselves to v^2 = 2000 + 500 = 2500
    # (50 mm/s) and fall back. Unlimited, the 6 mm would be one triangle up to sqrt(500 * 6) = 54.8 mm/s.
    moves = ["G1 F6000", *[f"G1 X{x}" for x in range(1, 7)]]
    v = math.sqrt(2000)
    assert seconds(moves, planner_blocks=3) == pytest.approx(2 * v / 500 + 2 * 2 * (50 - v) / 500)
    assert seconds(moves, planner_blocks=100) == pytest.approx(2 * math.sqrt(500 * 6) / 500)


def test_short_moves_at_a_high_feed_run_as_fast_as_fifteen_blocks_can_brake():
    # GRBL plans 15 blocks: the running move and 14 behind it. 100 moves of 0.3 mm at 100 mm/s: junction
    # speeds^2 climb by 2 * 500 * 0.3 = 300 a move up to 14 * 300 = 4200 (64.8 mm/s: the 14 moves behind can
    # brake from it) over the first 14 moves, stay there for 72 moves that each rise inside to
    # v^2 = 4200 + 150, and fall over the last 14. Unlimited, the 30 mm take 0.5 s: 100 mm/s after 10 mm.
    def expected(accel: float) -> float:
        v, peak = math.sqrt(14 * 2 * accel * 0.3), math.sqrt(14 * 2 * accel * 0.3 + accel * 0.3)
        return 2 * v / accel + 72 * 2 * (peak - v) / accel

    straight = ["G1 F6000", *[f"G1 X{0.3 * k:.1f}" for k in range(1, 101)]]
    assert seconds(straight) == pytest.approx(expected(500))
    assert seconds(straight, planner_blocks=1000) == pytest.approx(0.5)
    # zigzagging 2 degrees off X the moves accelerate at 500 / cos(2) (X is the axis that limits), and the
    # corners allow 90 mm/s: the look-ahead still decides
    assert seconds(zigzag(100, 0.3, 4, 6000)) == pytest.approx(expected(500 / math.cos(math.radians(2))), rel=1e-5)


def test_sharp_zigzags_are_limited_by_their_corners_not_by_the_look_ahead():
    # Turning 150 degrees leaves 30 degrees between the moves; the velocity changes along Y, at 500 mm/s^2:
    # v^2 = 500 * 0.01 * sin(15) / (1 - sin(15)), 1.32 mm/s. The moves run 75 degrees off X, limited by Y to
    # a = 500 / sin(75): each 0.3 mm move rises from the corner speed to v_peak^2 = v^2 + a * 0.3 and back.
    corner_sqr = 500 * 0.01 * math.sin(math.radians(15)) / (1 - math.sin(math.radians(15)))
    a = 500 / math.sin(math.radians(75))
    peak = math.sqrt(corner_sqr + a * 0.3)
    ramp_up = 2 * math.sqrt(a * 0.3 + corner_sqr / 2) / a - math.sqrt(corner_sqr) / a  # rest -> corner
    per_move = 2 * (peak - math.sqrt(corner_sqr)) / a
    expected = 98 * per_move + 2 * ramp_up
    assert seconds(zigzag(100, 0.3, 150, 3000)) == pytest.approx(expected, rel=1e-3)
    assert seconds(zigzag(100, 0.3, 150, 3000)) == pytest.approx(seconds(zigzag(100, 0.3, 150, 3000), 1000))


def test_marlin_accelerates_along_the_path():
    # Marlin's M204 acceleration is along the path: 50 mm at 100 mm/s and 800 mm/s^2 take 0.125 s and
    # 6.25 mm to full speed, the same to stop, 37.5 mm cruise: 0.625 s, whatever the direction
    marlin = load_profile(Path(__file__).resolve().parent.parent / "examples" / "profiles" / "a4_marlin_servo.toml")
    assert marlin.motion.acceleration_mm_s2 == 800
    for target in ("X30 Y40", "X50"):
        assert compute_stats(["G21", "G90", f"G0 {target}"], marlin).est_seconds == pytest.approx(0.625)
