"""The simulated planner: trapezoids between planned entry and exit speeds, re-planned as GRBL's stepper does."""

from __future__ import annotations

import math

import pytest

from gcode.stats import block_seconds
from robot.boards.planner import DT_SEGMENT_S, SEGMENTS_AHEAD, Planner, Segment, Trapezoid


@pytest.mark.parametrize(
    ("length_mm", "v_in", "v_out", "v_max"),
    [
        (100.0, 20.0, 5.0, 100.0),  # accelerate, cruise, brake
        (100.0, 0.0, 0.0, 100.0),  # rest to rest
        (3.0, 20.0, 30.0, 100.0),  # too short to cruise: a triangle
        (10.0, 40.0, 40.0, 40.0),  # cruising all the way
    ],
)
def test_a_trapezoid_goes_its_length_in_the_estimated_time_with_its_speed_as_the_rate(length_mm, v_in, v_out, v_max):
    accel = 500.0
    profile = Trapezoid.plan(length_mm, v_in, v_out, v_max, accel)
    assert profile.seconds == block_seconds(length_mm, v_in, v_out, v_max, accel)
    assert profile.distance_at(0.0) == 0.0 and profile.distance_at(profile.seconds) == length_mm
    assert profile.speed_at(0.0) == pytest.approx(v_in) and profile.speed_at(profile.seconds) == pytest.approx(v_out)
    steps = 4000
    dt = profile.seconds / steps
    distances = [profile.distance_at(k * dt) for k in range(steps + 1)]
    integral = sum(profile.speed_at((k + 0.5) * dt) * dt for k in range(steps))
    assert integral == pytest.approx(length_mm, rel=1e-6)
    assert all(b >= a for a, b in zip(distances, distances[1:]))  # never backwards
    for k in range(1, steps, 97):  # distance grows at the speed
        slope = (distances[k + 1] - distances[k - 1]) / (2 * dt)
        assert slope == pytest.approx(profile.speed_at(k * dt), abs=accel * dt)
    assert max(profile.speed_at(k * dt) for k in range(steps + 1)) <= v_max + 1e-9


def move(x0: float, x1: float) -> Segment:
    return Segment.move((x0, 0, 0), (x1, 0, 0), 50.0, 500.0, pen_down=True)


def test_the_first_block_is_planned_when_time_first_flows_into_it():
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(move(0, 10))
    alone = planner.front_left_s()  # nothing behind it: it must stop at its end
    planner.add(move(10, 11))
    assert planner.front_left_s() < alone  # added at the same time: the first block may run on
    assert planner.front_plan().v_out == pytest.approx(math.sqrt(2 * 500 * 1))  # so that 1 mm can brake


def test_a_block_queued_while_the_first_runs_speeds_up_the_part_not_yet_cut_into_segments():
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(move(0, 10))
    planner.add(move(10, 11))
    planner.run_front(0.015)  # in the second 10 ms segment: GRBL has prepared up to the end of the sixth
    first = planner.front_plan()
    planner.add(move(11, 12))
    run = planner.front_plan()
    assert run.v_out == pytest.approx(math.sqrt(2 * 500 * 2)) and run.seconds < first.seconds
    fixed_s = (1 + SEGMENTS_AHEAD) * DT_SEGMENT_S
    for t in (0.0, 0.015, fixed_s / 2, fixed_s):  # what was prepared runs as first planned
        assert run.distance_at(t) == pytest.approx(first.distance_at(t))
        assert run.speed_at(t) == pytest.approx(first.speed_at(t))
    assert run.distance_at(run.seconds) == pytest.approx(10.0)
    steps = 2000
    integral = sum(run.speed_at((k + 0.5) * run.seconds / steps) * run.seconds / steps for k in range(steps))
    assert integral == pytest.approx(10.0, rel=1e-4)


def test_a_block_queued_once_the_rest_of_the_first_is_in_the_segment_buffer_comes_too_late():
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(move(0, 10))
    planner.add(move(10, 11))
    planner.run_front(planner.front_left_s() - 0.03)  # 30 ms left: all of it is prepared
    planned = planner.front_left_s()
    planner.add(move(11, 12))
    assert planner.front_left_s() == planned
    assert planner.front_plan().v_out == pytest.approx(math.sqrt(2 * 500 * 1))


def test_a_full_planner_sees_the_running_block_and_fourteen_behind_it():
    # 0.3 mm moves at 100 mm/s: 14 blocks behind allow v^2 = 2 * 500 * 14 * 0.3 at the first block's end
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(Segment.move((0, 0, 0), (10, 0, 0), 100.0, 500.0, pen_down=True))
    for k in range(14):
        planner.add(Segment.move((10 + 0.3 * k, 0, 0), (10.3 + 0.3 * k, 0, 0), 100.0, 500.0, pen_down=True))
    assert planner.full
    assert planner.front_plan().v_out == pytest.approx(math.sqrt(2 * 500 * 14 * 0.3))


def test_a_dwell_is_a_stop_for_the_move_before_it():
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(Segment.move((0, 0, 0), (10, 0, 0), 50.0, 500.0, pen_down=False))
    planner.add(Segment.pause((10, 0, 0), 0.5))
    planner.add(Segment.move((10, 0, 0), (20, 0, 0), 50.0, 500.0, pen_down=False))
    assert planner.front_plan().v_out == 0.0
