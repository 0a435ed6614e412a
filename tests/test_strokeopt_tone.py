"""The measured tone curve: the paper's darkness for the renderer's ideal darkness, in the fit and from a profile."""

import dataclasses

import numpy as np
import pytest
import torch

from calibration import default_profile, parse_profile, profile_to_toml, tone_points
from strokeopt.optimise import FitConfig, fit_strokes
from strokeopt.tone import ToneCurve

PALE_INK = ToneCurve((0.0, 1.0), (0.0, 0.5))  # solid ink looks half as dark as the ideal black


def test_the_identity_curve_leaves_the_picture_as_it_is():
    image = torch.rand(5, 7)
    assert torch.allclose(ToneCurve((0.0, 1.0), (0.0, 1.0)).apply(image), image, atol=1e-6)


def test_the_curve_is_piecewise_linear_through_its_points_and_passes_gradients():
    curve = ToneCurve((0.0, 0.25, 1.0), (0.0, 0.5, 0.9))
    ideal = torch.tensor([0.0, 0.125, 0.25, 0.625, 1.0], requires_grad=True)
    paper = 1.0 - curve.apply(1.0 - ideal)
    assert paper.detach().tolist() == pytest.approx([0.0, 0.25, 0.5, 0.7, 0.9])
    paper.sum().backward()
    assert ideal.grad.tolist() == pytest.approx([2.0, 2.0, 0.4 / 0.75, 0.4 / 0.75, 0.4 / 0.75])


@pytest.mark.parametrize("coverage, darkness, message", [
    ((0.0,), (0.0,), "at least two"),
    ((0.1, 1.0), (0.0, 1.0), "from 0 to 1"),
    ((0.0, 0.5, 0.5, 1.0), (0.0, 0.2, 0.3, 1.0), "rise strictly"),
    ((0.0, 0.5, 1.0), (0.0, 0.6, 0.5), "never fall"),
])
def test_a_curve_that_is_not_a_tone_curve_is_refused(coverage, darkness, message):
    with pytest.raises(ValueError, match=message):
        ToneCurve(coverage, darkness)


def test_a_fit_through_a_pale_ink_lays_down_more_ink_to_reach_the_same_tone():
    target = np.full((24, 24), 0.7, dtype=np.float32)  # a flat mid grey
    config = FitConfig(strokes=40, iters=40, stroke_width_px=1.0, loss="mse", seed=3, device="cpu", progress=False)
    ideal = fit_strokes(target, config)
    pale = fit_strokes(target, dataclasses.replace(config, tone=PALE_INK))
    # the render is what the paper shows: both fits come near the grey ...
    assert abs(float(pale.render.mean()) - 0.7) < 0.1 and abs(float(ideal.render.mean()) - 0.7) < 0.1
    # ... and the pale ink needs about twice the ideal darkness to get there
    pale_ideal_darkness = 2 * (1 - float(pale.render.mean()))
    assert pale_ideal_darkness > 1.5 * (1 - float(ideal.render.mean()))


def test_paint_has_no_tone_curve():
    with pytest.raises(ValueError, match="paint"):
        FitConfig(colour="paint", tone=PALE_INK)


def profile_with_tone(pen_width_mm: float) -> str:
    return profile_to_toml(default_profile()) + (
        "\n[calibration]\n"
        f"pen_width_mm = {pen_width_mm}\n"
        "tone_densities = [0.1, 0.3, 0.6, 0.9]\n"
        "tone_darkness = [0.12, 0.35, 0.33, 0.8]\n"
        "solid_darkness = 0.85\n"
    )


def test_a_profile_tone_runs_from_paper_to_solid_ink_at_the_coverage_of_the_real_pen():
    label_mm = default_profile().pens[0].width_mm
    coverage, darkness = tone_points(parse_profile(profile_with_tone(pen_width_mm=label_mm * 1.5)))
    # densities are the label's width over the spacing: the real pen covers 1.5 times that (0.9 -> past solid)
    assert coverage == pytest.approx((0.0, 0.15, 0.45, 0.9, 1.0))
    assert darkness == pytest.approx((0.0, 0.12, 0.35, 0.35, 0.85))  # the dip at 0.6 is noise: flattened
    ToneCurve(coverage, darkness)  # and it is a valid curve


def test_a_profile_without_a_measured_tone_has_none():
    assert tone_points(default_profile()) is None


def test_fit_image_fits_through_the_tone_the_profile_measured(small_photo):
    from strokebot.fitting import FitOptions, fit_image

    profile = parse_profile(profile_with_tone(pen_width_mm=0.6))
    run = fit_image(small_photo, profile, FitOptions(strokes=20, iters=2, size_px=32, device="cpu", progress=False))
    assert run.config.tone == ToneCurve(*tone_points(profile))
    assert run.config.stroke_width_px == pytest.approx(0.6 / run.mm_per_px)  # and the measured pen width
