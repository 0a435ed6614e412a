"""The soft rasteriser: ink where the stroke is, nowhere else, at a cost that follows the stroke's footprint."""

import math

import pytest
import torch

from strokeopt.primitives import cubic_bezier_points
from strokeopt.render import SoftRasteriser, composite_ink, distance_to_polylines, line_coverage


def dense_reference(polylines, widths, filter_px, height, width):
    """Every stroke evaluated at every pixel: the N x H x W renderer that the tiled one must equal."""
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    centres = torch.stack([xs, ys], -1).reshape(1, -1, 2).expand(len(polylines), -1, -1)
    d = distance_to_polylines(centres, polylines)
    c = line_coverage(d, widths[:, None], filter_px)
    return torch.prod(1 - c, dim=0).reshape(height, width)


def test_tiled_render_equals_dense_render():
    torch.manual_seed(0)
    lines = torch.rand(30, 2, 2) * torch.tensor([50.0, 40.0])
    widths = torch.rand(30) * 2 + 0.3
    raster = SoftRasteriser(40, 50)
    for filter_px in (1.0, 2.5):
        tiled = composite_ink(raster.patches(lines, widths, filter_px))
        # the compositor floors each stroke's transmittance at 1e-4 to keep log() finite
        assert torch.allclose(tiled, dense_reference(lines, widths, filter_px, 40, 50), atol=2e-4)


def test_a_line_deposits_its_length_times_its_width_in_ink():
    line = torch.tensor([[[10.0, 20.3], [40.0, 20.3]]])
    for width_px, filter_px in [(0.5, 1.0), (1.5, 1.0), (0.5, 3.0)]:
        patches = SoftRasteriser(40, 50).patches(line, torch.tensor([width_px]), filter_px)
        ink = float(patches.coverage.sum())
        # 30 px long plus the round-capped ends, which add about a half-disc of the filtered width at each end
        assert ink == pytest.approx(30 * width_px, rel=0.12)


def test_ink_stays_near_the_stroke():
    line = torch.tensor([[[5.0, 5.5], [20.0, 5.5]]])  # through the centres of row 5
    image = composite_ink(SoftRasteriser(64, 64).patches(line, torch.tensor([1.0]), 1.0))
    assert image[5, 10] < 0.01  # on the line
    assert image[8:, :].min() == 1.0  # three pixels away: bare paper
    assert image[:, 23:].min() == 1.0


def test_cost_follows_the_footprint_not_the_canvas():
    short = torch.tensor([[[3.0, 3.0], [9.0, 4.0]]])
    small = SoftRasteriser(32, 32).patches(short, torch.tensor([1.0]), 1.0)
    big = SoftRasteriser(2048, 2048).patches(short, torch.tensor([1.0]), 1.0)
    assert len(small.stroke) == len(big.stroke) <= 4


def test_a_long_diagonal_visits_only_the_tiles_along_it():
    diagonal = torch.tensor([[[0.0, 0.0], [256.0, 256.0]]])
    patches = SoftRasteriser(256, 256).patches(diagonal, torch.tensor([1.0]), 1.0)
    tiles_on_canvas = (256 // 8) ** 2
    assert len(patches.stroke) < 0.15 * tiles_on_canvas


def test_strokes_off_the_canvas_leave_no_patches():
    outside = torch.tensor([[[-30.0, -30.0], [-10.0, -20.0]], [[100.0, 5.0], [120.0, 5.0]]])
    patches = SoftRasteriser(32, 32).patches(outside, torch.tensor([1.0, 1.0]), 1.0)
    assert len(patches.stroke) == 0


def test_gradients_reach_the_control_points():
    line = torch.tensor([[[10.0, 12.5], [20.0, 12.5]]], requires_grad=True)
    target = torch.ones(32, 32)
    target[13, 10:20] = 0.0  # the ink belongs one pixel lower
    image = composite_ink(SoftRasteriser(32, 32).patches(line, torch.tensor([1.0]), 3.0))
    (image - target).square().sum().backward()
    assert line.grad is not None
    assert (line.grad[0, :, 1] < 0).all()  # descending the gradient moves both ends down (+y)


def test_cubic_bezier_samples_start_and_end_at_the_end_points():
    control = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [3.0, 2.0], [4.0, 0.0]]])
    pts = cubic_bezier_points(control, segments=8)
    assert pts.shape == (1, 9, 2)
    assert torch.allclose(pts[0, 0], control[0, 0]) and torch.allclose(pts[0, -1], control[0, 3])
    assert float(pts[0, 4, 1]) == pytest.approx(1.5)  # B(1/2) = (P0 + 3P1 + 3P2 + P3) / 8


def test_coverage_never_exceeds_one_and_is_symmetric():
    d = torch.linspace(0, 5, 50)
    for w in (0.3, 1.0, 4.0):
        c = line_coverage(d, torch.tensor(w), 1.0)
        assert float(c.max()) <= 1.0 + 1e-6
        assert float(c[0]) == pytest.approx(min(w, 1.0))
        assert math.isclose(float(c[-1]), 0.0)


