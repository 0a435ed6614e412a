"""Fitting: strokes go where the picture is dark, the page gets closer to the target, and seeds reproduce."""

import numpy as np
import pytest

from strokeopt.metrics import psnr, ssim
from strokeopt.optimise import FitConfig, fit_strokes, render_stroke_set


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
    assert np.allclose(result.render, render_stroke_set(result.strokes, 0.7), atol=1e-6)


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


class GaussianBlobs:
    """A stand-in for a learned neural painter: each stroke is a soft blob at its first control point.

    It knows nothing of the optimiser; it only answers the renderer interface (stroke parameters in,
    per-stroke coverage patches out).
    """

    tile = 8

    def __init__(self, height_px, width_px):
        self.height_px, self.width_px = height_px, width_px

    def stroke_patches(self, primitive, control, widths_px, filter_px):
        import torch

        from strokeopt.render import CoveragePatches

        t = self.tile
        tiles_y, tiles_x = -(-self.height_px // t), -(-self.width_px // t)
        centre = control[:, 0]
        home = (centre.detach() / t).floor().long()
        offsets = torch.tensor([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        ty = (home[:, None, 1] + offsets[None, :, 0]).clamp(0, tiles_y - 1).reshape(-1)
        tx = (home[:, None, 0] + offsets[None, :, 1]).clamp(0, tiles_x - 1).reshape(-1)
        stroke = torch.arange(len(control)).repeat_interleave(9)
        iy, ix = torch.meshgrid(torch.arange(t), torch.arange(t), indexing="ij")
        py, px = ty[:, None] * t + iy.reshape(1, -1), tx[:, None] * t + ix.reshape(1, -1)
        d2 = (px + 0.5 - centre[stroke, 0:1]) ** 2 + (py + 0.5 - centre[stroke, 1:2]) ** 2
        coverage = torch.exp(-d2 / (2 * widths_px[stroke, None] ** 2)) * 0.9
        # tiles clamped onto the same place would count twice: keep each (stroke, tile) once
        key = stroke * tiles_y * tiles_x + ty * tiles_x + tx
        first = torch.ones_like(key, dtype=torch.bool)
        first[1:] = key[1:] != key[:-1]
        return CoveragePatches(stroke[first], (py * tiles_x * t + px)[first], coverage[first],
                               self.height_px, self.width_px, t)


def test_another_renderer_plugs_into_the_optimiser_unchanged():
    target = dark_disc()
    renderer = GaussianBlobs(32, 32)
    config = FitConfig(strokes=60, iters=40, primitive="dot", stroke_width_px=1.5, progress=False)
    result = fit_strokes(target, config, renderer=renderer)
    assert result.losses[-1] < 0.5 * result.losses[0]
    centres = result.strokes.points[:, 0]
    assert (np.hypot(centres[:, 0] - 16, centres[:, 1] - 16) < 10).mean() > 0.8


def test_the_torch_renderer_path_used_on_gpus_fits_as_well_as_the_compiled_one():
    from strokeopt.render import SoftRasteriser

    target = dark_disc()
    config = FitConfig(strokes=80, iters=40, stroke_width_px=1.0, progress=False)
    compiled = fit_strokes(target, config)
    portable = fit_strokes(target, config, renderer=SoftRasteriser(32, 32, backend="torch"))
    assert portable.losses[-1] < 0.5 * portable.losses[0]
    assert abs(portable.losses[-1] - compiled.losses[-1]) < 0.25 * compiled.losses[-1]
    assert np.allclose(portable.render, render_stroke_set(portable.strokes, 1.0), atol=1e-4)


def test_a_fit_does_not_load_torch_dynamo():
    """torch.optim imports torch._dynamo (1-1.5 s) on first use; the fit's own Adam (strokeopt.adam) does not."""
    import subprocess
    import sys

    probe = ("import sys, numpy as np\n"
             "from strokeopt.optimise import FitConfig, fit_strokes\n"
             "fit_strokes(np.full((16, 16), 0.5, np.float32), FitConfig(strokes=5, iters=3, progress=False))\n"
             "print('torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False"]
