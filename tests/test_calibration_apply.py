"""Applying corrections: the profile's [calibration], the planner's correction of every move, and its refusals."""

import dataclasses

import numpy as np
import pytest
import vpype

from calibration import Calibration, ProfileError, default_profile, parse_profile, profile_to_toml
from calibration.apply import CorrectionsError, merge_into_profile, read_corrections
from calibration.machine import Carriage, MachineError, compose
from gcode import OutOfBoundsError, emit_gcode
from gcode.correct import arcs_allowed, compensate_backlash, correct_drawing
from gcode.reader import Move, read_program
from strokebot.cli import main

MACHINE = MachineError(scale_x=1.01, scale_y=0.995, skew_deg=0.5, backlash_x_mm=0.3, backlash_y_mm=0.2)

CORRECTIONS = """\
# strokebot calibration
[affine]
scale_x = 1.01
scale_y = 0.995
skew_deg = 0.5
rotation_deg = 0.0
offset_x_mm = 0.0
offset_y_mm = 0.0
[backlash]
x_mm = 0.3
y_mm = 0.2
[pen]
width_mm = 0.7
[tone]
densities = [0.25, 0.5, 1.0]
darkness = [0.2, 0.45, 0.85]
solid_darkness = 0.88
[fit]
rms_mm = 0.01
nominal_rms_mm = 0.7
points = 30
mode = "photo"
"""


def profile_text(margin_mm: float = 10.0) -> str:
    return profile_to_toml(default_profile()).replace("margin_mm = 10.0", f"margin_mm = {margin_mm}  # my clips")


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(args)
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_apply_merges_the_measured_machine_keeps_the_users_comments_and_reads_back_equal():
    text, profile = merge_into_profile(profile_text(), read_corrections(CORRECTIONS))
    assert "# my clips" in text
    assert profile.calibration.machine == MACHINE
    assert profile.calibration.pen_width_mm == 0.7
    assert profile.pens[0].width_mm == 0.5  # the label stays: the sheet is laid out for it
    assert profile.calibration.tone.darkness == (0.2, 0.45, 0.85)
    assert parse_profile(profile_to_toml(profile)) == profile  # `profile show` -> load: the same profile


def test_a_sheet_drawn_with_a_correction_composes_what_is_left_with_it():
    drawn_with = MachineError(scale_x=1.008, scale_y=0.996, skew_deg=0.4, backlash_x_mm=0.25, backlash_y_mm=0.2)
    # what that sheet measures: the machine's map after the correction's inverse
    left = np.asarray(MACHINE.matrix()) @ np.linalg.inv(drawn_with.matrix())
    from calibration.fit_affine import decompose

    parts = decompose(left)
    residual = MachineError(parts["scale_x"], parts["scale_y"], parts["skew_deg"], 0.0, 0.0, 0.0, 0.05, 0.0)
    machine = compose(residual, drawn_with)
    assert machine.scale_x == pytest.approx(MACHINE.scale_x, abs=1e-5)
    assert machine.scale_y == pytest.approx(MACHINE.scale_y, abs=1e-5)
    assert machine.skew_deg == pytest.approx(MACHINE.skew_deg, abs=1e-3)
    assert machine.backlash_x_mm == pytest.approx(MACHINE.backlash_x_mm)


def test_applying_the_same_corrections_twice_gives_the_same_profile():
    corrections = read_corrections(CORRECTIONS)
    once, _ = merge_into_profile(profile_text(), corrections)
    twice, _ = merge_into_profile(once, corrections)
    assert parse_profile(twice) == parse_profile(once)


def test_a_corrections_file_with_a_value_no_machine_has_is_refused_by_name():
    with pytest.raises(CorrectionsError, match=r"\[affine\] scale_x is 1.6"):
        read_corrections(CORRECTIONS.replace("scale_x = 1.01", "scale_x = 1.6"))


def test_calibration_values_in_a_profile_are_checked_like_the_others():
    bad = profile_text() + "\n[calibration]\nscale_x = 1.01\nbacklash_x_mm = 9.0\n"
    with pytest.raises(ProfileError, match=r"'calibration.backlash_x_mm' is 9.0: must be a number between 0 and 5"):
        parse_profile(bad)
    with pytest.raises(ProfileError, match=r"'sim.pen_darkness' is 2"):
        parse_profile(profile_text() + "\n[sim]\npen_darkness = 2\n")


def test_cli_apply_prints_the_merged_profile_and_writes_nothing_without_write(tmp_path, capsys):
    corrections, mine = tmp_path / "corrections.toml", tmp_path / "mine.toml"
    corrections.write_text(CORRECTIONS)
    mine.write_text(profile_text())
    code, out, err = run(["calibrate", "apply", str(corrections), "--profile", str(mine)], capsys)
    assert code == 0 and "[calibration]" in out and "add --write" in err
    assert mine.read_text() == profile_text()
    code, out, err = run(["calibrate", "apply", str(corrections), "--profile", str(mine), "--write"], capsys)
    assert code == 0
    assert parse_profile(mine.read_text()).calibration.machine == MACHINE
    assert (tmp_path / "mine.toml.bak").read_text() == profile_text()


