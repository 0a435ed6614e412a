"""Machine profiles: the built-in default, TOML round trips, and bad profiles named by their field."""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration import (
    MachineProfile,
    Motion,
    PenProfile,
    ProfileError,
    default_profile,
    load_profile,
    parse_profile,
    profile_to_toml,
)
from calibration.profile import DIALECTS
from strokebot.cli import main


def test_the_default_is_an_a4_portrait_grbl_servo_plotter_with_one_half_millimetre_black_pen():
    p = default_profile()
    assert (p.work_area.width_mm, p.work_area.height_mm) == (210.0, 297.0)
    assert p.dialect == "grbl-servo"
    assert p.pen_lift.down_s > 0 and 0 < p.pen_lift.dwell_s < 1
    assert [(pen.width_mm, pen.color) for pen in p.pens] == [(0.5, "#000000")]


def test_a_profile_survives_a_round_trip_through_toml(tmp_path):
    p = default_profile()
    path = tmp_path / "p.toml"
    path.write_text(profile_to_toml(p))
    assert load_profile(path) == p


def test_strings_with_quotes_and_newlines_are_escaped_in_toml():
    text = profile_to_toml(default_profile()).replace('name = "A4 GRBL servo pen plotter"', 'name = "a \\"b\\"\\nc"')
    p = parse_profile(text)
    assert parse_profile(profile_to_toml(p)).name == 'a "b"\nc'


def test_page_and_machine_coordinates_map_back_and_forth():
    p = default_profile()
    assert p.page_to_machine(10.0, 0.0) == (10.0, 297.0)  # top of the page is far from a bottom-left origin
    top_left = parse_profile(profile_to_toml(p).replace('"bottom-left"', '"top-left"'))
    assert top_left.page_to_machine(10.0, 0.0) == (10.0, 0.0)
    for prof in (p, top_left):
        assert prof.machine_to_page(*prof.page_to_machine(12.5, 40.0)) == (12.5, 40.0)


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("draw_feed_mm_min = 3000.0", "draw_feed_mm_min = -5", "motion.draw_feed_mm_min"),
        ("width_mm = 210.0", 'width_mm = "wide"', "work_area.width_mm"),
        ("margin_mm = 10.0", "margin_mm = 150.0", "work_area.margin_mm"),
        ('origin = "bottom-left"', 'origin = "middle"', "work_area.origin"),
        ('dialect = "grbl-servo"', 'dialect = "hpgl"', "dialect"),
        ('color = "#000000"', 'color = "black"', "pens[0].color"),
        ("width_mm = 0.5", "width_mm = 0", "pens[0].width_mm"),
        ("down_s = 1000", "down_s = 10.5", "pen_lift.down_s"),
        ("dwell_s = 0.15", "dwell_s = 0.15\nspeed = 3", "pen_lift.speed"),
        ("acceleration_mm_s2 = 500.0", "acceleration_mm_s2 = nan", "motion.acceleration_mm_s2"),
    ],
)
def test_a_bad_field_is_named_in_the_error(old, new, field):
    text = profile_to_toml(default_profile())
    assert old in text
    with pytest.raises(ProfileError, match=f"'{field.replace('[', '.').replace(']', '.')}'"):
        parse_profile(text.replace(old, new, 1))


def test_malformed_toml_and_missing_files_are_profile_errors(tmp_path):
    with pytest.raises(ProfileError, match="not valid TOML"):
        parse_profile("name = [unclosed")
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(tmp_path / "missing.toml")
    with pytest.raises(ProfileError, match="'pens'"):
        parse_profile(profile_to_toml(default_profile()).split("[[pens]]")[0])


# ---------------------------------------------------------------------------------- what `profile show` prints

REPO = Path(__file__).resolve().parents[1]
SHIPPED_PROFILES = sorted([*REPO.glob("calibration/profiles/*.toml"), *REPO.glob("examples/profiles/*.toml")])
ODD_TEXT = ['quote " and \'single\'', "back\\slash \\n not a newline", "tab\tnew\nline", "ünïcödé 笔 ✒️",
            "del \x7f and nul \x00", "'''", '"""', "# not a comment", "[not] = a table"]


def show(capsys, path: Path) -> str:
    """What `strokebot profile show PATH` prints."""
    with pytest.raises(SystemExit) as done:
        main(["profile", "show", str(path)])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_there_are_shipped_profiles_of_every_dialect():
    assert {load_profile(path).dialect for path in SHIPPED_PROFILES} == set(DIALECTS)


@pytest.mark.parametrize("path", SHIPPED_PROFILES, ids=lambda path: path.name)
def test_what_profile_show_prints_of_a_shipped_profile_reads_back_to_it(capsys, path):
    assert parse_profile(show(capsys, path)) == load_profile(path)


def odd_profiles() -> list[MachineProfile]:
    """Profiles with values a hand-written TOML writer gets wrong: escapes, unicode, tiny floats, big numbers."""
    shipped = {load_profile(path).dialect: load_profile(path) for path in SHIPPED_PROFILES}
    servo, z, marlin, custom = shipped["grbl-servo"], shipped["grbl-z"], shipped["marlin-servo"], shipped["custom"]
    pens = tuple(PenProfile(text, width, "#0a0b0c") for text, width in zip(ODD_TEXT, [0.05, 20, 0.1 + 0.2, 1 / 3]))
    return [
        *(dataclasses.replace(servo, name=text) for text in ODD_TEXT),
        dataclasses.replace(servo, pens=pens),
        dataclasses.replace(servo, pen_lift=dataclasses.replace(servo.pen_lift, down_s=100_000, dwell_s=1e-7)),
        dataclasses.replace(servo, work_area=dataclasses.replace(servo.work_area, width_mm=5000, margin_mm=1e-7),
                            motion=Motion(99_999.99999999999, 100_000, 1.0000000000000002)),
        dataclasses.replace(z, pen_lift=dataclasses.replace(z.pen_lift, up_z_mm=499.99999999999994, down_z_mm=-1e-7)),
        dataclasses.replace(marlin, pen_lift=dataclasses.replace(marlin.pen_lift, servo_index=15, up_angle=179.9)),
        dataclasses.replace(custom, templates=dataclasses.replace(
            custom.templates, header=('M117 say "hi" \\ (back\\slash)', "G4 P0 ; '''"),
            pen_change=('M0 (pen "{pen}")', "M0 {pen}{pen}"))),
    ]


@pytest.mark.parametrize("profile", odd_profiles(), ids=lambda p: repr(p.name)[:24])
def test_what_profile_show_prints_of_odd_values_reads_back_to_them(capsys, tmp_path, profile):
    path = tmp_path / "odd.toml"
    path.write_text(profile_to_toml(profile), encoding="utf-8")
    assert load_profile(path) == profile
    assert parse_profile(show(capsys, path)) == profile


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1).filter(str.strip), pen=st.text(min_size=1).filter(str.strip),
       dwell_s=st.floats(0, 10), width_mm=st.floats(0.05, 20))
def test_any_name_and_number_a_profile_takes_is_written_so_that_it_reads_back(name, pen, dwell_s, width_mm):
    base = default_profile()
    profile = dataclasses.replace(
        base, name=name, pens=(PenProfile(pen, width_mm, "#123456"),),
        pen_lift=dataclasses.replace(base.pen_lift, dwell_s=dwell_s),
    )
    assert parse_profile(profile_to_toml(profile)) == profile
