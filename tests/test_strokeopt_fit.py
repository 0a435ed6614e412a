"""Fitting: strokes go where the picture is dark, the page gets closer to the target, and seeds reproduce."""

import numpy as np
import pytest

from strokeopt.metrics import psnr, ssim
from strokeopt.optimise import FitConfig, fit_strokes, render_strokes


def dark_disc(size=32):
    y, x = np.mgrid[:size, :size] + 0.5
    target = np.ones((size, size), np.float32)
    target[(x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 4) ** 2] = 0.2
    return target


def test_fitting_brings_the_page_closer_to_the_target():
    target = dark_disc()
    result = fit_strokes(target, FitConfig(strokes=120, iters=60, stroke_width_px=1.0, progress=False))
    blank = np.ones_like(target)
    assert psnr(result.render, target) > psnr(blank, target) + 3.0
    assert result.losses[-1] < result.losses[0]


def test_strokes_land_on_the_dark_parts():
    target = dark_disc()
    result = fit_strokes(target, FitConfig(strokes=80, iters=40, stroke_width_px=1.0, progress=False))
    centres = result.strokes.points.mean(axis=1)
    inside = np.hypot(centres[:, 0] - 16, centres[:, 1] - 16) < 10
    assert inside.mean() > 0.8


def test_points_stay_on_the_canvas():
    result = fit_strokes(dark_disc(), FitConfig(strokes=50, iters=30, primitive="cubic", progress=False))
    pts = result.strokes.points
    assert pts.min() >= 0.0 and pts[..., 0].max() <= 32 and pts[..., 1].max() <= 32


def test_same_seed_same_strokes_bit_for_bit():
    config = FitConfig(strokes=40, iters=15, primitive="cubic", seed=7, progress=False)
    a = fit_strokes(dark_disc(), config)
    b = fit_strokes(dark_disc(), config)
    assert np.array_equal(a.strokes.points, b.strokes.points)
    c = fit_strokes(dark_disc(), FitConfig(strokes=40, iters=15, primitive="cubic", seed=8, progress=False))
    assert not np.array_equal(a.strokes.points, c.strokes.points)


def test_the_returned_render_is_the_render_of_the_returned_strokes():
    result = fit_strokes(dark_disc(), FitConfig(strokes=30, iters=10, stroke_width_px=0.7, progress=False))
    assert np.allclose(result.render, render_strokes(result.strokes, 0.7), atol=1e-6)


@pytest.mark.parametrize("bad", [dict(strokes=0), dict(iters=-1), dict(stroke_width_px=float("nan")),
                                 dict(primitive="spline"), dict(device="tpu")])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        FitConfig(**bad)


def test_ssim_and_psnr_agree_with_their_definitions():
    rng = np.random.default_rng(0)
    a = rng.random((40, 40))
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert ssim(a, 1 - a) < 0


def test_gaussian_blur_is_a_gaussian_convolution_renormalised_at_the_border():
    import torch
    import torch.nn.functional as F

    from strokeopt.metrics import gaussian_blur

    image = torch.rand(30, 41, dtype=torch.float64)
    sigma, radius = 1.3, 4
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()

    def conv(a):
        padded = F.pad(a[None, None], (radius,) * 4)
        return F.conv2d(F.conv2d(padded, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))[0, 0]

    assert torch.allclose(gaussian_blur(image, sigma), conv(image) / conv(torch.ones_like(image)))
    inner = (slice(radius, -radius), slice(radius, -radius))
    assert torch.allclose(gaussian_blur(image, sigma)[inner], conv(image)[inner])  # plain Gaussian inside
    flat = torch.full((20, 20), 0.3, dtype=torch.float64)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat)  # grey stays grey up to the border
