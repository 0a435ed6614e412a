"""Machine dialects: each built-in writes its firmware's pen moves, and every program reads back the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import vpype

from calibration import ProfileError, default_profile, load_profile, parse_profile, profile_to_toml
from gcode import (
    GcodeError,
    OutOfBoundsError,
    Pause,
    PenChange,
    compute_stats,
    emit_gcode,
    flavour_for,
    read_program,
    strip_comment,
)

PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"
GRBL_Z, MARLIN_SERVO, MARLIN_Z, CUSTOM = (
    PROFILES / name for name in ("a3_grbl_z.toml", "a4_marlin_servo.toml", "a4_marlin_z.toml", "custom_grbl_laser.toml")
)


def two_pens() -> vpype.Document:
    doc = vpype.Document()
    for layer_id, (name, lines) in enumerate(
        [("black", [[20 + 20j, 40 + 20j, 40 + 40j], [60 + 60j, 60 + 60j]]), ("red", [[30 + 30j, 50 + 50j]])], start=1
    ):
        doc.add(vpype.LineCollection(lines, metadata={vpype.METADATA_FIELD_NAME: name}), layer_id, with_metadata=True)
    return doc


def codes(program: list[str]) -> list[str]:
    return [code for code in (strip_comment(line)[0] for line in program) if code]


def all_profiles():
    return [default_profile(), *(load_profile(path) for path in (GRBL_Z, MARLIN_SERVO, MARLIN_Z, CUSTOM))]


@pytest.mark.parametrize("profile", all_profiles(), ids=lambda p: p.dialect)
def test_every_dialect_draws_the_same_lines_with_the_same_pen_lifts(profile):
    program = emit_gcode(two_pens(), profile, title="same")
    stats = compute_stats(program, profile)
    assert stats.draw_mm == pytest.approx(20 + 20 + 20 * 2**0.5)
    pen_changes = [e for e in read_program(program, flavour_for(profile)) if isinstance(e, PenChange)]
    assert [e.down for e in pen_changes] == [True, False] * 3  # two lines and a dot, each lowered and lifted once
    assert stats.pen_lifts == 3
    assert max(map(len, program)) <= 70


def test_grbl_servo_lowers_with_m3_and_lifts_with_m5_then_dwells():
    program = codes(emit_gcode(two_pens(), default_profile()))
    down = program.index("M3S1000")
    assert program[down + 1] == "G4P0.150" and "M5" in program[: program.index("G0X20.000Y20.000")]


def test_z_dialects_plunge_at_the_plunge_feed_and_restate_the_drawing_feed_after_it():
    program = codes(emit_gcode(two_pens(), load_profile(GRBL_Z)))
    plunges = [i for i, code in enumerate(program) if code == "G1Z0.000F600.000"]
    assert len(plunges) == 3
    after = [program[i + 1] for i in plunges]
    assert sorted(line.endswith("F2500.000") for line in after) == [False, True, True]  # the dot draws nothing
    assert "G0Z5.000" in after
    assert program.count("G0Z5.000") == 4  # once at the start, then after each of the three strokes


def test_marlin_servo_uses_m280_millisecond_dwells_semicolon_comments_and_no_m2():
    program = emit_gcode(two_pens(), load_profile(MARLIN_SERVO), title="a (b); c")
    assert "M280 P0 S20.000" in program and "M280 P0 S50.000" in program
    assert "G4 P200" in program  # 0.2 s written in Marlin's milliseconds
    assert not any("(" in line or ")" in line for line in program)  # Marlin does not read ( ) as comments
    assert program[0].startswith("; strokebot: a _b__ c")
    assert program[-1] == "M400" and "M2" not in codes(program)


def test_marlin_pen_changes_show_the_pen_name_on_the_display():
    program = emit_gcode(two_pens(), load_profile(MARLIN_Z))
    pauses = [e for e in read_program(program, flavour_for(load_profile(MARLIN_Z))) if isinstance(e, Pause)]
    assert [p.message for p in pauses] == ["change to pen red"]
    assert "M0 change to pen red" in program


def test_grbl_refuses_marlin_words_and_marlin_counts_g4_p_in_milliseconds():
    with pytest.raises(GcodeError) as info:
        read_program(["M280 P0 S30"])
    assert info.value.grbl_code == 20
    assert compute_stats(["G4 P250"], load_profile(MARLIN_Z)).est_seconds == pytest.approx(0.25)
    assert compute_stats(["G4 P0.25"], default_profile()).est_seconds == pytest.approx(0.25)


def test_a_custom_dialect_writes_its_templates_and_names_the_pen_in_its_pen_change():
    program = emit_gcode(two_pens(), load_profile(CUSTOM))
    assert program[1:5] == ["G21", "G90", "G94", "M5"]
    assert program.count("M4 S600") == 3
    assert "M0 (load material for red)" in program
    assert program[-2:] == ["M5", "M2"]


def custom(**templates: list[str]) -> str:
    text = PROFILES.joinpath("custom_grbl_laser.toml").read_text()
    for field, lines in templates.items():
        start = text.index(f"{field} = [")
        end = text.index("\n", start)
        text = text[:start] + f"{field} = {lines!r}".replace("'", '"') + text[end:]
    return text


def test_custom_templates_that_leave_the_work_area_or_are_not_gcode_stop_the_emitter():
    with pytest.raises(OutOfBoundsError, match="G0 X400"):
        emit_gcode(two_pens(), parse_profile(custom(pen_change=["G0 X400 Y10", "M0"])))
    with pytest.raises(GcodeError, match="M7"):
        emit_gcode(two_pens(), parse_profile(custom(header=["M7"])))


@pytest.mark.parametrize(
    "templates, field",
    [
        ({"pen_up": ["M4 S600"]}, "templates.pen_down"),  # up and down the same: nobody could tell them apart
        ({"pen_down": []}, "templates.pen_down"),
        ({"header": ["G0 X{x}"]}, "templates.header"),
        ({"footer": ["M2\nG0 X-50"]}, "templates.footer"),
        ({"pen_change": ["M0 " + "x" * 80]}, "templates.pen_change"),
    ],
)
def test_bad_custom_templates_are_named_in_the_profile_error(templates, field):
    with pytest.raises(ProfileError, match=f"'{field}'"):
        parse_profile(custom(**templates))


def test_pen_lift_settings_of_another_dialect_are_refused_by_name():
    text = profile_to_toml(default_profile()).replace("down_s = 1000", "down_s = 1000\nup_z_mm = 5.0")
    with pytest.raises(ProfileError, match="'pen_lift.up_z_mm' is not a setting of the grbl-servo dialect"):
        parse_profile(text)
    with pytest.raises(ProfileError, match="'pen_lift.down_z_mm'"):
        parse_profile(GRBL_Z.read_text().replace("down_z_mm = 0.0", "down_z_mm = 9.0"))


@pytest.mark.parametrize("path", [GRBL_Z, MARLIN_SERVO, MARLIN_Z, CUSTOM], ids=lambda p: p.stem)
def test_example_profiles_survive_a_round_trip_through_toml(path):
    profile = load_profile(path)
    assert parse_profile(profile_to_toml(profile)) == profile


def test_long_pen_names_are_cut_so_every_line_fits_in_70_characters():
    doc = two_pens()
    doc.layers[2].set_property(vpype.METADATA_FIELD_NAME, "r" * 300 + ";(\n)")
    for profile in all_profiles():
        program = emit_gcode(doc, dataclasses.replace(profile), title="t" * 300)
        assert max(map(len, program)) <= 70
        assert all(";" not in line[1:] and line.count("(") <= 1 for line in program)
