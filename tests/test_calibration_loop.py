"""The calibration loop proves itself on a simulated miscalibrated plotter: draw, photograph, measure, apply, draw again.

The plotter (the profile's [sim]) draws 1 % long in X, 0.5 % short in Y, with its Y axis leaning 0.5°,
0.3 mm of backlash on both axes and a 0.7 mm pen labelled 0.5 mm. After one round of calibration its
crosses land within hundredths of a millimetre of where they were commanded.
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from calibration import as_calibrated, default_profile, load_profile, profile_to_toml
from calibration.machine import MachineError
from calibration.profile import SimulatedMachine
from robot import render_strokes
from strokebot import pipeline
from strokebot.cli import main

SIM = """
[sim]
scale_x = 1.01
scale_y = 0.995
skew_deg = 0.5
backlash_x_mm = 0.3
backlash_y_mm = 0.3
pen_width_mm = 0.7
"""
PX_PER_MM = 4.0


def cli(*args: str) -> None:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    assert stop.value.code == 0


def measured(path: Path) -> dict:
    return tomllib.loads(path.read_text())


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Both rounds through the commands a user runs; the two corrections.toml and the profiles."""
    folder = tmp_path_factory.mktemp("loop")
    mine = folder / "mine.toml"
    mine.write_text(profile_to_toml(default_profile()) + SIM)
    uncorrected = load_profile(mine)
    rounds = []
    for n in (1, 2):
        sheet, photo, corrections = folder / f"sheet{n}.gcode", folder / f"photo{n}.png", folder / f"corrections{n}.toml"
        cli("calibrate", "pattern", "-o", str(sheet), "--profile", str(mine), "--date", "2026-12-01")
        cli("calibrate", "photo", str(sheet), "-o", str(photo), "--profile", str(mine), "--seed", str(n))
        cli("calibrate", "measure", str(photo), "--pattern", str(sheet.with_suffix(".json")), "-o", str(corrections))
        rounds.append(measured(corrections))
        if n == 1:
            cli("calibrate", "apply", str(corrections), "--profile", str(mine), "--write")
    return {"rounds": rounds, "uncorrected": uncorrected, "corrected": load_profile(mine), "folder": folder}


def test_before_calibration_the_crosses_are_far_from_where_they_were_commanded(loop):
    first = loop["rounds"][0]
    assert first["fit"]["nominal_rms_mm"] > 0.5  # on A4: 0.69 mm from scale 1.01 / 0.995 and skew 0.5°


def test_one_round_of_calibration_brings_them_within_five_hundredths_of_a_millimetre(loop):
    second = loop["rounds"][1]
    assert second["fit"]["nominal_rms_mm"] <= 0.05
    assert second["affine"]["scale_x"] == pytest.approx(1.0, abs=0.001)
    assert second["affine"]["scale_y"] == pytest.approx(1.0, abs=0.001)
    assert abs(second["affine"]["skew_deg"]) < 0.05
    assert abs(second["backlash"]["x_mm"]) < 0.05 and abs(second["backlash"]["y_mm"]) < 0.05


def test_the_measured_pen_and_backlash_are_the_simulated_ones(loop):
    calibration = loop["corrected"].calibration
    assert calibration.pen_width_mm == pytest.approx(0.7, abs=0.03)
    assert calibration.machine.backlash_x_mm == pytest.approx(0.3, abs=0.05)
    assert calibration.machine.backlash_y_mm == pytest.approx(0.3, abs=0.05)
    assert calibration.machine.scale_x == pytest.approx(1.01, abs=0.001)
    assert calibration.machine.scale_y == pytest.approx(0.995, abs=0.001)
    assert calibration.machine.skew_deg == pytest.approx(0.5, abs=0.05)


def test_applying_the_second_round_composes_it_with_the_first(loop):
    """The second sheet was drawn corrected: sheet.json says with what, and apply composes what was left with it."""
    from calibration.apply import merge_into_profile, read_corrections

    folder = loop["folder"]
    assert loop["rounds"][1]["drawn_with"]["scale_x"] == loop["corrected"].calibration.machine.scale_x
    _, again = merge_into_profile((folder / "mine.toml").read_text(), read_corrections((folder / "corrections2.toml").read_text()))
    machine = again.calibration.machine
    assert machine.scale_x == pytest.approx(1.01, abs=0.001) and machine.scale_y == pytest.approx(0.995, abs=0.001)
    assert machine.skew_deg == pytest.approx(0.5, abs=0.05) and machine.backlash_x_mm == pytest.approx(0.3, abs=0.05)


def star_svg(path: Path) -> Path:
    """A drawing: spokes and rings over the page, the kind of lines a fit produces."""
    t = np.linspace(0, 2 * np.pi, 37)
    spokes = "".join(f'<path d="M 95 140 L {95 + 80 * np.cos(a):.2f} {140 + 120 * np.sin(a):.2f}"/>' for a in t[::2])
    rings = "".join(f'<path d="M {95 + r:.1f} 140 ' + " ".join(f"L {95 + r * np.cos(a):.2f} {140 + 1.4 * r * np.sin(a):.2f}"
                                                          for a in t[1:]) + '"/>' for r in (20, 40, 60, 80))
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="190mm" height="277mm" viewBox="0 0 190 277">'
                    f'<g fill="none" stroke="black" stroke-width="0.5">{spokes}{rings}</g></svg>')
    return path


