"""`strokebot calibrate`: pattern, board and measure as a user runs them, and every refusal in one line."""

import json
import sys
from dataclasses import replace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import cv2
import numpy as np
import pytest

from calibration import default_profile, profile_to_toml
from calibration.board import board_image
from calibration.photo import MachineError, play_machine, rasterise, shuffled, synth_photo, synth_scan
from calibration.sheet import read_pattern_file

MACHINE = MachineError(scale_x=1.01, scale_y=0.995, skew_deg=0.5, backlash_x_mm=0.3, backlash_y_mm=0.3)
CORRECTION_NAMES = {
    "affine": {"scale_x", "scale_y", "skew_deg", "rotation_deg", "offset_x_mm", "offset_y_mm"},
    "backlash": {"x_mm", "y_mm"},
    "pen": {"width_mm"},
    "fit": {"rms_mm", "points"},
}


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    """A small profile, its sheet (G-code and sheet.json, made by the CLI), and pictures of it drawn."""
    import subprocess

    folder = tmp_path_factory.mktemp("calibrate")
    base = default_profile()
    profile = replace(base, work_area=replace(base.work_area, width_mm=160.0, height_mm=160.0, margin_mm=5.0))
    (folder / "small.toml").write_text(profile_to_toml(profile))
    done = subprocess.run([sys.executable, "-c", "from strokebot.cli import main; main()", "calibrate", "pattern",
                           "-o", folder / "sheet.gcode", "--profile", folder / "small.toml"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pattern = read_pattern_file(folder / "sheet.json")
    page = rasterise(play_machine(shuffled(pattern.strokes(), 2), MACHINE), pattern.work_area, 5.0, 0.7)
    pictures = {
        "scan": synth_scan(page, 5.0, 127.0, seed=1),
        "photo": synth_photo(page, 5.0, board_image(5.0), (1400, 900), seed=1),
        "blank": np.full((500, 500), 235, np.uint8),
        "blurred": synth_scan(page, 5.0, 127.0, blur_px=2.2, seed=1),
        "clipped": synth_scan(page, 5.0, 127.0, seed=1)[:, :560],
        "no-crosses": synth_scan(rasterise(play_machine([s for role, group in pattern.strokes_by_role().items()
                                                         if role != "crosses" for s in group], MACHINE),
                                           pattern.work_area, 5.0, 0.7), 5.0, 127.0, seed=1),
    }
    for name, picture in pictures.items():
        cv2.imwrite(str(folder / f"{name}.png"), picture)
    return folder


def test_pattern_writes_gcode_and_the_nominal_geometry_beside_it(sheet):
    data = json.loads((sheet / "sheet.json").read_text())
    assert data["format"] == "strokebot-calibration-pattern" and len(data["crosses"]) >= 25
    gcode = (sheet / "sheet.gcode").read_text()
    assert "M3" in gcode and "G1" in gcode


def test_pattern_as_svg_has_one_group_per_role_on_a_page_that_is_the_drawing_area(run_cli, sheet, tmp_path):
    done = run_cli("calibrate", "pattern", "-o", tmp_path / "sheet.svg", "--profile", sheet / "small.toml")
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "sheet.svg").read_text()
    assert 'width="150mm" height="150mm" viewBox="5 5 150 150"' in svg
    for role in ("markers", "crosses", "squares", "backlash", "comb", "tone", "label"):
        assert f'<g id="{role}">' in svg
    assert (tmp_path / "sheet.json").exists()


def test_board_writes_a_printable_board_of_stated_size(run_cli, tmp_path):
    done = run_cli("calibrate", "board", "-o", tmp_path / "board.svg")
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "board.svg").read_text()
    assert "Print at 100 %" in svg and "100 mm" in svg and svg.count("<rect") > 35
    assert "140 x 100 mm" in done.stdout


