"""The page renderer: what the pen drew, in the optimiser's ink model, oriented as on the page."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from calibration import PenProfile, default_profile, parse_profile, profile_to_toml
from robot import render_page, render_strokes

PX_PER_MM = 10.0


@pytest.fixture
def profile():
    return default_profile()  # A4, origin bottom-left, one 0.5 mm black pen


def ink(image) -> np.ndarray:
    """Ink per pixel in [0, 1] from an 8-bit image."""
    return 1.0 - np.asarray(image, dtype=np.float64) / 255.0


def test_a_10mm_line_has_the_pen_width_and_the_ink_of_its_area(profile):
    # Page y = 150.05 mm puts the line's centre on the centre of pixel row 1500 (region starts at page y 0).
    y = profile.work_area.height_mm - 150.05
    image = render_strokes([[(50.0, y), (60.0, y)]], profile, PX_PER_MM)
    assert image.mode == "L"
    assert image.size == (2100, 2970)
    dark = ink(image)
    rows = np.nonzero((dark > 0.5).any(axis=1))[0]
    assert rows.tolist() == [1498, 1499, 1500, 1501, 1502]  # 0.5 mm at 10 px/mm = 5 rows
    assert (dark[1498:1503, 510:590] > 0.99).all()
    expected = 100 * 5 + math.pi * 2.5**2  # length x width, plus the round caps, in px^2
    assert dark.sum() == pytest.approx(expected, rel=0.01)
    assert dark.mean() == pytest.approx(expected / (2100 * 2970), rel=0.01)


def test_a_thin_line_keeps_its_ink_at_any_offset(profile):
    # Box-filtered coverage: the ink across a line equals its width wherever it falls in the pixel grid.
    for offset in (0.0, 0.013, 0.05, 0.071):
        y = 100.0 + offset
        page = render_page([[(20.0, y), (30.0, y)]], profile, PX_PER_MM, region_mm=(10.0, 90.0, 40.0, 110.0))
        column = 1.0 - page[:, 150]
        assert column.sum() == pytest.approx(5.0, abs=1e-9)


def test_a_single_point_is_a_dot(profile):
    page = render_page([[(20.0, 20.0)]], profile, PX_PER_MM, region_mm=(15.0, 15.0, 25.0, 25.0))
    assert (1.0 - page).sum() == pytest.approx(math.pi * 2.5**2, rel=0.02)
    weights = 1.0 - page
    rows, cols = np.indices(page.shape) + 0.5  # pixel centres
    centre = ((weights * cols).sum() / weights.sum(), (weights * rows).sum() / weights.sum())
    assert centre == pytest.approx((50.0, 50.0))  # machine (20, 20) is 5 mm from the region's top-left corner


def test_bottom_left_origin_puts_machine_y0_at_the_bottom_of_the_image(profile):
    image = ink(render_strokes([[(20.0, 2.0), (100.0, 2.0)]], profile, 2.0))
    rows = np.nonzero(image.sum(axis=1) > 0.1)[0]
    assert image.shape[0] - 1 - rows.max() < 6  # 2 mm above the bottom edge at 2 px/mm
    top_left = dataclasses.replace(profile, work_area=dataclasses.replace(profile.work_area, origin="top-left"))
    image = ink(render_strokes([[(20.0, 2.0), (100.0, 2.0)]], top_left, 2.0))
    rows = np.nonzero(image.sum(axis=1) > 0.1)[0]
    assert rows.min() < 6


def test_region_is_a_crop_of_the_whole_page(profile):
    strokes = [[(12.0, 270.0), (40.0, 285.0), (55.0, 272.5)], [(30.0, 260.0)], [(5.0, 5.0), (6.0, 6.0)]]
    whole = render_page(strokes, profile, 4.0)
    region = (10.0, 255.0, 60.0, 290.0)
    crop = render_page(strokes, profile, 4.0, region_mm=region)
    assert crop.shape == (140, 200)
    top = round((profile.work_area.height_mm - 290.0) * 4.0)  # machine y 290 is page y 7 (bottom-left origin)
    np.testing.assert_allclose(crop, whole[top : top + 140, 40:240], atol=1e-12)
    assert (crop < 1.0).any()


def test_overlapping_strokes_multiply_transmittance(profile):
    region = (0.0, 0.0, 10.0, 10.0)
    one = render_page([[(2.0, 5.0), (8.0, 5.0)]], profile, PX_PER_MM, region)
    two = render_page([[(2.0, 5.0), (8.0, 5.0)], [(2.0, 5.02), (8.0, 5.02)]], profile, PX_PER_MM, region)
    other = render_page([[(2.0, 5.02), (8.0, 5.02)]], profile, PX_PER_MM, region)
    np.testing.assert_allclose(two, one * other, atol=1e-12)


def test_a_long_polyline_renders_like_its_segments(profile):
    # Above the pairwise budget the renderer switches to per-segment boxes; both paths must agree.
    t = np.linspace(0.0, 6.0 * math.pi, 400)
    spiral = [(105.0 + 3.0 * a * math.cos(a), 150.0 + 3.0 * a * math.sin(a)) for a in t]
    region = (40.0, 85.0, 170.0, 215.0)
    page = render_page([spiral], profile, 8.0, region)
    ink_total = (1.0 - page).sum()
    length = sum(math.dist(a, b) for a, b in zip(spiral, spiral[1:]))
    assert ink_total == pytest.approx(length * 8.0 * 4.0, rel=0.02)  # length x width in px^2
    pieces = render_page([spiral[:200], spiral[199:]], profile, 8.0, region)
    joint = np.isclose(pieces, page, atol=1e-9)
    assert joint.mean() > 0.999  # only the round join between the two pieces differs


def test_a_colour_pen_gives_an_rgb_image_in_its_colour(profile):
    red = dataclasses.replace(profile, pens=(PenProfile("red", 1.0, "#ff0000"),))
    image = render_strokes([[(2.0, 5.0), (8.0, 5.0)]], red, PX_PER_MM, region_mm=(0.0, 0.0, 10.0, 10.0))
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    centre = pixels[50, 50]
    assert centre.tolist() == [255, 0, 0]
    assert pixels[5, 5].tolist() == [255, 255, 255]


def test_bad_arguments_are_value_errors(profile):
    with pytest.raises(ValueError):
        render_strokes([], profile, 0.0)
    with pytest.raises(ValueError):
        render_strokes([], profile, 1.0, region_mm=(10.0, 0.0, 5.0, 5.0))


def test_matches_the_optimisers_renderer(profile):
    """What the optimiser shows is what the pen draws (strokeopt clamps each stroke's transmittance at 1e-4)."""
    torch = pytest.importorskip("torch")
    render = pytest.importorskip("strokeopt.render")
    strokes = [
        [(12.0, 270.0), (40.0, 285.0), (55.0, 272.5)],
        [(30.0, 260.0)] * 3,  # strokeopt pads polylines to equal length by repeating points
        [(15.0, 265.0), (16.0, 286.0), (50.0, 280.0)],
    ]
    region, ppm = (10.0, 255.0, 60.0, 290.0), 4.0
    mine = render_page(strokes, profile, ppm, region)
    top = profile.work_area.height_mm - region[3]
    polylines = torch.tensor(
        [[((x - region[0]) * ppm, (profile.work_area.height_mm - y - top) * ppm) for x, y in s] for s in strokes],
        dtype=torch.float64,
    )
    widths = torch.full((len(strokes),), profile.pens[0].width_mm * ppm, dtype=torch.float64)
    rasteriser = render.SoftRasteriser(mine.shape[0], mine.shape[1])
    theirs = render.composite_ink(rasteriser.patches(polylines, widths, 1.0)).numpy()
    np.testing.assert_allclose(mine, theirs, atol=1.0001e-4)


def two_pens(red_width_mm: float = 0.5):
    """The default profile with a second pen: 0.5 mm black (pen 0) and red (pen 1)."""
    extra = f'\n[[pens]]\nname = "red"\nwidth_mm = {red_width_mm!r}\ncolor = "#ff0000"\n'
    return parse_profile(profile_to_toml(default_profile()) + extra)


REGION = (0.0, 0.0, 10.0, 10.0)
BLACK_LINE = [(2.0, 7.0), (8.0, 7.0)]  # machine y 7 -> image row 30 (bottom-left origin, 10 px/mm)
RED_LINE = [(2.0, 3.0), (8.0, 3.0)]  # -> image row 70


def test_each_stroke_is_drawn_with_its_own_pen_colour_and_width():
    profile = two_pens(red_width_mm=1.0)
    image = render_strokes([BLACK_LINE, RED_LINE], profile, PX_PER_MM, REGION, stroke_pens=[0, 1])
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    assert pixels[30, 50].tolist() == [0, 0, 0]
    assert pixels[70, 50].tolist() == [255, 0, 0]
    assert pixels[50, 50].tolist() == [255, 255, 255]
    page = render_page([BLACK_LINE, RED_LINE], profile, PX_PER_MM, REGION, stroke_pens=[0, 1])
    black, red = 1.0 - page[:50, 50], 1.0 - page[50:, 50]  # ink across each line, per channel
    np.testing.assert_allclose(black.sum(axis=0), [5.0, 5.0, 5.0], atol=1e-9)  # 0.5 mm in every channel
    np.testing.assert_allclose(red.sum(axis=0), [0.0, 10.0, 10.0], atol=1e-9)  # 1 mm, absorbs green and blue


def test_pen_inks_multiply_per_channel_where_strokes_overlap():
    pens = (PenProfile("cyan", 0.5, "#00c0ff"), PenProfile("red", 0.5, "#ff2000"))
    profile = dataclasses.replace(default_profile(), pens=pens)
    lines = [[(2.0, 5.0), (8.0, 5.0)], [(2.0, 5.02), (8.0, 5.02)]]
    both = render_page(lines, profile, PX_PER_MM, REGION, stroke_pens=[0, 1])
    cyan = render_page(lines[:1], profile, PX_PER_MM, REGION, stroke_pens=[0])
    red = render_page(lines[1:], profile, PX_PER_MM, REGION, stroke_pens=[1])
    np.testing.assert_allclose(both, cyan * red, atol=1e-12)
    assert both[50, 50] == pytest.approx([0.0, 0x20 * 0xC0 / 255**2, 0.0])  # subtractive mixing: nearly black


def test_multi_pen_rendering_agrees_with_single_pen_rendering():
    profile = two_pens()
    strokes = [BLACK_LINE, RED_LINE, [(5.0, 5.0)]]
    single = render_page(strokes, profile, PX_PER_MM, REGION)  # stroke_pens=None: pen 0 for all, greyscale
    assert single.ndim == 2
    np.testing.assert_array_equal(single, render_page(strokes, default_profile(), PX_PER_MM, REGION))
    all_black = render_page(strokes, profile, PX_PER_MM, REGION, stroke_pens=[0, 0, 0])
    assert all_black.shape == (*single.shape, 3)
    for channel in range(3):
        np.testing.assert_allclose(all_black[..., channel], single, atol=1e-12)
    all_red = render_strokes(strokes, profile, PX_PER_MM, REGION, stroke_pens=[1, 1, 1])
    red = render_strokes(strokes, profile, PX_PER_MM, REGION, pen_index=1)
    np.testing.assert_array_equal(np.asarray(all_red), np.asarray(red))


@pytest.mark.parametrize("stroke_pens", [[0], [0, 2], [0, -1]])
def test_stroke_pens_must_name_one_pen_of_the_profile_per_stroke(stroke_pens):
    with pytest.raises(ValueError, match="stroke_pens"):
        render_page([BLACK_LINE, RED_LINE], two_pens(), PX_PER_MM, REGION, stroke_pens=stroke_pens)
