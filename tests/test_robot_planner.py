"""The simulated planner's speed profiles: general trapezoids between planned entry and exit speeds."""

from __future__ import annotations

import pytest

from gcode.stats import block_seconds
from robot.planner import Planner, Segment, Trapezoid


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


def test_the_first_block_is_planned_when_time_first_flows_into_it():
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(Segment.move((0, 0, 0), (10, 0, 0), 50.0, 500.0, pen_down=True))
    alone = planner.front_left_s()  # nothing behind it: it must stop at its end
    planner.add(Segment.move((10, 0, 0), (20, 0, 0), 50.0, 500.0, pen_down=True))
    assert planner.front_left_s() < alone  # added at the same time: the first block may run on
    planner.run_front(0.01)
    planned = planner.front_left_s()
    planner.add(Segment.move((20, 0, 0), (30, 0, 0), 50.0, 500.0, pen_down=True))
    assert planner.front_left_s() == planned  # it has started: its plan is fixed
    assert planner.front_plan().v_out > 0.0


def test_a_dwell_is_a_stop_for_the_move_before_it():
    planner = Planner(blocks=15, time_scale=1.0, position=(0.0, 0.0, 0.0))
    planner.add(Segment.move((0, 0, 0), (10, 0, 0), 50.0, 500.0, pen_down=False))
    planner.add(Segment.pause((10, 0, 0), 0.5))
    planner.add(Segment.move((10, 0, 0), (20, 0, 0), 50.0, 500.0, pen_down=False))
    assert planner.front_plan().v_out == 0.0
