"""Machine profiles: the built-in default, TOML round trips, and bad profiles named by their field."""

import pytest

from calibration import ProfileError, default_profile, load_profile, parse_profile, profile_to_toml


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