def test_measure_a_scan_writes_corrections_with_the_machine_s_names(run_cli, sheet, tmp_path):
    out = tmp_path / "corrections.toml"
    done = run_cli("calibrate", "measure", sheet / "scan.png", "--pattern", sheet / "sheet.json", "--scan-dpi", 127,
                   "-o", out)
    assert done.returncode == 0, done.stderr
    corrections = tomllib.loads(out.read_text())
    for table, names in CORRECTION_NAMES.items():
        assert names <= set(corrections[table]), table
    assert corrections["affine"]["scale_x"] == pytest.approx(1.01, abs=0.001)
    assert corrections["affine"]["skew_deg"] == pytest.approx(0.5, abs=0.05)
    assert corrections["backlash"]["x_mm"] == pytest.approx(0.3, abs=0.05)
    assert corrections["pen"]["width_mm"] == pytest.approx(0.7, abs=0.03)
    assert corrections["fit"]["points"] >= 25 and corrections["fit"]["rms_mm"] < 0.03
    assert len(corrections["tone"]["densities"]) == len(corrections["tone"]["darkness"]) >= 8
    assert "scale_x" in done.stdout and "±" in done.stdout  # the table
    assert (tmp_path / "corrections_residuals.png").stat().st_size > 1000


def test_measure_a_photo_with_the_board_beside_the_sheet(run_cli, sheet, tmp_path):
    out = tmp_path / "corrections.toml"
    done = run_cli("calibrate", "measure", sheet / "photo.png", "--pattern", sheet / "sheet.json", "-o", out)
    assert done.returncode == 0, done.stderr
    corrections = tomllib.loads(out.read_text())
    assert corrections["fit"]["mode"] == "photo" and "reference board" in done.stdout
    assert corrections["affine"]["scale_y"] == pytest.approx(0.995, abs=0.001)
    assert corrections["backlash"]["y_mm"] == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("picture, dpi, says", [
    ("blank", 127, "found 0 of the sheet's 4 corner markers"),
    ("no-crosses", 127, "crosses"),
    ("blurred", 127, "too blurred"),
    ("clipped", 127, "cut off"),
    ("scan", None, "reference board"),
])
def test_measure_refuses_a_picture_it_cannot_measure_in_one_line(run_cli, sheet, tmp_path, picture, dpi, says):
    out = tmp_path / "corrections.toml"
    args = ["--scan-dpi", dpi] if dpi else []
    done = run_cli("calibrate", "measure", sheet / f"{picture}.png", "--pattern", sheet / "sheet.json", *args,
                   "-o", out)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
    assert not out.exists() and not (tmp_path / "corrections_residuals.png").exists()


def test_measure_refuses_a_pattern_file_of_another_sheet_or_no_pattern_at_all(run_cli, sheet, tmp_path):
    other = run_cli("calibrate", "pattern", "-o", tmp_path / "a4.svg")  # the built-in A4 profile's sheet
    assert other.returncode == 0, other.stderr
    out = tmp_path / "corrections.toml"
    for pattern, says in ((tmp_path / "a4.json", "do not sit where sheet.json puts them"),
                          (sheet / "small.toml", "cannot read the pattern file")):
        done = run_cli("calibrate", "measure", sheet / "scan.png", "--pattern", pattern, "--scan-dpi", 127, "-o", out)
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_pattern_refuses_a_work_area_too_small_for_the_sheet_in_one_line(run_cli, tmp_path):
    base = default_profile()
    tiny = replace(base, work_area=replace(base.work_area, width_mm=80.0, height_mm=80.0, margin_mm=5.0))
    (tmp_path / "tiny.toml").write_text(profile_to_toml(tiny))
    done = run_cli("calibrate", "pattern", "-o", tmp_path / "sheet.gcode", "--profile", tmp_path / "tiny.toml")
    assert done.returncode == 2 and "too small for a calibration sheet" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sheet.gcode").exists() and not (tmp_path / "sheet.json").exists()
