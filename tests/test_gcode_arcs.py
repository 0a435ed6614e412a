"""Arc fitting for G2/G3: arcs replace runs of vertices only within tolerance, in bounds, and as GRBL accepts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcode.arcs import (
    MAX_MISMATCH_MM,
    ArcTo,
    LineTo,
    arc_radius_mismatch_mm,
    arc_sweep,
    fit_arcs,
    flatten_arc,
)

EPS = 1e-9
FAR = (-1e6, -1e6, 1e6, 1e6)


def circle_points(centre: complex, radius: float, chord_error: float, start=0.0, sweep=2 * math.pi) -> np.ndarray:
    """A circular arc flattened so that each chord's sagitta is ``chord_error`` (or less)."""
    step = 2 * math.acos(1 - chord_error / radius)
    n = max(2, math.ceil(abs(sweep) / step) + 1)
    return centre + radius * np.exp(1j * (start + np.linspace(0, sweep, n)))


def bezier_points(ctrl: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    basis = np.hstack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3])
    return basis @ ctrl


def without_repeats(run: np.ndarray) -> np.ndarray:
    return run[np.append(True, run[1:] != run[:-1])]


def runs(points: np.ndarray, segments: list) -> list[tuple[LineTo | ArcTo, complex, np.ndarray]]:
    """(segment, its start, the input vertices it replaces), asserting that ends are input vertices in order."""
    out = []
    i = 0
    for segment in segments:
        later = np.flatnonzero(points[i + 1 :] == segment.end)
        assert len(later), f"{segment} does not end at a later input vertex"
        j = i + 1 + later[0]
        out.append((segment, complex(points[i]), points[i : j + 1]))
        i = j
    assert np.all(points[i:] == points[-1]), "the segments stop before the polyline's end"
    return out


def distance_to_polyline(p: np.ndarray, line: np.ndarray) -> np.ndarray:
    a, b = line[:-1], line[1:]
    d = b - a
    length2 = np.maximum(np.abs(d) ** 2, 1e-300)
    t = np.clip(((p[:, None] - a) * d.conj()).real / length2, 0, 1)
    return np.abs(p[:, None] - (a + t * d)).min(axis=1)


def in_bounds(p: np.ndarray, bounds) -> bool:
    xmin, ymin, xmax, ymax = bounds
    return bool(np.all((p.real >= xmin - EPS) & (p.real <= xmax + EPS) & (p.imag >= ymin - EPS) & (p.imag <= ymax + EPS)))


def assert_valid(points: np.ndarray, tol: float, bounds, segments: list) -> None:
    """Every guarantee of ``fit_arcs`` for one result."""
    assert segments[-1].end == points[-1]
    for segment, start, run in runs(points, segments):
        distinct = without_repeats(run)
        if isinstance(segment, LineTo):
            dot = len(without_repeats(points)) == 1
            assert len(distinct) == 2 or dot, "a line replaces exactly one input edge"
            continue
        assert len(distinct) >= 3, "an arc replaces at least three vertices"
        c = segment.center
        r_start, r_end = abs(start - c), abs(segment.end - c)
        assert 0.05 <= min(r_start, r_end) and max(r_start, r_end) <= 10_000
        midpoints = (distinct[1:] + distinct[:-1]) / 2
        for r in (r_start, r_end):
            assert np.all(np.abs(np.abs(distinct - c) - r) <= tol + EPS), "vertex off the arc"
            assert np.all(np.abs(np.abs(midpoints - c) - r) <= tol + EPS), "edge midpoint off the arc"
        turns = np.angle((distinct[1:] - c) / (distinct[:-1] - c))
        assert np.all(turns < 0) if segment.clockwise else np.all(turns > 0), "angle not monotonic"
        assert abs(turns.sum()) < 2 * math.pi
        assert abs(turns.sum()) == pytest.approx(arc_sweep(start, segment))
        assert np.all(max(r_start, r_end) * (1 - np.cos(turns / 2)) <= tol + EPS), "arc bulges beyond a chord"
        drawn = flatten_arc(start, segment, tol / 10)
        assert np.all(distance_to_polyline(drawn, distinct) <= tol + EPS), "the arc strays from the polyline"
        assert in_bounds(drawn, bounds), "the arc leaves the bounds"
        assert arc_radius_mismatch_mm(start, segment) <= MAX_MISMATCH_MM
        assert_rounding_keeps_the_sweep(start, segment)


def assert_rounding_keeps_the_sweep(start: complex, arc: ArcTo) -> None:
    """Written with three decimals, the arc still turns the same way through about the same angle."""
    def rounded(z: complex) -> complex:
        return complex(round(z.real, 3), round(z.imag, 3))

    written = ArcTo(rounded(arc.end), rounded(arc.center), arc.clockwise)
    assert arc_sweep(rounded(start), written) == pytest.approx(arc_sweep(start, arc), abs=0.05)


