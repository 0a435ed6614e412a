"""Colour: strokes share a palette of pens (assigned softly, then fixed) or carry their own paint."""

import numpy as np
import pytest

from strokeopt.optimise import FitConfig, fit_strokes

RED, BLUE = (0.85, 0.1, 0.1), (0.1, 0.15, 0.85)


def two_patches(size=48):
    """White paper with a red square on the left and a blue square on the right, as (3, H, W)."""
    target = np.ones((3, size, size), np.float32)
    target[:, 12:36, 4:20] = np.array(RED)[:, None, None]
    target[:, 12:36, 28:44] = np.array(BLUE)[:, None, None]
    return target


def test_each_stroke_takes_the_pen_of_the_colour_under_it():
    config = FitConfig(strokes=150, iters=60, colour="pens", pen_colors=("#d91a1a", "#1a26d9"), stroke_width_px=1.5,
                       progress=False)
    result = fit_strokes(two_patches(), config)
    centres = result.strokes.points.mean(axis=1)
    left, right = centres[:, 0] < 24, centres[:, 0] >= 24
    assert (result.strokes.pens[left] == 0).mean() > 0.9  # red pen on the red square
    assert (result.strokes.pens[right] == 1).mean() > 0.9  # blue pen on the blue square
    assert result.render.shape == (3, 48, 48)


def test_a_pen_drawing_uses_nothing_but_the_pens_inks():
    config = FitConfig(strokes=80, iters=30, colour="pens", pen_colors=("#d91a1a", "#1a26d9"), progress=False)
    result = fit_strokes(two_patches(), config)
    assert set(np.unique(result.strokes.pens)) <= {0, 1}
    assert result.strokes.colors is None  # the colour is the pen's, not the stroke's own


def test_free_paint_learns_colours_close_to_the_picture():
    result = fit_strokes(two_patches(), FitConfig(strokes=150, iters=60, colour="paint", stroke_width_px=2.0,
                                                  progress=False))
    centres = result.strokes.points.mean(axis=1)
    on_red = (centres[:, 0] < 18) & (centres[:, 1] > 14) & (centres[:, 1] < 34)
    colours = result.strokes.colors[on_red]
    assert colours[:, 0].mean() > colours[:, 2].mean() + 0.3  # red strokes are red
    assert result.strokes.opacity.shape == (150,)


def test_the_fit_gets_closer_to_a_colour_target_than_white_paper():
    target = two_patches()
    result = fit_strokes(target, FitConfig(strokes=150, iters=60, colour="pens",
                                           pen_colors=("#d91a1a", "#1a26d9"), stroke_width_px=1.5, progress=False))
    assert np.mean((result.render - target) ** 2) < 0.6 * np.mean((1 - target) ** 2)


@pytest.mark.parametrize("bad", [dict(colour="rainbow"), dict(colour="pens"),
                                 dict(colour="pens", pen_colors=("#000000",), pen_widths_px=(1.0, 2.0))])
def test_bad_colour_settings_are_refused(bad):
    with pytest.raises(ValueError):
        FitConfig(**bad)


def test_a_colour_fit_refuses_a_grayscale_target():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        fit_strokes(np.ones((16, 16), np.float32), FitConfig(strokes=5, iters=1, colour="paint", progress=False))


def test_painted_strokes_carry_their_colour_into_the_svg():
    from strokeopt.export import strokes_to_svg

    class Pen:
        name, width_mm, color = "brush", 1.0, "#000000"

    result = fit_strokes(two_patches(), FitConfig(strokes=20, iters=5, colour="paint", progress=False))
    text = strokes_to_svg(result.strokes, 1.0, [Pen()])
    first = result.strokes.colors[0]
    expected = "#" + "".join(f"{round(float(v) * 255):02x}" for v in first)
    assert f'stroke="{expected}"' in text and text.count("stroke-opacity=") == 20


def test_learnable_widths_grow_on_a_dark_page_shrink_on_a_light_one_and_stay_in_bounds():
    def widths_after_fit(grey: float, start_px: float) -> np.ndarray:
        target = np.full((40, 40), grey, np.float32)
        config = FitConfig(strokes=100, iters=80, primitive="dot", stroke_width_px=start_px,
                           width_range_px=(0.5, 6.0), progress=False)
        return fit_strokes(target, config).strokes.widths_px

    dark = widths_after_fit(0.1, 2.0)  # 100 dots of 2 px cannot darken a 40 x 40 page: they must grow
    light = widths_after_fit(0.97, 4.0)  # 100 dots of 4 px are far too much ink for a near-white page
    assert dark.mean() > 3.0 and light.mean() < 3.0
    assert min(dark.min(), light.min()) >= 0.5 and max(dark.max(), light.max()) <= 6.0


def test_learnable_widths_are_refused_for_pens_of_fixed_width():
    with pytest.raises(ValueError, match="widths of the pens"):
        FitConfig(colour="pens", pen_colors=("#000000",), width_range_px=(1.0, 2.0))


def test_opaque_paint_in_order_reaches_the_colours_too():
    target = two_patches()
    result = fit_strokes(target, FitConfig(strokes=150, iters=60, colour="paint", compositing="over",
                                           stroke_width_px=2.0, progress=False))
    assert result.render.shape == (3, 48, 48)
    assert np.mean((result.render - target) ** 2) < 0.6 * np.mean((1 - target) ** 2)


def test_over_compositing_is_for_paint_only():
    with pytest.raises(ValueError, match="for paint"):
        FitConfig(compositing="over")