def drawn_page(svg: Path, profile) -> np.ndarray:
    run = pipeline.plan_svg(svg, profile)
    simulator, problems = pipeline.simulate_program(run.lines, profile)
    assert not problems
    image = pipeline.render_drawing(simulator.strokes, profile, PX_PER_MM)
    return np.asarray(image, dtype=float) / 255


def test_render_and_simulated_drawing_agree_better_once_calibrated(loop):
    svg = star_svg(loop["folder"] / "star.svg")
    exact = replace(loop["uncorrected"], sim=None)
    intended = pipeline.simulate_program(pipeline.plan_svg(svg, exact).lines, exact)[0].strokes
    scores = {}
    for name in ("uncorrected", "corrected"):
        profile = loop[name]  # what the fit would render with: the pen as labelled, or as measured
        render = np.asarray(render_strokes(intended, as_calibrated(profile), PX_PER_MM), dtype=float) / 255
        drawing = drawn_page(svg, profile)
        scores[name] = structural_similarity(render, drawing, data_range=1.0)
    assert scores["corrected"] > scores["uncorrected"] + 0.1


def test_the_simulated_machine_really_draws_off_by_its_planted_error(tmp_path):
    """Straight lines commanded toward +X and +Y land where the planted affine map (and backlash) puts them."""
    error = MachineError(scale_x=1.01, scale_y=0.995, skew_deg=0.5, backlash_x_mm=0.3, backlash_y_mm=0.3)
    profile = replace(default_profile(), sim=SimulatedMachine(machine=error))
    lines = ["G21", "G90", "M5", "G0 X20 Y30", "M3 S1000", "G1 X120 Y30 F3000", "G1 X120 Y250", "M5", "G0 X0 Y0"]
    simulator, problems = pipeline.simulate_program(lines, profile)
    assert not problems
    (stroke,) = simulator.strokes
    trailing = np.array([0.15, 0.15])  # moving toward + on both axes, the carriage trails by half the backlash
    expected = (np.array([[20, 30], [120, 30], [120, 250]]) - trailing) @ error.matrix().T
    assert np.array(stroke)[-3:] == pytest.approx(expected, abs=1e-9)
    assert abs(stroke[-1][0] - 120) > 1.5  # the lean of Y: 220 mm up moves 1.9 mm toward +X


def test_a_pen_that_touches_down_late_misses_the_start_of_each_line():
    profile = replace(default_profile(), sim=SimulatedMachine(pen_down_lag_mm=2.0))
    lines = ["G21", "G90", "M5", "G0 X20 Y30", "M3 S1000", "G1 X120 Y30 F3000", "M5", "G0 X0 Y0"]
    simulator, _ = pipeline.simulate_program(lines, profile)
    assert simulator.strokes == [[(22.0, 30.0), (120.0, 30.0)]]


def test_a_sim_url_plays_the_machine_errors_it_names():
    import serial

    from robot.boards.sim_url import NAMED_SIMULATORS

    port = serial.serial_for_url("sim://?scale_x=1.02&backlash_x_mm=0.4&name=skewed-url", timeout=0)
    port.close()
    board = NAMED_SIMULATORS["skewed-url"]
    assert board.profile.sim.machine == MachineError(scale_x=1.02, backlash_x_mm=0.4)
    for line in (b"G0 X50 Y10\n", b"M3 S1000\n", b"G1 X100 Y10 F3000\n", b"M5\n"):
        board.receive(line)
    (stroke,) = board.strokes
    assert stroke[-1][0] == pytest.approx((100 - 0.2) * 1.02)


def test_a_sim_url_refuses_a_machine_error_no_profile_would_take():
    from robot.boards.sim_url import parse_sim_url

    with pytest.raises(ValueError, match=r"sim.backlash_x_mm' is -1.0"):
        parse_sim_url("sim://?backlash_x_mm=-1")


def test_a_lighter_pen_draws_lighter_in_the_simulated_drawing():
    profile = replace(default_profile(), sim=SimulatedMachine(pen_width_mm=2.0, pen_darkness=0.5))
    lines = ["G21", "G90", "M5", "G0 X20 Y30", "M3 S1000", "G1 X120 Y30 F3000", "M5", "G0 X0 Y0"]
    simulator, _ = pipeline.simulate_program(lines, profile)
    page = np.asarray(pipeline.render_drawing(simulator.strokes, profile, 4.0), dtype=float) / 255
    assert page.min() == pytest.approx(0.5, abs=0.01)  # half as dark as black, where the 2 mm line covers
    assert (page < 0.75).sum(axis=0).max() == pytest.approx(8, abs=1)  # 2 mm wide at 4 px/mm
