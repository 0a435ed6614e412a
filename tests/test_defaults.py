"""Fit settings derived from the machine's pen and paper: the pen is one fit pixel, strokes follow the ink,
explicit options win, the preview shows lines at the pen's width, and the drawing matches the render on every
shipped profile."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from calibration import default_profile, load_profile, profile_to_toml
from strokebot.defaults import MAX_INK_PX, MAX_SIZE_PX, PEN_PX, STROKE_LENGTH_MM, derive_defaults
from strokebot.likeness import likeness

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PROFILES = sorted([*ROOT.glob("calibration/profiles/*.toml"), *ROOT.glob("examples/profiles/*.toml")])
TEST_PAPER_PENS = 64  # the shipped profiles' paper shrunk to this many pen widths: a 64 px fit at their pens


def with_paper(profile, drawing_w_mm: float, drawing_h_mm: float):
    area = profile.work_area
    return dataclasses.replace(profile, work_area=dataclasses.replace(
        area, width_mm=drawing_w_mm + 2 * area.margin_mm, height_mm=drawing_h_mm + 2 * area.margin_mm))


def test_the_pen_is_one_fit_pixel_on_the_paper_the_picture_covers():
    a4 = default_profile()  # 190 x 277 mm to draw on, a 0.5 mm pen
    square = derive_defaults(a4, (512, 512), 0.5)
    assert square.drawn_mm == pytest.approx((190, 190))
    assert square.size_px == round(190 * PEN_PX / 0.5)
    assert square.pen_width_px == pytest.approx(PEN_PX, rel=0.01)
    landscape = derive_defaults(a4, (600, 400), 0.5)  # as wide as the paper, lower
    assert landscape.size_px == square.size_px

def test_a_pen_finer_than_the_time_allows_gets_the_size_whose_ink_line_fits_the_budget():
    a4 = default_profile()
    fine = dataclasses.replace(a4, pens=(dataclasses.replace(a4.pens[0], width_mm=0.1),))
    capped = derive_defaults(fine, (512, 512), 0.5)
    assert capped.size_px < round(190 * PEN_PX / 0.1)
    ink_line_px = 0.5 * 190 * 190 / 0.1 * capped.size_px / 190
    assert ink_line_px == pytest.approx(MAX_INK_PX, rel=0.01)
    assert derive_defaults(fine, (512, 512), 0.25).size_px == min(MAX_SIZE_PX, 2 * capped.size_px)  # less ink


def test_the_stroke_count_is_the_pictures_ink_over_one_strokes():
    a4 = default_profile()
    light, dark = derive_defaults(a4, (512, 512), 0.25), derive_defaults(a4, (512, 512), 0.5)
    assert dark.strokes == pytest.approx(2 * light.strokes, rel=0.01)
    assert dark.strokes == pytest.approx(0.5 * 190 * 190 / (0.5 * STROKE_LENGTH_MM), rel=0.01)
    half_paper = derive_defaults(with_paper(a4, 95, 95), (512, 512), 0.5)
    assert half_paper.strokes == pytest.approx(dark.strokes / 4, rel=0.01)


def tiny_profile(tmp_path: Path, source) -> Path:
    """``source`` with its paper shrunk to TEST_PAPER_PENS pen widths a side, pens and dialect kept."""
    profile = load_profile(source) if not hasattr(source, "pens") else source
    side_mm = TEST_PAPER_PENS * min(pen.width_mm for pen in profile.pens)
    path = tmp_path / "tiny.toml"
    path.write_text(profile_to_toml(with_paper(profile, side_mm, side_mm)))
    return path


def test_fit_without_size_or_strokes_derives_them_and_given_ones_are_used(run_cli, tmp_path, small_photo):
    profile = tiny_profile(tmp_path, default_profile())
    proc = run_cli("fit", small_photo, "-o", tmp_path / "derived", "--profile", profile, "--iters", "5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    derived = json.loads((tmp_path / "derived" / "fit.json").read_text())
    assert max(derived["size_px"]) == derived["derived"]["size_px"] == TEST_PAPER_PENS
    assert derived["pen_width_px"] == pytest.approx(PEN_PX, rel=0.02)
    assert derived["strokes"] == derived["derived"]["strokes"] > 1

    proc = run_cli("fit", small_photo, "-o", tmp_path / "given", "--profile", profile, "--iters", "5", "--quiet",
                   "--size", "24", "--strokes", "17")
    assert proc.returncode == 0, proc.stderr
    given = json.loads((tmp_path / "given" / "fit.json").read_text())
    assert max(given["size_px"]) == 24 and given["strokes"] == 17


def test_help_says_how_the_defaults_are_derived(run_cli):
    out = run_cli("draw", "--help").stdout
    assert "pen" in out and "ink" in out and "Default:" in out


def test_the_view_draws_the_pen_at_least_one_and_a_half_pixels_wide():
    from strokebot.fitting import VIEW_PEN_PX, view_scale

    for pen_px in (0.17, 0.34, 0.67, 1.0, 1.6):
        assert pen_px * view_scale(pen_px, 128) >= VIEW_PEN_PX or pen_px >= VIEW_PEN_PX


def test_likeness_is_high_for_the_picture_and_low_for_a_flat_tone(small_photo):
    picture = Image.open(small_photo).convert("L")
    page_mm = (40.0, 40.0)
    same = likeness(picture, picture, page_mm)
    assert same["view_ssim"] == pytest.approx(1.0) and same["edge_corr"] == pytest.approx(1.0)
    mean = int(np.asarray(picture).mean())
    flat = likeness(Image.new("L", picture.size, mean), picture, page_mm)  # the right ink, nowhere in particular
    assert flat["edge_corr"] == 0.0 and flat["view_ssim"] < 0.5


@pytest.mark.parametrize("source", SHIPPED_PROFILES, ids=lambda p: p.stem)
def test_every_shipped_profile_draws_what_the_optimiser_rendered(run_cli, tmp_path, small_photo, source):
    """`draw` at its derived settings (the profile's pens, dialect and firmware; its paper shrunk for speed)."""
    out = tmp_path / "out"
    proc = run_cli("draw", small_photo, "-o", out, "--profile", tiny_profile(tmp_path, source), "--iters", "60",
                   "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["fit"]["strokes"] == report["fit"]["derived"]["strokes"]
    assert report["fidelity_ssim"] >= 0.95  # the preview's middle panel against the simulated drawing
    assert report["fit_fidelity_ssim"] >= 0.9  # the optimiser's own render, at the fit's pixels
    # and the files say so too, by scikit-image's SSIM: render.png (the middle panel) against sim.png
    render = Image.open(out / "render.png").convert("L")
    drawing = Image.open(out / "sim.png").convert("L").resize(render.size, Image.Resampling.BOX)
    assert structural_similarity(np.asarray(render, dtype=float) / 255, np.asarray(drawing, dtype=float) / 255,
                                 data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False) >= 0.95
