"""--paint with a pen plotter: `draw` refuses it in one line, `fit` fits free colours with a notice."""

from __future__ import annotations

import pytest
from PIL import Image

from strokebot.cli import main

TINY = ["--size", "16", "--strokes", "10", "--iters", "1", "--quiet", "--device", "cpu"]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (16, 12), (200, 60, 30)).save(path)
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_draw_paint_on_a_pen_plotter_is_refused_in_one_line_before_any_work(tmp_path, photo, capsys):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "draw", photo, "-o", out_dir, "--paint", *TINY)
    assert code == 2
    assert out == ""
    assert err == ("strokebot: error: --paint fits free colours, but this profile's plotter draws with its "
                   "1 pen (black): leave out --paint to fit with its pens, or use `strokebot fit --paint` "
                   "for an SVG to paint elsewhere\n")
    assert not out_dir.exists()


def test_draw_paint_names_every_pen_of_a_multi_pen_profile(tmp_path, photo, capsys):
    profile = tmp_path / "two.toml"
    default = run(capsys, "profile", "show")[1]
    profile.write_text(default + '\n[[pens]]\nname = "red"\nwidth_mm = 0.5\ncolor = "#ff0000"\n')
    code, _, err = run(capsys, "draw", photo, "-o", tmp_path / "out", "--paint", "--profile", profile, *TINY)
    assert code == 2
    assert "draws with its 2 pens (black, red):" in err
    assert len(err.splitlines()) == 1


def test_fit_paint_says_the_plotter_would_use_its_pens_and_fits_colours(tmp_path, photo, capsys):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "fit", photo, "-o", out_dir, "--paint", *TINY)
    assert code == 0
    assert err == ("strokebot: notice: --paint fits free colours; this profile's plotter would draw them with "
                   "its 1 pen (black) (leave out --paint to fit with its pens)\n")
    assert out.startswith("fitted 10 lines")
    svg = (out_dir / "strokes.svg").read_text()
    assert svg.count("stroke-opacity=") == 10  # each stroke its own colour and opacity


def test_fit_without_paint_has_no_notice(tmp_path, photo, capsys):
    code, _, err = run(capsys, "fit", photo, "-o", tmp_path / "out", *TINY)
    assert code == 0
    assert "paint" not in err