def arcs_of(segments: list) -> list[ArcTo]:
    return [s for s in segments if isinstance(s, ArcTo)]


# --- examples -----------------------------------------------------------------------------------------


def test_two_points_make_one_line():
    points = np.array([1 + 2j, 3 + 4j])
    assert fit_arcs(points, 0.1, FAR) == [LineTo(3 + 4j)]


def test_a_single_repeated_point_makes_one_zero_length_line_so_the_dot_is_drawn():
    assert fit_arcs(np.array([5 + 5j, 5 + 5j, 5 + 5j]), 0.1, FAR) == [LineTo(5 + 5j)]


def test_a_dense_circle_of_radius_10_becomes_a_handful_of_arcs_never_a_full_circle():
    points = circle_points(50 + 50j, 10, 0.005, start=0.3)
    points[-1] = points[0]
    segments = fit_arcs(points, 0.01, FAR)
    assert all(isinstance(s, ArcTo) for s in segments)
    assert 2 <= len(segments) <= 4 < len(points) / 20
    assert all(abs(s.center - (50 + 50j)) < 0.005 for s in segments)
    assert all(not s.clockwise for s in segments)
    assert segments[-1].end == points[0]
    assert_valid(points, 0.01, FAR, segments)


def test_a_circle_drawn_backwards_is_clockwise():
    points = circle_points(0j, 10, 0.005, sweep=-math.pi)
    segments = fit_arcs(points, 0.01, FAR)
    assert len(segments) == 1 and segments[0].clockwise


def test_a_straight_line_stays_one_line_per_edge():
    points = np.linspace(0, 100 + 30j, 200)
    segments = fit_arcs(points, 0.1, FAR)
    assert segments == [LineTo(p) for p in points[1:].tolist()]


def test_a_zigzag_stays_lines():
    points = np.arange(50) + 1j * (np.arange(50) % 2)
    assert all(isinstance(s, LineTo) for s in fit_arcs(points, 0.05, FAR))


def test_a_coarse_polygon_is_not_replaced_by_a_fat_arc():
    octagon = circle_points(0j, 10, 10 * (1 - math.cos(math.pi / 8)))  # vertices exactly on the circle
    assert len(octagon) == 9
    assert all(isinstance(s, LineTo) for s in fit_arcs(octagon, 0.1, FAR))  # each chord bulges 0.76 mm


def test_an_s_curve_becomes_arcs_turning_each_way_none_across_the_inflection():
    first = circle_points(0j, 10, 0.002, start=math.pi, sweep=-math.pi)  # clockwise over the top
    second = circle_points(20 + 0j, 10, 0.002, start=math.pi, sweep=math.pi)  # counter-clockwise below
    points = np.concatenate([first, second[1:]])
    segments = fit_arcs(points, 0.01, FAR)
    assert_valid(points, 0.01, FAR, segments)
    inflection = len(first) - 1
    for segment, _, run in runs(points, segments):
        assert isinstance(segment, ArcTo)
        starts_at = int(np.flatnonzero(points == run[0])[0])
        assert starts_at + len(run) - 1 <= inflection or starts_at >= inflection
        assert segment.clockwise == (starts_at < inflection)


def test_repeated_vertices_are_skipped_without_nans():
    points = circle_points(10 + 10j, 5, 0.002, sweep=3)
    repeated = np.repeat(points, 1 + np.arange(len(points)) % 3)
    segments = fit_arcs(repeated, 0.01, FAR)
    assert segments == fit_arcs(points, 0.01, FAR)
    assert all(math.isfinite(abs(s.center)) for s in arcs_of(segments))
    assert_valid(repeated, 0.01, FAR, segments)


def test_radii_below_0_05_or_above_10000_mm_stay_lines():
    tiny = circle_points(0j, 0.03, 0.0005, sweep=3)
    gentle = circle_points(0j, 20_000, 0.01, start=1.5, sweep=100 / 20_000)
    large = circle_points(0j, 5_000, 0.01, start=1.5, sweep=100 / 5_000)
    assert not arcs_of(fit_arcs(tiny, 0.01, FAR))
    assert not arcs_of(fit_arcs(gentle, 0.05, FAR))
    assert arcs_of(fit_arcs(large, 0.05, FAR))