def test_a_correction_that_would_push_moves_outside_the_work_area_is_refused_and_the_profile_untouched(tmp_path, capsys):
    corrections, mine = tmp_path / "corrections.toml", tmp_path / "mine.toml"
    corrections.write_text(CORRECTIONS.replace("scale_y = 0.995", "scale_y = 0.95"))  # commands y / 0.95
    mine.write_text(profile_text(margin_mm=2.0))
    before = mine.read_bytes()
    code, out, err = run(["calibrate", "apply", str(corrections), "--profile", str(mine), "--write"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "outside" in err and "margin_mm to at least" in err
    assert "Traceback" not in err
    assert mine.read_bytes() == before and not (tmp_path / "mine.toml.bak").exists()


def drawing(lines) -> vpype.Document:
    doc = vpype.Document()
    doc.add(vpype.LineCollection([np.asarray(line, dtype=complex) for line in lines]), 1)
    return doc


def test_the_corrected_commands_draw_the_wanted_lines_on_the_measured_machine():
    rng = np.random.default_rng(4)
    wanted = [complex(20, 20) + rng.uniform(0, 150, (rng.integers(2, 9), 2)) @ [1, 1j] for _ in range(40)]
    profile = dataclasses.replace(default_profile(), calibration=Calibration(MACHINE))
    commanded = correct_drawing(drawing(wanted), profile).layers[1]
    carriage = Carriage(MACHINE)  # pen-up travel between the lines included, from the origin
    for line, goal in zip(commanded, wanted):
        drawn = np.array([carriage.move(p.real, p.imag) for p in line])
        # every wanted vertex is drawn where it was meant (take-up moves add vertices that stand still)
        distance = np.abs(drawn[:, 0] + 1j * drawn[:, 1] - goal[:, None]).min(axis=0)
        assert distance.max() < 1e-9


def test_without_correction_the_same_machine_draws_the_lines_off_by_its_error():
    wanted = [np.array([40 + 40j, 180 + 270j])]
    carriage = Carriage(MACHINE)
    drawn = [carriage.move(p.real, p.imag) for p in wanted[0]]
    assert abs(complex(*drawn[1]) - wanted[0][1]) > 2.0


def test_a_take_up_move_is_inserted_where_an_axis_reverses_and_only_that_axis_moves():
    (line,) = compensate_backlash([np.array([[50.0, 50.0], [60.0, 55.0], [50.0, 60.0]])], MACHINE)
    assert len(line) == 4
    take_up = line[2] - line[1]
    assert take_up == pytest.approx([-0.3, 0.0])


def test_plan_with_corrections_still_refuses_moves_outside_the_work_area():
    base = default_profile()
    profile = dataclasses.replace(base, work_area=dataclasses.replace(base.work_area, margin_mm=0.5),
                                  calibration=Calibration(MachineError(scale_x=0.98)))  # bypasses the load check
    doc = drawing([[1 + 1j, 209 + 1j]])
    with pytest.raises(OutOfBoundsError, match=r"\[calibration\] correction commands \(213.265"):
        correct_drawing(doc, profile)


def test_planned_moves_stay_inside_the_work_area_at_the_corners_of_the_drawing_area():
    profile = parse_profile(merge_into_profile(profile_text(), read_corrections(CORRECTIONS))[0])
    m, wa = profile.work_area.margin_mm, profile.work_area
    corners = [m + m * 1j, wa.width_mm - m + m * 1j, wa.width_mm - m + (wa.height_mm - m) * 1j, m + (wa.height_mm - m) * 1j]
    lines = emit_gcode(correct_drawing(drawing([corners + corners[:1]]), profile), profile)
    for event in read_program(lines):
        if isinstance(event, Move):
            assert 0 <= event.end[0] <= wa.width_mm and 0 <= event.end[1] <= wa.height_mm


def test_arcs_are_turned_off_while_backlash_is_compensated_and_kept_for_an_affine_correction_alone():
    base = default_profile()
    assert arcs_allowed(base)
    assert not arcs_allowed(dataclasses.replace(base, calibration=Calibration(MACHINE)))
    assert arcs_allowed(dataclasses.replace(base, calibration=Calibration(MachineError(scale_x=1.01))))


def test_a_profile_with_a_simulated_machine_reads_back_equal_from_profile_show():
    text = profile_text() + "\n[sim]\nscale_x = 1.01\nskew_deg = -0.3\nbacklash_y_mm = 0.2\npen_width_mm = 0.7\n" \
                            "pen_darkness = 0.8\npen_down_lag_mm = 0.5\n"
    profile = parse_profile(text)
    assert profile.sim.machine == MachineError(scale_x=1.01, skew_deg=-0.3, backlash_y_mm=0.2)
    assert (profile.sim.pen_width_mm, profile.sim.pen_darkness, profile.sim.pen_down_lag_mm) == (0.7, 0.8, 0.5)
    assert parse_profile(profile_to_toml(profile)) == profile
