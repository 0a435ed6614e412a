"""Stroke primitives: what polyline each one draws, how strokes start, and how long they are."""

import math

import numpy as np
import pytest
import torch

from strokeopt.primitives import (
    catmull_rom_to_cubics,
    cubic_bezier_points,
    initial_control_points,
    polyline,
    stroke_length,
)
from strokeopt.strokes import CATMULL_ROM_POINTS, CONTROL_POINTS, PRIMITIVES, StrokeSet

SAMPLES = {"dot": 1, "line": 2, "quadratic": 13, "cubic": 13, "catmull-rom": 6 * (CATMULL_ROM_POINTS - 1) + 1}


def random_control(primitive, n=7, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, CONTROL_POINTS[primitive], 2, generator=generator, dtype=torch.float64) * 50


def test_every_primitive_has_a_control_point_count_and_stroke_sets_check_it():
    assert PRIMITIVES == ("dot", "line", "quadratic", "cubic", "catmull-rom")
    assert CONTROL_POINTS == {"dot": 1, "line": 2, "quadratic": 3, "cubic": 4, "catmull-rom": 5}
    for primitive, k in CONTROL_POINTS.items():
        StrokeSet(primitive, np.zeros((3, k, 2)), np.zeros(3, np.int64), 10, 10)
        with pytest.raises(ValueError, match=primitive):
            StrokeSet(primitive, np.zeros((3, k + 1, 2)), np.zeros(3, np.int64), 10, 10)


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_polyline_shape_and_ends_are_the_first_and_last_control_points(primitive):
    control = random_control(primitive)
    points = polyline(primitive, control)
    assert points.shape == (7, SAMPLES[primitive], 2)
    assert torch.allclose(points[:, 0], control[:, 0], atol=1e-12)
    assert torch.allclose(points[:, -1], control[:, -1], atol=1e-12)


def test_a_dot_is_its_point_and_a_line_its_two_ends():
    for primitive in ("dot", "line"):
        control = random_control(primitive)
        assert torch.equal(polyline(primitive, control), control)


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_strokes_are_drawn_independently_of_each_other(primitive):
    control = random_control(primitive)
    one_by_one = torch.cat([polyline(primitive, control[i : i + 1]) for i in range(len(control))])
    assert torch.allclose(polyline(primitive, control), one_by_one, atol=1e-12)


def test_bezier_samples_follow_the_closed_form():
    q = random_control("quadratic")
    samples = polyline("quadratic", q)
    assert torch.allclose(samples[:, 6], (q[:, 0] + 2 * q[:, 1] + q[:, 2]) / 4)  # t = 1/2
    t = 0.25  # sample 3 of 12
    assert torch.allclose(samples[:, 3], (1 - t) ** 2 * q[:, 0] + 2 * (1 - t) * t * q[:, 1] + t**2 * q[:, 2])

    c = random_control("cubic")
    samples = polyline("cubic", c)
    assert torch.allclose(samples[:, 6], (c[:, 0] + 3 * c[:, 1] + 3 * c[:, 2] + c[:, 3]) / 8)
    assert torch.allclose(samples, cubic_bezier_points(c))
    # evenly spaced parameters: a cubic with evenly spaced collinear control points is sampled evenly
    straight = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]], dtype=torch.float64)
    assert torch.allclose(polyline("cubic", straight)[0, :, 0], torch.linspace(0, 3, 13, dtype=torch.float64))


def test_catmull_rom_passes_through_every_control_point():
    control = random_control("catmull-rom")
    assert torch.allclose(polyline("catmull-rom", control)[:, ::6], control, atol=1e-12)


def test_catmull_rom_spans_are_the_documented_cubics_and_join_smoothly():
    p = random_control("catmull-rom")
    cubics = catmull_rom_to_cubics(p)
    assert cubics.shape == (7, CATMULL_ROM_POINTS - 1, 4, 2)
    i = 2  # an interior span: P1 P2 P3 P4 around it
    assert torch.allclose(cubics[:, i, 1], p[:, i] + (p[:, i + 1] - p[:, i - 1]) / 6)
    assert torch.allclose(cubics[:, i, 2], p[:, i + 1] - (p[:, i + 2] - p[:, i]) / 6)
    assert torch.allclose(cubics[:, 0, 1], p[:, 0] + (p[:, 1] - p[:, 0]) / 6)  # duplicated first point
    assert torch.allclose(cubics[:, -1, 2], p[:, -1] - (p[:, -1] - p[:, -2]) / 6)  # duplicated last point
    # C1 at every joint: the handles on either side of a control point are opposite and equally long
    assert torch.allclose(cubics[:, 1:, 1] - cubics[:, 1:, 0], cubics[:, :-1, 3] - cubics[:, :-1, 2])