def test_arcs_bulging_past_the_bounds_are_split_at_the_extremes():
    points = circle_points(100 + 100j, 10, 0.005, start=0.1)
    points[-1] = points[0]
    tight = (points.real.min(), points.imag.min(), points.real.max(), points.imag.max())
    segments = fit_arcs(points, 0.05, tight)
    assert_valid(points, 0.05, tight, segments)
    assert len(arcs_of(segments)) >= 4
    assert len(segments) > len(fit_arcs(points, 0.05, FAR))


def test_arcs_whose_ends_are_out_of_bounds_stay_lines():
    points = circle_points(0j, 10, 0.005, sweep=math.pi)
    assert not arcs_of(fit_arcs(points, 0.05, (-5, -5, 5, 5)))


def test_arcs_written_with_three_decimals_satisfy_grbl_radius_check_at_awkward_coordinates():
    rng = np.random.default_rng(7)
    for _ in range(30):
        centre = complex(*rng.uniform(0, 300, 2))
        points = circle_points(centre, rng.uniform(0.2, 50), 0.003, start=rng.uniform(0, 7), sweep=6)
        segments = fit_arcs(points, 0.05, FAR)
        assert arcs_of(segments)
        assert_valid(points, 0.05, FAR, segments)


def test_flatten_arc_stays_within_tolerance_of_the_circle_and_keeps_both_ends():
    arc = ArcTo(end=-10 + 0j, center=0j, clockwise=True)
    path = flatten_arc(10 + 0j, arc, 0.01)
    assert path[0] == 10 and path[-1] == -10
    assert np.all(path.imag <= EPS)  # clockwise (y up) from +x to -x passes below the centre
    assert np.allclose(np.abs(path), 10)
    assert np.all(10 - np.abs((path[1:] + path[:-1]) / 2) <= 0.01)


def test_100k_vertices_of_smooth_curves_become_fifty_times_fewer_segments():
    rng = np.random.default_rng(1)
    points = np.concatenate([bezier_points(rng.uniform(0, 200, (4, 2)) @ [1, 1j], 2000) for _ in range(50)])
    assert len(fit_arcs(points, 0.05, FAR)) < len(points) / 50


# --- properties ---------------------------------------------------------------------------------------

tolerances = st.floats(0.01, 0.5)
margins = st.one_of(st.just(0.0), st.floats(0.0, 5.0))


@st.composite
def bounds_near(draw, points: np.ndarray):
    """The polyline's bounding box, each side moved out by nothing or a little."""
    m = [draw(margins) for _ in range(4)]
    return (points.real.min() - m[0], points.imag.min() - m[1], points.real.max() + m[2], points.imag.max() + m[3])


@st.composite
def beziers(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.floats(1.0, 300.0))
    ctrl = rng.uniform(-1, 1, (4, 2)) @ [scale, scale * 1j]
    return bezier_points(ctrl, draw(st.integers(2, 400))) + complex(draw(st.floats(-50, 50)), draw(st.floats(-50, 50)))


@st.composite
def circular_arcs(draw):
    radius = 10 ** draw(st.floats(-1.5, 3.5))
    sweep = draw(st.floats(-4 * math.pi, 4 * math.pi).filter(lambda s: abs(s) > 1e-3))
    n = draw(st.integers(2, 400))
    noise = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    angles = draw(st.floats(-4, 4)) + np.linspace(0, sweep, n)
    return complex(*rng.uniform(-100, 100, 2)) + (radius + noise * rng.standard_normal(n)) * np.exp(1j * angles)


@st.composite
def wandering_polylines(draw):
    """Random walks whose heading drifts smoothly, with occasional kinks, repeats and reversals."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 200))
    step = 10 ** draw(st.floats(-2.5, 1))
    heading = np.cumsum(rng.normal(draw(st.floats(-0.3, 0.3)), draw(st.floats(0, 0.5)), n - 1))
    lengths = step * rng.choice([0.0, 1.0, 1.0, 1.0, rng.uniform(0.5, 2)], n - 1) if draw(st.booleans()) else step
    return np.concatenate([[0j], np.cumsum(lengths * np.exp(1j * heading))])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), curve=st.one_of(beziers(), circular_arcs(), wandering_polylines()), tol=tolerances)
def test_every_arc_stays_within_tolerance_of_the_polyline_and_inside_the_bounds(data, curve, tol):
    bounds = data.draw(bounds_near(curve))
    segments = fit_arcs(curve, tol, bounds)
    assert_valid(curve, tol, bounds, segments)


@settings(max_examples=50, deadline=None)
@given(curve=circular_arcs(), tol=tolerances)
def test_repeating_vertices_changes_nothing(curve, tol):
    repeated = np.repeat(curve, 1 + (np.arange(len(curve)) % 4 == 1))
    assert fit_arcs(repeated, tol, FAR) == fit_arcs(curve, tol, FAR)
