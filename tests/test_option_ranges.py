"""Every number an option or a profile field takes has a range a real machine or a sane run allows.

A value outside it (nan and inf included) is refused in one line that names the option or field and
says the range, with exit status 2 and nothing written.
"""

import os
from pathlib import Path

import pytest

from calibration import default_profile, profile_to_toml
from strokebot.cli import main

PROFILES = Path(__file__).resolve().parent.parent / "examples" / "profiles"
FIT = ["fit", "x.png", "-o", "out"]
DRAW = ["draw", "x.png", "-o", "out"]
PLAN = ["plan", "x.svg", "-o", "x.gcode"]
SIMULATE = ["simulate", "x.gcode", "-o", "x.png"]
DATASET = ["painter", "dataset", "-o", "data", "--strokes", "10"]
TRAIN = ["painter", "train", "--kind", "vae", "--data", ".", "-o", "p.pt"]


def run(capsys, args: list[str]) -> tuple[int, list[str]]:
    """Run `strokebot ARGS` in this process: its exit status and its lines on stderr."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("args, words", [
    (FIT + ["--strokes", "0"], ["--strokes", "1<=x<=400000"]),
    (FIT + ["--strokes", "400001"], ["--strokes", "1<=x<=400000"]),
    (FIT + ["--iters", "-1"], ["--iters", "0<=x<=100000"]),
    (FIT + ["--size", "7"], ["--size", "8<=x<=4096"]),
    (FIT + ["--size", "4097"], ["--size", "8<=x<=4096"]),
    (FIT + ["--stroke-width-px", "nan"], ["--stroke-width-px", "'nan' is not a finite number"]),
    (FIT + ["--stroke-width-px", "0"], ["--stroke-width-px", "0.05<=x<=100"]),
    (FIT + ["--width-range-px", "nan", "2"], ["--width-range-px", "'nan' is not a finite number"]),
    (FIT + ["--width-range-px", "5", "1"], ["--width-range-px", "MIN 5 is above MAX 1"]),
    (FIT + ["--brush-pressure", "nan"], ["--brush-pressure", "not a finite number"]),
    (FIT + ["--brush-pressure", "1.5"], ["--brush-pressure", "0<=x<=1"]),
    (FIT + ["--seed", "-1"], ["--seed", "0<=x<=4294967295"]),
    (DRAW + ["--seed", str(2**32)], ["--seed", "0<=x<=4294967295"]),
    (DRAW + ["--baud", "0"], ["--baud", "0 is not a serial rate"]),
    (DRAW + ["--baud", "-9600"], ["--baud", "is not a serial rate"]),
    (DRAW + ["--iters", "100001"], ["--iters", "0<=x<=100000"]),
    (PLAN + ["--tolerance", "nan"], ["--tolerance", "'nan' is not a finite number"]),
    (PLAN + ["--tolerance", "inf"], ["--tolerance", "0.001<=x<=10"]),
    (PLAN + ["--tolerance", "0"], ["--tolerance", "0.001<=x<=10"]),
    (PLAN + ["--merge-tolerance", "-0.5"], ["--merge-tolerance", "0<=x<=10"]),
    (PLAN + ["--merge-tolerance", "nan"], ["--merge-tolerance", "not a finite number"]),
    (SIMULATE + ["--px-per-mm", "nan"], ["--px-per-mm", "not a finite number"]),
    (SIMULATE + ["--px-per-mm", "0.1"], ["--px-per-mm", "0.5<=x<=40"]),
    (SIMULATE + ["--px-per-mm", "41"], ["--px-per-mm", "0.5<=x<=40"]),
    (SIMULATE + ["--time-scale", "-1"], ["--time-scale", "0<=x<=100"]),
    (SIMULATE + ["--time-scale", "inf"], ["--time-scale", "0<=x<=100"]),
    (["send", "x.gcode", "--port", "sim", "--baud", "12345"], ["--baud", "12345 is not a serial rate"]),
    (DATASET + ["--size", "8"], ["--size", "16<=x<=512"]),
    (DATASET + ["--seed", str(2**32)], ["--seed", "0<=x<=4294967295"]),
    (DATASET + ["--shard-size", "0"], ["--shard-size", "1<=x<=100000"]),
    (DATASET + ["--workers", "0"], ["--workers", "1<=x<=1024"]),
    (["painter", "dataset", "-o", "data", "--strokes", "0"], ["--strokes", "1<=x<=10000000"]),
    (TRAIN + ["--steps", "0"], ["--steps", "1<=x<=100000000"]),
    (TRAIN + ["--batch", "0"], ["--batch", "1<=x<=100000"]),
    (TRAIN + ["--lr", "0"], ["--lr", "0<x<=1"]),
    (TRAIN + ["--lr", "nan"], ["--lr", "'nan' is not a finite number"]),
    (TRAIN + ["--lr", "inf"], ["--lr", "0<x<=1"]),
    (TRAIN + ["--seed", str(2**32)], ["--seed", "0<=x<=4294967295"]),
    (TRAIN + ["--checkpoint-every", "-1"], ["--checkpoint-every", "0<=x<=100000000"]),
    (TRAIN + ["--sample-every", "0"], ["--sample-every", "1<=x<=100000000"]),
    (TRAIN + ["--time-limit", "0"], ["--time-limit", "0<x<=31536000"]),
    (TRAIN + ["--time-limit", "inf"], ["--time-limit", "0<x<=31536000"]),
    (TRAIN + ["--time-limit", "nan"], ["--time-limit", "not a finite number"]),
    (TRAIN + ["--limit", "0"], ["--limit", "1<=x<=10000000"]),
    (["painter", "eval", "neural:guided", "--data", ".", "--limit", "0"], ["--limit", "1<=x<=10000000"]),
    (["painter", "paint", "a.txt", "-o", "a.png", "--size", "600"], ["--size", "16<=x<=512"]),
])
def test_an_option_out_of_range_is_refused_in_one_line_naming_it(capsys, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, args)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("strokebot: error: ") and all(word in err[0] for word in words), err
    assert os.listdir(tmp_path) == []


DEFAULT = profile_to_toml(default_profile())
MARLIN_SERVO = (PROFILES / "a4_marlin_servo.toml").read_text()
GRBL_Z = (PROFILES / "a3_grbl_z.toml").read_text()


@pytest.mark.parametrize("profile, old, new, words", [
    (DEFAULT, "width_mm = 210.0", "width_mm = 0", ["'work_area.width_mm' is 0", "between 1 and 5000 mm",
                                                   "a plotter's reach"]),
    (DEFAULT, "height_mm = 297.0", "height_mm = 6000", ["'work_area.height_mm' is 6000", "between 1 and 5000 mm"]),
    (DEFAULT, "height_mm = 297.0", "height_mm = -297.0", ["'work_area.height_mm' is -297.0"]),
    (DEFAULT, "margin_mm = 10.0", "margin_mm = -1", ["'work_area.margin_mm' is -1", "between 0 and 2500 mm"]),
    (DEFAULT, "draw_feed_mm_min = 3000.0", "draw_feed_mm_min = 0", ["'motion.draw_feed_mm_min' is 0",
                                                                    "between 1 and 100000 mm/min"]),
    (DEFAULT, "travel_feed_mm_min = 6000.0", "travel_feed_mm_min = 1e6", ["'motion.travel_feed_mm_min'",
                                                                          "no plotter's steppers move faster"]),
    (DEFAULT, "acceleration_mm_s2 = 500.0", "acceleration_mm_s2 = 1e9", ["'motion.acceleration_mm_s2'",
                                                                         "between 1 and 50000 mm/s²",
                                                                         "a plotter's steppers cannot do more"]),
    (DEFAULT, "acceleration_mm_s2 = 500.0", "acceleration_mm_s2 = nan", ["'motion.acceleration_mm_s2' is nan"]),
    (DEFAULT, "acceleration_mm_s2 = 500.0", "acceleration_mm_s2 = inf", ["'motion.acceleration_mm_s2' is inf"]),
    (DEFAULT, "dwell_s = 0.15", "dwell_s = 11", ["'pen_lift.dwell_s' is 11", "between 0 and 10 s"]),
    (DEFAULT, "down_s = 1000", "down_s = 0", ["'pen_lift.down_s' is 0", "between 1 and 100000",
                                              "S0 would leave the pen up"]),
    (DEFAULT, "down_s = 1000", "down_s = 10.5", ["'pen_lift.down_s' is 10.5", "a whole number"]),
    (DEFAULT, "width_mm = 0.5", "width_mm = 50", ["'pens[0].width_mm' is 50", "between 0.05 and 20 mm"]),
    (DEFAULT, "width_mm = 0.5", "width_mm = 0.01", ["'pens[0].width_mm' is 0.01", "the finest technical pen"]),
    (MARLIN_SERVO, "servo_index = 0", "servo_index = 16", ["'pen_lift.servo_index' is 16", "between 0 and 15"]),
    (MARLIN_SERVO, "up_angle = 50.0", "up_angle = 181", ["'pen_lift.up_angle' is 181", "between 0 and 180°",
                                                         "a hobby servo"]),
    (GRBL_Z, "up_z_mm = 5.0", "up_z_mm = 600", ["'pen_lift.up_z_mm' is 600", "between -500 and 500 mm"]),
    (GRBL_Z, "plunge_feed_mm_min = 600.0", "plunge_feed_mm_min = 0", ["'pen_lift.plunge_feed_mm_min' is 0"]),
])
def test_a_profile_field_out_of_range_is_refused_with_its_range_and_reason(
    capsys, tmp_path, profile, old, new, words
):
    assert old in profile
    path = tmp_path / "p.toml"
    path.write_text(profile.replace(old, new, 1))
    code, err = run(capsys, ["plan", "x.svg", "-o", tmp_path / "x.gcode", "--profile", path])
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"strokebot: error: {path}: field ") and all(word in err[0] for word in words), err
    assert os.listdir(tmp_path) == ["p.toml"]


@pytest.mark.parametrize("profile", sorted(PROFILES.glob("*.toml")), ids=lambda path: path.name)
def test_the_example_profiles_are_within_every_range(capsys, profile):
    code, err = run(capsys, ["profile", "show", profile])
    assert code == 0, err


def test_a_png_too_large_for_the_work_area_is_refused_before_the_program_is_read(capsys, tmp_path):
    wall = tmp_path / "wall.toml"
    wall.write_text(DEFAULT.replace("width_mm = 210.0", "width_mm = 5000.0").replace("height_mm = 297.0",
                                                                                      "height_mm = 3000.0"))
    code, err = run(capsys, ["simulate", tmp_path / "missing.gcode", "-o", tmp_path / "x.png", "--px-per-mm", "10",
                             "--profile", wall])
    assert code == 2 and len(err) == 1, err
    assert "--px-per-mm" in err[0] and "50000 px across" in err[0] and "use 2.4 px/mm or less" in err[0]
    assert sorted(os.listdir(tmp_path)) == ["wall.toml"]