def test_sampling_the_catmull_rom_cubics_gives_the_polyline_exactly():
    control = random_control("catmull-rom")
    cubics = catmull_rom_to_cubics(control)
    spans = cubic_bezier_points(cubics.reshape(-1, 4, 2), 6).reshape(7, CATMULL_ROM_POINTS - 1, 7, 2)
    drawn = polyline("catmull-rom", control).reshape(7, -1, 2)
    for span in range(CATMULL_ROM_POINTS - 1):
        assert torch.equal(drawn[:, 6 * span : 6 * span + 7], spans[:, span])


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_gradients_reach_every_control_point(primitive):
    control = random_control(primitive).requires_grad_(True)
    weights = torch.rand(7, SAMPLES[primitive], 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (polyline(primitive, control) * weights).sum().backward()
    assert (control.grad.abs().sum(dim=-1) > 0).all()


def test_stroke_length_is_the_length_of_the_drawn_polyline():
    assert torch.equal(stroke_length("dot", random_control("dot")), torch.zeros(7, dtype=torch.float64))
    line = torch.tensor([[[1.0, 2.0], [4.0, 6.0]]])
    assert stroke_length("line", line).tolist() == [5.0]
    straight = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [10.0, 0.0]]])
    assert stroke_length("cubic", straight).item() == pytest.approx(10.0)
    through = torch.tensor([[[0.0, 0.0], [0.0, 3.0], [0.0, 6.0], [0.0, 9.0], [0.0, 12.0]]])
    assert stroke_length("catmull-rom", through).item() == pytest.approx(12.0)
    # a quarter circle of radius 10 through five points: the sampled spline is within 0.5 % of 5 pi long
    angles = torch.linspace(0, math.pi / 2, CATMULL_ROM_POINTS, dtype=torch.float64)
    arc = torch.stack([10 * angles.cos(), 10 * angles.sin()], dim=1)[None]
    assert stroke_length("catmull-rom", arc).item() == pytest.approx(5 * math.pi, rel=5e-3)


def test_stroke_length_has_finite_gradients_even_at_zero_length():
    control = torch.zeros(2, 4, 2, requires_grad=True)
    stroke_length("cubic", control).sum().backward()
    assert torch.isfinite(control.grad).all()


def test_unknown_primitives_are_refused():
    with pytest.raises(ValueError, match="spline"):
        polyline("spline", torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="spline"):
        initial_control_points("spline", torch.zeros(1, 2), torch.ones(1, 2), 5.0, torch.Generator())


def start(primitive, seed=0, n=64, length=10.0):
    generator = torch.Generator().manual_seed(123)
    centres = torch.rand(n, 2, generator=generator) * 100
    angles = torch.rand(n, generator=generator) * math.pi
    directions = torch.stack([angles.cos(), angles.sin()], dim=1)
    points = initial_control_points(primitive, centres, directions, length, torch.Generator().manual_seed(seed))
    return points, centres, directions


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_initial_strokes_have_one_row_of_control_points_per_centre(primitive):
    points, _, _ = start(primitive)
    assert points.shape == (64, CONTROL_POINTS[primitive], 2)
    assert points.dtype == torch.float32


def test_initial_dots_sit_on_their_centres_and_lines_have_the_requested_length_and_direction():
    dots, centres, _ = start("dot")
    assert torch.equal(dots[:, 0], centres)
    lines, centres, directions = start("line", length=10.0)
    assert torch.allclose(lines.mean(dim=1), centres, atol=1e-5)
    assert torch.allclose(lines[:, 1] - lines[:, 0], 10.0 * directions, atol=1e-5)


@pytest.mark.parametrize("primitive", ["quadratic", "cubic", "catmull-rom"])
def test_initial_curves_spread_along_their_direction_with_a_small_random_bend(primitive):
    points, centres, directions = start(primitive, length=10.0)
    k = CONTROL_POINTS[primitive]
    offset = points - centres[:, None]
    along = (offset * directions[:, None]).sum(-1)
    across = offset[..., 0] * directions[:, None, 1] - offset[..., 1] * directions[:, None, 0]
    assert torch.allclose(along, torch.linspace(-5.0, 5.0, k).expand(64, k), atol=1e-5)
    assert across[:, [0, -1]].abs().max() < 1e-5  # the ends lie on the axis
    assert across.abs().max() <= 0.15 * 10.0 + 1e-5
    assert across[:, 1:-1].abs().max() > 0.1 * 10.0  # the bend is random, not always tiny
    assert (across[:, 1:-1] > 0).any() and (across[:, 1:-1] < 0).any()


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_a_seed_reproduces_the_initial_strokes_bit_for_bit(primitive):
    a, _, _ = start(primitive, seed=5)
    b, _, _ = start(primitive, seed=5)
    assert torch.equal(a, b)
    if primitive in ("quadratic", "cubic", "catmull-rom"):
        assert not torch.equal(a, start(primitive, seed=6)[0])