@pytest.mark.parametrize("points_per_stroke", [1, 2, 13])
def test_the_compiled_cpu_renderer_matches_the_torch_one_in_value_and_gradient(points_per_stroke):
    torch.manual_seed(1)
    n = 40
    polylines = (torch.rand(n, 1, 2) * 40 + torch.randn(n, points_per_stroke, 2).cumsum(1) * 3).double()
    widths = (torch.rand(n) * 2 + 0.2).double()
    target = torch.rand(48, 40).double()
    results = []
    for backend in ("torch", "numba"):
        poly = polylines.clone().requires_grad_(True)
        w = widths.clone().requires_grad_(True)
        image = composite_ink(SoftRasteriser(48, 40, backend=backend).patches(poly, w, 2.0))
        (image - target).square().sum().backward()
        results.append((image.detach(), poly.grad, w.grad))
    (img_t, gp_t, gw_t), (img_n, gp_n, gw_n) = results
    assert torch.allclose(img_t, img_n, atol=1e-9)
    assert torch.allclose(gp_t, gp_n, atol=1e-7)
    assert torch.allclose(gw_t, gw_n, atol=1e-7)


@pytest.mark.parametrize("points_per_stroke", [1, 2, 13])
def test_fused_cpu_ink_matches_compositing_the_patches_in_colour(points_per_stroke):
    from strokeopt.render import render_ink

    torch.manual_seed(2)
    n = 40
    polylines = (torch.rand(n, 1, 2) * 40 + torch.randn(n, points_per_stroke, 2).cumsum(1) * 3).double()
    widths = (torch.rand(n) * 2 + 0.2).double()
    opacity = (torch.rand(n, 3) * 0.8 + 0.1).double()  # an absorbance per colour channel
    target = torch.rand(3, 48, 40).double()
    results = []
    for backend in ("torch", "numba"):
        params = [t.clone().requires_grad_(True) for t in (polylines, widths, opacity)]
        image, ink = render_ink(SoftRasteriser(48, 40, backend=backend), params[0], params[1], 2.0, params[2])
        (image - target).square().sum().backward()
        results.append((image.detach(), ink, *(p.grad for p in params)))
    for torch_value, numba_value in zip(*results):
        assert torch.allclose(torch_value, numba_value, atol=1e-8)


def test_both_backends_find_the_same_tiles():
    torch.manual_seed(3)
    polylines = torch.rand(60, 5, 2) * 90 - 10  # some reach past the canvas edges
    reach = torch.rand(60) * 3
    found = [SoftRasteriser(64, 72, backend=b)._tiles_in_reach(polylines, reach) for b in ("torch", "numba")]
    for a, b in zip(*found):
        assert torch.equal(a, b)


def test_over_compositing_puts_the_later_stroke_on_top():
    from strokeopt.render import composite_over

    red, blue = [0.9, 0.1, 0.1], [0.1, 0.1, 0.9]
    crossing = torch.tensor([[[2.0, 10.5], [20.0, 10.5]], [[10.5, 2.0], [10.5, 20.0]]])  # cross at (10.5, 10.5)
    patches = SoftRasteriser(24, 24).patches(crossing, torch.tensor([3.0, 3.0]), 1.0)
    opaque = torch.tensor([1.0, 1.0])
    red_then_blue = composite_over(patches, opaque, torch.tensor([red, blue]))
    blue_then_red = composite_over(patches, opaque, torch.tensor([blue, red]))
    assert torch.allclose(red_then_blue[:, 10, 10], torch.tensor(blue), atol=1e-3)  # the second stroke wins
    assert torch.allclose(blue_then_red[:, 10, 10], torch.tensor(red), atol=1e-3)
    assert torch.allclose(red_then_blue[:, 10, 4], torch.tensor(red), atol=1e-3)  # elsewhere each keeps its colour
    assert torch.allclose(red_then_blue[:, 0, 0], torch.ones(3))  # bare paper


def test_over_compositing_of_black_ink_equals_multiplying_transmittance():
    from strokeopt.render import composite_over

    torch.manual_seed(4)
    lines = torch.rand(25, 2, 2) * 30
    patches = SoftRasteriser(32, 32).patches(lines, torch.rand(25) * 2 + 0.5, 1.5)
    opacity = torch.rand(25) * 0.9 + 0.05
    over = composite_over(patches, opacity, torch.zeros(25, 3))
    ink = composite_ink(patches, opacity)
    assert torch.allclose(over, ink[None].expand(3, -1, -1), atol=1e-5)


def test_gradients_flow_through_over_compositing():
    from strokeopt.render import composite_over

    lines = torch.tensor([[[2.0, 10.5], [20.0, 10.5]], [[10.5, 2.0], [10.5, 20.0]]], requires_grad=True)
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9]], requires_grad=True)
    opacity = torch.tensor([0.8, 0.8], requires_grad=True)
    patches = SoftRasteriser(24, 24).patches(lines, torch.tensor([2.0, 2.0]), 2.0)
    composite_over(patches, opacity, colours).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (lines, colours, opacity))
